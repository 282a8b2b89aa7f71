"""The errors elec reports to a user: each message says what was wrong, where, and what
to do. Anything else that escapes is a bug."""


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and why."""


class DataError(RuntimeError):
    """Data that is missing, corrupt or unusable; the message names the file, row or
    column, and what to do."""
