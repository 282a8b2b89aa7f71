"""torchrun: two processes on this machine (gloo), against one process."""

import json
import os
import subprocess
import sys

import numpy as np
import yaml

from elec.config import RunConfig, load_config
from elec.data.synth import SynthConfig, synthesize
from elec.pipeline import run


def _torchrun(config: RunConfig, out, home, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "elec.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    return subprocess.run(
        [sys.executable, "-m", "elec.cli", "run", "-c", str(path), "--out", str(out),
         "--nproc", "2"], env={**os.environ, "ELEC_HOME": str(home)},
        capture_output=True, text=True, timeout=300, check=False)


def test_elec_runs_end_to_end_under_torchrun_with_the_lm_vectors_of_one_process(
        tiny_config, tmp_path, monkeypatch):
    cfg = tiny_config.model_copy(update={
        "methods": ["lm_only", "backbone", "gain", "vanilla", "vanilla_score"],
        "train": tiny_config.train.model_copy(update={"max_epochs": 2}),
        "adapter": tiny_config.adapter.model_copy(update={"max_epochs": 2})})
    done = _torchrun(cfg, tmp_path / "two", tmp_path / "home-two", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results:") == 1  # one rank reports
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home-one"))
    one = run(cfg.model_copy(update={"methods": ["lm_only"]}), tmp_path / "one")

    def cached(home):  # the vector cache's shards are named by the sha256 of their bytes
        return sorted(p.name for p in (home / "vectors").rglob("shard-*.safetensors"))

    # the ranks encoded one shard each (1000 texts a shard), as one process would
    assert len(cached(tmp_path / "home-two")) == 3
    assert cached(tmp_path / "home-two") == cached(tmp_path / "home-one")
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two.keys() == one.keys()
    for name, record in two["methods"].items():
        assert record.keys() >= {"valid", "test", "parameters", "what", "serves_llm"}
        assert 0.5 < record["test"]["auc"] <= 1.0, name
    assert two["methods"]["lm_only"].keys() == one["methods"]["lm_only"].keys()
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == [
        "backbone.safetensors", "gain.safetensors", "llm_vectors.safetensors",
        "lm_only.safetensors", "vanilla.safetensors", "vanilla_score.safetensors"]


def test_elec_runs_from_shards_under_torchrun_each_rank_encoding_its_share(tmp_path, tiny_lm,
                                                                           monkeypatch):
    synthesize(SynthConfig(rows=6000, shard_rows=1200), tmp_path / "d", progress=lambda _: None)
    overrides = ["train.max_epochs=1", "model.params.hidden=[16]", "train.batch_size=256",
                 "data.storage=shards", f"llm.name={tiny_lm}", "llm.precision=fp32",
                 "adapter.max_epochs=1", "adapter.hidden=[16]", "adapter.folds=2"]
    done = subprocess.run(
        [sys.executable, "-m", "elec.cli", "run", "-c", str(tmp_path / "d" / "elec.yaml"),
         "--out", str(tmp_path / "two"), "--nproc", "2",
         *[a for o in [*overrides, "methods=[backbone,gain,vanilla]"] for a in ("--set", o)]],
        env={**os.environ, "ELEC_HOME": str(tmp_path / "home-two")},
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results:") == 1  # one rank reports
    # the main rank encoded half the shards: training shards 1 and 3 and the valid one
    assert "LM vectors: 3,000 rows encoded here, 6 of 6 shards missing" in done.stderr
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == [
        "backbone.safetensors", "gain.safetensors", "lm_only.safetensors",
        "vanilla.safetensors"]
    two = json.loads((tmp_path / "two" / "results.json").read_text())["methods"]
    assert all(0.5 < record["test"]["auc"] <= 1.0 for record in two.values())
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home-one"))
    run(load_config(tmp_path / "d" / "elec.yaml", [*overrides, "methods=[lm_only]"]),
        tmp_path / "one")

    def hidden(home):  # every shard's pooled h, by the sha256 of the shard's texts
        return {p.name: np.load(p) for p in (home / "vectors").rglob("rows/*.npy")}

    one, two = hidden(tmp_path / "home-one"), hidden(tmp_path / "home-two")
    assert len(one) == 6 and one.keys() == two.keys()  # 4 training shards, valid, test
    assert all(np.array_equal(one[name], two[name]) for name in one)
