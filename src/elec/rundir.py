"""A run directory: everything one ``elec run`` wrote, and how a rerun resumes from it.

    RUN/
      config.yaml                the resolved configuration: a rerun must match it
      data.json                  digest of the data the run began with
      schema.json                the fitted encoders
      stages/<method>.json       a finished method: its record and the sha256 of its
                                 checkpoints, verified before they are trusted again
      checkpoints/<name>.safetensors
      log.txt, results.json, curves.png

A method is finished when its stage file exists and every checkpoint it names still
has its checksum; anything damaged is named (in the log; ``elec run`` then trains it
again, ``elec export`` refuses it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml
from safetensors.torch import load_file, save_file
from torch import Tensor

from elec.config import RunConfig
from elec.data.schema import FeatureSchema
from elec.data.store import atomic_dir, read_json, sha256_file, write_atomic, write_json
from elec.errors import ConfigError
from elec.train import distributed

START_OVER = "use another --out, or delete it to start over"


def _but_methods(cfg: dict | None) -> dict | None:
    return None if cfg is None else {k: v for k, v in cfg.items() if k != "methods"}


def _recorded(path: Path) -> dict | None:
    """The configuration a run directory recorded, resolved as this version resolves it:
    an option added since then reads as its default, as in the run that recorded it."""
    if not path.is_file():
        return None
    recorded = yaml.safe_load(path.read_text())
    try:
        return RunConfig.model_validate(recorded).to_dict()
    except ValueError:  # an option this version no longer has: another configuration
        return recorded


class RunDir:
    def __init__(self, path: Path, log: Callable[[str], None] = print,
                 note: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.log = log
        self.note = note or log  # for the log file only (the resolved configuration)

    def begin(self, cfg: RunConfig) -> None:
        """Record the configuration, or check that a rerun uses the same one. A run that
        finished no stage (it failed early) may be started over with another."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} is a file, not a directory; choose a "
                              f"directory for the run")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"--out {self.path} cannot be created ({error.strerror}); "
                              f"choose a directory you can write to") from None
        resolved = cfg.to_dict()
        path = self.path / "config.yaml"
        recorded = _recorded(path)
        if recorded == resolved:
            self.log(f"resuming the run in {self.path}")
            return
        if _but_methods(recorded) == _but_methods(resolved):
            # a method trains the same whichever others run: another list adds or reports
            # methods of the same run
            self.log(f"resuming the run in {self.path} with methods {', '.join(cfg.methods)}")
            write_atomic(path, yaml.safe_dump(resolved, sort_keys=False).encode())
            return
        if path.is_file() and self.any_finished():
            raise ConfigError(f"{self.path} holds a run with a different configuration; "
                              f"{START_OVER}")
        text = yaml.safe_dump(resolved, sort_keys=False)
        write_atomic(path, text.encode())
        self.log(f"configuration: {path}")
        self.note("resolved configuration:\n" + text)

    def stage_path(self, name: str) -> Path:
        return self.path / "stages" / f"{name}.json"

    def checkpoint(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.safetensors"

    def any_finished(self) -> bool:
        return any((self.path / "stages").glob("*.json"))

    def adopt(self, schema: FeatureSchema, data_digest: str) -> None:
        """Record the fitted encoders and the data's digest; a run resumes only with the
        ones it began with."""
        if self.any_finished():
            saved = self.path / "schema.json"
            if saved.is_file() and read_json(saved) != schema.to_dict():
                raise ConfigError(f"{self.path} holds a run whose feature encoders differ "
                                  f"from this version's; {START_OVER}")
            data = self.path / "data.json"
            if data.is_file() and read_json(data)["digest"] != data_digest:
                raise ConfigError(f"the data of the run in {self.path} changed since it "
                                  f"began; {START_OVER}")
        schema.save(self.path / "schema.json")
        write_json(self.path / "data.json", {"digest": data_digest})

    def finished(self, name: str) -> dict | None:
        """The record of a finished method, or None (not run, or damaged: then said why)."""
        path = self.stage_path(name)
        if not path.is_file():
            return None
        try:
            stage = read_json(path)
            record, checksums = stage["record"], stage["sha256"]
        except (ValueError, KeyError, TypeError):
            self.log(f"{name}: {path} is damaged or from an older elec")
            return None
        for checkpoint, digest in checksums.items():
            file = self.checkpoint(checkpoint)
            if not file.is_file() or sha256_file(file) != digest:
                self.log(f"{name}: {file} is missing or does not match its checksum")
                return None
        return record

    def save(self, name: str, record: dict, checkpoints: dict[str, dict[str, Tensor]]) -> None:
        """Write a method's checkpoints, then its stage record with their checksums."""
        for checkpoint, tensors in checkpoints.items():
            path = self.checkpoint(checkpoint)
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_suffix(".partial")
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                      str(staging))
            staging.replace(path)
        write_json(self.stage_path(name), {
            "record": record,
            "sha256": {c: sha256_file(self.checkpoint(c)) for c in checkpoints}})

    def load(self, checkpoint: str, device: str = "cpu") -> dict[str, Tensor]:
        return load_file(str(self.checkpoint(checkpoint)), device=device)

    def files(self, name: str) -> list[Path]:
        """A finished method's stage record and checkpoints, relative to the directory."""
        checkpoints = read_json(self.stage_path(name))["sha256"]
        return [self.stage_path(name).relative_to(self.path),
                *(self.checkpoint(c).relative_to(self.path) for c in checkpoints)]

    def copy_from(self, other: RunDir, name: str) -> None:
        """Take a finished method from another run directory (it is verified when read)."""
        for relative in other.files(name):
            (self.path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(other.path / relative, self.path / relative)

    def take_shared(self, shared: Path, name: str) -> dict | None:
        """A finished method copied from a shared directory (the stage-1 cache), if there;
        under torchrun the main rank copies it and the others wait."""
        if not (shared / "stages" / f"{name}.json").is_file():
            return None
        self.log(f"stage 1: reusing the trained adapter and LM vectors in {shared}")
        if distributed.is_main():
            self.copy_from(RunDir(shared, self.log), name)
        distributed.barrier()
        return self.finished(name)

    def share(self, shared: Path, name: str) -> None:
        """Publish a finished method to a shared directory, replacing it whole."""
        if distributed.is_main():
            with atomic_dir(shared, replaces=lambda _: True) as staging:
                RunDir(staging, self.log).copy_from(self, name)
