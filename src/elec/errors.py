"""The errors elec reports to a user: each message says what was wrong, where, and what
to do. Anything else that escapes is a bug."""


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and why."""


class DataError(RuntimeError):
    """Data that is missing, corrupt or unusable; the message names the file, row or
    column, and what to do."""


class ModelNotFound(RuntimeError):
    """A language model that is neither a local directory, nor bundled, nor in the
    Hugging Face cache, while the hub cannot be reached."""


def clip(text: str, limit: int = 60) -> str:
    """At most ``limit`` characters of ``text``, saying how long it was: never megabytes
    of a request in a message."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def shown(value: object, limit: int = 60) -> str:
    """A value as an error message quotes it."""
    try:
        return clip(repr(value), limit)
    except ValueError:  # an integer of more digits than Python will print
        return "<a very long integer>"
