"""The machine a run is on: its device, a description for result files, and seeding."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import torch

from elec import __version__
from elec.errors import ConfigError


def resolve_device(requested: str) -> torch.device:
    """``auto`` -> cuda when present, else cpu; an unavailable cuda is a ConfigError."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={requested!r} but no CUDA device is available")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed initialisation and dropout, and return the generator for batch order, so a
    network's result depends on the seed alone, not on what ran before it."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.Generator().manual_seed(seed)


def environment() -> dict:
    """Versions and hardware, written into every result file."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"elec": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
