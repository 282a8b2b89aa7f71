"""torchrun: two processes on this machine (gloo), against one process."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from elec.config import RunConfig, load_config
from elec.data.sharded import ShardedColumns
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
    assert two.keys() == one.keys() | {"served"}  # the command adds its verdict
    assert two["served"]["method"] in ("backbone", "vanilla", "vanilla_score")
    assert two["lm_texts"] == one["lm_texts"]  # counted over the ranks: every text once
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
    # every distinct text once, about half of them by each rank
    said = re.search(r"LM vectors: ([\d,]+) distinct texts encoded \(([\d,]+) by this "
                     r"process\) for the 6,000 rows of 6 of 6 shards missing", done.stderr)
    distinct, mine = (int(n.replace(",", "")) for n in said.groups())
    assert distinct == len({t for s in ("train", "valid", "test") for c in
                            [ShardedColumns(tmp_path / "two" / "shards" / s)]
                            for i in range(len(c.stored)) for t in c.texts(i)})
    assert 0.3 * distinct < mine < 0.7 * distinct
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
    from elec.data.sharded import ShardedColumns
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


def _write_shards(directory: Path, sizes: list[int]) -> None:
    """One split of shards whose only field is each row's number."""
    begin = 0
    for i, size in enumerate(sizes):
        part = directory / "train" / f"part-{i:05d}"
        part.mkdir(parents=True)
        np.save(part / "single.npy", np.arange(begin, begin + size, dtype=np.int32)[:, None])
        np.save(part / "label.npy", np.zeros(size, dtype=np.float32))
        begin += size
    (directory / "shards.json").write_text(json.dumps({"splits": {"train": sizes}}))


def _epoch_rows(rows, world: int, rank: int) -> list[tuple[list[int], int]]:
    """The row numbers of each step's batch and the step's size, as ``rank`` of ``world``."""
    from elec.data.batches import batches

    generator = torch.Generator().manual_seed(7)
    return [(batch.single[:, 0].tolist(), batch.step_rows)
            for batch in batches(rows, 64, generator, rank, world)]


def _rows_in_two_ranks(rank: int, store: str, shards: str, out: str) -> None:
    import torch.distributed as dist

    from elec.data.batches import Columns
    from elec.data.sharded import ShardedColumns

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    seen = {"memory": _epoch_rows(Columns(single=torch.arange(1025).view(-1, 1), multi=[],
                                          label=torch.zeros(1025)), 2, rank)}
    for layout in sorted(os.listdir(shards)):
        seen[layout] = _epoch_rows(ShardedColumns(Path(shards) / layout / "train",
                                                  buffer_shards=2), 2, rank)
        seen[f"{layout}, 2 workers"] = _epoch_rows(ShardedColumns(
            Path(shards) / layout / "train", buffer_shards=2, workers=2), 2, rank)
    Path(f"{out}-{rank}.json").write_text(json.dumps(seen))
    dist.destroy_process_group()


def test_under_torchrun_the_ranks_share_every_step_of_one_process_and_see_every_row_once(
        tmp_path):
    # 1,025 rows in steps of 64: the last step has one row, and one rank none of it
    from elec.data.batches import Columns
    from elec.data.sharded import ShardedColumns

    layouts = {"uneven": [250, 250, 250, 50, 225], "fewer shards than ranks": [1025]}
    for name, sizes in layouts.items():
        _write_shards(tmp_path / "shards" / name, sizes)
    torch.multiprocessing.spawn(_rows_in_two_ranks, nprocs=2, args=(
        str(tmp_path / "store"), str(tmp_path / "shards"), str(tmp_path / "out")))
    ranks = [json.loads((tmp_path / f"out-{r}.json").read_text()) for r in range(2)]
    one = {"memory": _epoch_rows(Columns(single=torch.arange(1025).view(-1, 1), multi=[],
                                         label=torch.zeros(1025)), 1, 0)}
    for name in layouts:
        rows = ShardedColumns(tmp_path / "shards" / name / "train", buffer_shards=2)
        one[name] = _epoch_rows(rows, 1, 0)
        one[f"{name}, 2 workers"] = _epoch_rows(ShardedColumns(
            rows.directory, buffer_shards=2, workers=2), 1, 0)
    assert set(ranks[0]) == set(one) == set(ranks[1])
    for name, steps in one.items():
        assert sorted(r for batch, _ in steps for r in batch) == list(range(1025)), name
        # the same steps as one process, each split between the ranks, no row twice
        assert len(ranks[0][name]) == len(ranks[1][name]) == len(steps), name
        for (batch, size), (first, size0), (second, size1) in zip(
                steps, ranks[0][name], ranks[1][name], strict=True):
            assert first + second == batch and size0 == size1 == size == len(batch), name
            assert abs(len(first) - len(second)) <= 1


class _Tiny(torch.nn.Module):
    """Two id fields, an MLP (with or without batch norm), no dropout."""

    def __init__(self, batch_norm: bool):
        from elec.models.layers import MultiLayerPerceptron

        super().__init__()
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(50, 4)
        self.mlp = MultiLayerPerceptron(8, [16, 8], 0.0, batch_norm, output_layer=True)

    def logit(self, batch):
        return self.mlp(self.embedding(batch.single).flatten(1)).squeeze(1)

    def loss(self, batch):
        return torch.nn.functional.binary_cross_entropy_with_logits(self.logit(batch),
                                                                    batch.label)


def _tiny_fit(batch_norm: bool, rows: int) -> tuple[dict, list[dict]]:
    from elec.config import TrainConfig
    from elec.data.batches import Columns
    from elec.train.trainer import Trainer

    ids = torch.arange(rows)
    noise = torch.rand(rows, generator=torch.Generator().manual_seed(1)) < 0.2
    columns = Columns(single=torch.stack([ids % 50, (ids * 7 + 3) % 50], 1), multi=[],
                      label=((ids % 50 < 20) ^ noise).float())
    model = _Tiny(batch_norm)
    # validation checked within the epochs too: every rank at the same steps
    trainer = Trainer(TrainConfig(batch_size=100, max_epochs=2, patience=5, checks_per_epoch=3),
                      log=lambda _: None)
    history = trainer.fit("tiny", model, model.loss, model.logit, columns, columns,
                          torch.Generator().manual_seed(3))
    return model.state_dict(), history.epochs


def _norm_step(norm: torch.nn.BatchNorm1d, rows: slice) -> dict[str, torch.Tensor]:
    """A batch norm's forward and backward on ``rows`` of a fixed batch of 7."""
    generator = torch.Generator().manual_seed(5)
    x, upstream = torch.randn(7, 3, generator=generator), torch.randn(7, 3, generator=generator)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(3, generator=generator))
    x = x[rows].requires_grad_()
    out = norm(x)
    (out * upstream[rows]).sum().backward()
    return {"out": out.detach(), "x_grad": x.grad, "weight_grad": norm.weight.grad,
            "running_mean": norm.running_mean, "running_var": norm.running_var}


def _fit_in_two_ranks(rank: int, store: str, out: str) -> None:
    import torch.distributed as dist

    from elec.train.distributed import SharedBatchNorm

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.save(_norm_step(SharedBatchNorm(3), slice(0, 3) if rank == 0 else slice(3, 7)),
               f"{out}-norm-{rank}.pt")
    for batch_norm, rows in ((True, 1002), (False, 1001)):
        state, epochs = _tiny_fit(batch_norm, rows)
        torch.save({"state": state, "epochs": epochs}, f"{out}-{batch_norm}-{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_train_the_weights_one_process_trains(tmp_path):
    # with batch norm: the last step of 1,002 rows has 2 (one a rank), normalised over
    # both; without: the last step of 1,001 rows has 1, and one rank none of it
    torch.multiprocessing.spawn(_fit_in_two_ranks, nprocs=2, args=(
        str(tmp_path / "store"), str(tmp_path / "out")))
    # a batch norm shared by ranks holding 3 and 4 of 7 rows: one process's over all 7
    one = _norm_step(torch.nn.BatchNorm1d(3), slice(0, 7))
    two = [torch.load(tmp_path / f"out-norm-{rank}.pt") for rank in range(2)]
    for name in ("out", "x_grad"):
        assert torch.allclose(torch.cat([two[0][name], two[1][name]]), one[name], atol=1e-6)
    assert torch.allclose(two[0]["weight_grad"] + two[1]["weight_grad"], one["weight_grad"],
                          atol=1e-6)
    for name in ("running_mean", "running_var"):
        assert torch.equal(two[0][name], two[1][name])
        assert torch.allclose(two[0][name], one[name], atol=1e-6)

    for batch_norm, rows in ((True, 1002), (False, 1001)):
        state, epochs = _tiny_fit(batch_norm, rows)
        # 11 steps an epoch, checked after steps 4 and 7 and at the end
        assert [e["train_rows"] for e in epochs] == [400, 700, rows] * 2
        ranks = [torch.load(tmp_path / f"out-{batch_norm}-{rank}.pt") for rank in range(2)]
        for name, value in state.items():
            assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name])
            if batch_norm and name.endswith(("0.bias", "4.bias", "running_mean")):
                continue  # a bias before a norm has no gradient but float noise, which
                # Adam turns into steps of the learning rate (and the norm's mean follows)
            assert torch.allclose(ranks[0]["state"][name].float(), value.float(),
                                  rtol=1e-4, atol=1e-5), (batch_norm, name)
        for mine, theirs in zip(epochs, ranks[0]["epochs"], strict=True):
            assert theirs["train_rows"] == mine["train_rows"]
            assert abs(mine["train_loss"] - theirs["train_loss"]) < 1e-5
            assert abs(mine["valid_auc"] - theirs["valid_auc"]) < (1e-3 if batch_norm else 1e-6)


def test_a_rows_cross_fitting_fold_is_the_same_in_memory_and_on_shards_of_any_size():
    from types import SimpleNamespace

    from elec.llm.stage1 import row_folds, shard_folds

    cfg = RunConfig.model_validate({"seed": 3, "adapter": {"folds": 5}})
    whole = row_folds(cfg, "train", 0, 10_000)
    for sizes in ([10_000], [2_500, 2_500, 5_000], [1, 9_998, 1]):
        columns = SimpleNamespace(stored=sizes)
        assert torch.equal(torch.cat([shard_folds(cfg, columns, "train", i)
                                      for i in range(len(sizes))]), whole)
    counts = torch.bincount(whole, minlength=5)
    assert counts.min() > 1_850 and counts.max() < 2_150  # five folds of about 2,000
    assert not torch.equal(row_folds(cfg, "valid", 0, 10_000), whole)
    other = cfg.model_copy(update={"seed": 4})
    assert not torch.equal(row_folds(other, "train", 0, 10_000), whole)
