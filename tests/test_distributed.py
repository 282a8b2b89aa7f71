"""torchrun: two processes on this machine (gloo), against one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
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
    def torchrun():
        return subprocess.run(
            [sys.executable, "-m", "elec.cli", "run", "-c", str(tmp_path / "d" / "elec.yaml"),
             "--out", str(tmp_path / "two"), "--nproc", "2",
             *[a for o in [*overrides, "methods=[backbone,gain,vanilla]"] for a in ("--set", o)]],
            env={**os.environ, "ELEC_HOME": str(tmp_path / "home-two")},
            capture_output=True, text=True, timeout=300, check=False)

    done = torchrun()
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results:") == 1  # one rank reports
    # the main rank encoded half the shards: training shards 1 and 3 and the valid one
    assert "LM vectors: 3,000 rows encoded here, 6 of 6 shards missing" in done.stderr
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == [
        "backbone.safetensors", "gain.safetensors", "lm_only.safetensors",
        "vanilla.safetensors"]
    two = json.loads((tmp_path / "two" / "results.json").read_text())["methods"]
    assert all(0.5 < record["test"]["auc"] <= 1.0 for record in two.values())
    again = torchrun()  # resumes as one process does: every method is recorded
    assert again.returncode == 0 and "resuming the run" in again.stderr
    assert "epoch 1" not in again.stderr
    assert json.loads((tmp_path / "two" / "results.json").read_text())["methods"] == two
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home-one"))
    run(load_config(tmp_path / "d" / "elec.yaml", [*overrides, "methods=[lm_only]"]),
        tmp_path / "one")

    def hidden(home):  # every shard's pooled h, by the sha256 of the shard's texts
        return {p.name: np.load(p) for p in (home / "vectors").rglob("rows/*.npy")}

    one, two = hidden(tmp_path / "home-one"), hidden(tmp_path / "home-two")
    assert len(one) == 6 and one.keys() == two.keys()  # 4 training shards, valid, test
    assert all(np.array_equal(one[name], two[name]) for name in one)


def _predict_in_two_ranks(rank: int, store: str, shard_dir: str, out: str) -> None:
    import torch.distributed as dist

    from elec.data.batches import Columns
    from elec.data.shards import ShardedColumns
    from elec.train.trainer import predict_logits

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    columns = Columns(single=torch.arange(1001).view(-1, 1), multi=[],
                      label=torch.zeros(1001))
    identity = torch.nn.Identity()
    in_memory = predict_logits(lambda b: b.single[:, 0].float(), identity, columns, 64)
    on_disk = predict_logits(lambda b: b.single[:, 0].float(), identity,
                             ShardedColumns(Path(shard_dir)), 64)
    np.save(f"{out}-{rank}.npy", np.stack([in_memory, on_disk]))
    dist.destroy_process_group()


def test_under_torchrun_every_rank_predicts_its_share_and_gets_every_row_in_order(tmp_path):
    shard_dir = tmp_path / "shards" / "test"
    for i, (begin, end) in enumerate([(0, 400), (400, 700), (700, 1001)]):
        part = shard_dir / f"part-{i:05d}"
        part.mkdir(parents=True)
        np.save(part / "single.npy", np.arange(begin, end, dtype=np.int32).reshape(-1, 1))
        np.save(part / "label.npy", np.zeros(end - begin, dtype=np.float32))
    (tmp_path / "shards" / "shards.json").write_text(json.dumps(
        {"splits": {"test": [400, 300, 301]}}))
    torch.multiprocessing.spawn(_predict_in_two_ranks, nprocs=2, args=(
        str(tmp_path / "store"), str(shard_dir), str(tmp_path / "out")))
    for rank in range(2):
        got = np.load(tmp_path / f"out-{rank}.npy")
        assert np.array_equal(got, np.tile(np.arange(1001, dtype=np.float32), (2, 1)))
