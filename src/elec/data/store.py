"""Where elec keeps downloads and caches, and how it writes them safely."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def elec_home() -> Path:
    """Root of elec's caches: ``$ELEC_HOME``, else ``~/.cache/elec``."""
    return Path(os.environ.get("ELEC_HOME") or Path.home() / ".cache" / "elec")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_dir(target: Path, replaces: Callable[[Path], bool] = lambda _: False
               ) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block succeeds.

    A crash or error inside the block leaves ``target`` as it was and removes the
    half-written temporary directory, so no reader ever sees a partial result; the old
    ``target`` is deleted only after the new one has taken its name. An
    existing ``target`` is replaced only if it is an empty directory or ``replaces``
    says it is what elec wrote there before; anything else raises ``FileExistsError``
    before the block runs, so elec never deletes what it did not write.
    """
    if target.exists() and not (holds_only(target, ()) or replaces(target)):
        raise FileExistsError(f"{target} exists and is not something elec wrote there")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        _swap(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _swap(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``; the old ``target`` is set aside by a rename, and
    deleted only once the new one is in place (put back if that fails)."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = staging.with_name(staging.name + ".old")
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def holds_only(path: Path, names: Iterable[str]) -> bool:
    """True if ``path`` is a directory (not a link) of plain files, each named in ``names``."""
    if not path.is_dir() or path.is_symlink():
        return False
    allowed = set(names)
    return all(entry.is_file() and not entry.is_symlink() and entry.name in allowed
               for entry in path.iterdir())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(staging, 0o644)  # mkstemp makes it private; these are ordinary files
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (no bytes copied), or a copy where the file
    system has no links. Only for files that elec never writes in place."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
