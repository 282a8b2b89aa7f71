"""Training throughput: elec's DeepFM against FuxiCTR 2.3.10's on one synthetic table.

    pip install -e '.[fuxictr]'
    python benchmarks/throughput.py [--rows 2000000] [--repeats 3]

The table is `elec data synth` (13 numeric + 26 categorical fields, an item id); elec
fits its schema and encodes the splits into shards (`data.storage: shards`), and
FuxiCTR gets the very same encoded ids, written in each of its own input formats
(in-memory npz, npz blocks, Parquet through Ray Data): FuxiCTR's preprocessing is
not raced, only training. Both train DeepFM with the same embedding size (16), MLP
(400-400-400, dropout 0.2), Adam (lr 1e-3), gradient clipping (10), batch 4096 and
torch threads. elec runs twice, in float32 and with ``train.precision: bf16`` (the
step's matmuls in bfloat16), each network from the same initial weights. First every
FuxiCTR loader trains for a few steps and the fastest is kept; then whole training
epochs alternate (elec fp32, elec bf16, FuxiCTR, elec fp32, ...), each timed from the
first batch read to the last optimizer step, without validation. The figure is
training samples per second; the ratio is the median over the rounds. After the race
each network's validation AUC is measured (the same epochs each: a check that bf16
did not cost quality). Writes benchmarks/results/throughput.json (keep one file per machine,
throughput_<machine>.json: report.py shows every throughput*.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from fuxictr_compare import LABEL, Loader, feature_map, fuxictr_models

from elec import (
    Columns,
    PlainNetwork,
    SynthConfig,
    Trainer,
    environment,
    evaluate,
    load_config,
    predict_logits,
    prepare_shards,
    sigmoid,
    synthesize,
)

RESULTS = Path(__file__).parent / "results"
PARAMS = {"hidden": [400, 400, 400], "dropout": 0.2, "batch_norm": False}


def table_and_shards(rows: int, work: Path):
    data = work / f"synth-{rows}"
    if not (data / "synth.json").is_file():
        synthesize(SynthConfig(rows=rows), data, progress=lambda m: None)
    cfg = load_config(data / "elec.yaml", ["data.storage=shards", "train.batch_size=4096",
                                           "model.params.dropout=0.2",
                                           "model.params.batch_norm=false"])
    shards = work / f"shards-{rows}"
    shutil.rmtree(shards, ignore_errors=True)  # timed from the files, not reused
    start = time.perf_counter()
    prepared = prepare_shards(cfg, shards, torch.device("cpu"), lambda m: None, print)
    return cfg, prepared, time.perf_counter() - start


def fuxictr_inputs(prepared, out: Path) -> dict[str, Path]:
    """Our encoded training shards in FuxiCTR's input formats, one file per shard."""
    names = prepared.schema.names
    paths = {"npz": out / "blocks", "parquet": out / "parquet"}  # (a name ending "npz"
    # is taken by FuxiCTR for one file)
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(prepared.columns["train"].parts):
        single = np.load(part / "single.npy").astype(np.int64)
        columns = {name: single[:, k] for k, name in enumerate(names)}
        columns[LABEL] = np.load(part / "label.npy")
        np.savez(paths["npz"] / f"part-{i:05d}.npz", **columns)
        pq.write_table(pa.table(columns), paths["parquet"] / f"part-{i:05d}.parquet")
    return paths


def fuxictr_loaders(fmap, paths: dict[str, Path], batch_size: int) -> dict:
    from fuxictr.pytorch.dataloaders.npz_block_dataloader import NpzBlockDataLoader
    from fuxictr.pytorch.dataloaders.npz_dataloader import NpzDataLoader
    from fuxictr.pytorch.dataloaders.parquet_dataloader import ParquetDataLoader

    whole = paths["npz"].parent / "train.npz"
    if not whole.is_file():
        parts = [np.load(p) for p in sorted(paths["npz"].glob("*.npz"))]
        np.savez(whole, **{k: np.concatenate([p[k] for p in parts]) for k in parts[0].files})
    common = {"batch_size": batch_size, "shuffle": True}
    return {
        "npz (in memory)": lambda: NpzDataLoader(fmap, str(whole), num_workers=1, **common),
        "npz blocks": lambda: NpzBlockDataLoader(fmap, str(paths["npz"]), num_workers=1,
                                                 **common),
        "parquet (Ray Data)": lambda: ParquetDataLoader(fmap, str(paths["parquet"]),
                                                        num_workers=1, **common),
    }


def fuxictr_model(cfg, prepared, tmp: str):
    fmap, _ = feature_map(prepared.schema, tmp)
    fmap.default_emb_dim = cfg.model.embedding_dim
    params = {**PARAMS, "embedding_dim": cfg.model.embedding_dim, "lr": cfg.train.lr}
    model = fuxictr_models()["deepfm"](fmap, params, gpu=-1, verbose=0, model_root=tmp,
                                       metrics=["AUC"])
    model._max_gradient_norm = cfg.train.grad_clip
    return fmap, model


def fuxictr_epoch(model, loader, steps: int | None = None) -> tuple[int, float]:
    """FuxiCTR's own training step over ``loader`` (its train_epoch without evaluation)."""
    model.train()
    seen, start = 0, time.perf_counter()
    for i, batch in enumerate(loader):
        if steps is not None and i == steps:
            break
        model.train_step(batch).item()
        seen += len(batch[LABEL])
    return seen, time.perf_counter() - start


def fuxictr_valid_auc(model, prepared) -> float:
    valid = Columns.concat([c for _, c in prepared.columns["valid"].shards()])
    valid = Columns(single=valid.single.long(), multi=[m.long() for m in valid.multi],
                    label=valid.label)
    logs = model.evaluate(Loader(valid, prepared.schema.names, 8192), metrics=["AUC"])
    return float(logs["AUC"])


class Elec:
    """One elec network in the race, with its optimizer and batch order (the optimizer is
    the one ``Trainer.fit`` makes)."""

    def __init__(self, cfg, prepared, precision: str):
        self.train = cfg.train.model_copy(update={"precision": precision})
        self.rows = prepared.columns
        torch.manual_seed(0)
        self.network = PlainNetwork(prepared.schema, cfg.model)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=cfg.train.lr,
                                          fused=True)
        self.generator = torch.Generator().manual_seed(0)

    def epoch(self) -> tuple[int, float]:
        """elec's own training epoch (``Trainer.epoch``: what ``elec run`` runs between
        validations)."""
        trainer = Trainer(self.train, log=lambda m: None)
        start = time.perf_counter()
        _, seen, _ = trainer.epoch(self.network, self.network.loss, self.rows["train"],
                                   self.optimizer, self.generator)
        return seen, time.perf_counter() - start

    def valid_auc(self) -> float:
        valid = self.rows["valid"]
        logits = predict_logits(self.network.logit, self.network, valid)
        return evaluate(valid.label.numpy(), sigmoid(logits))["auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probe-steps", type=int, default=20)
    parser.add_argument("--work", default="runs/throughput")
    parser.add_argument("--results", default=str(RESULTS / "throughput.json"))
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    work = Path(args.work)
    cfg, prepared, prep_seconds = table_and_shards(args.rows, work)
    train_rows = len(prepared.columns["train"])
    print(f"elec preprocessing: {prep_seconds:.1f} s for {args.rows:,} rows", flush=True)
    paths = fuxictr_inputs(prepared, work / f"fuxictr-{args.rows}")
    elec = {"elec": Elec(cfg, prepared, "fp32"), "elec_bf16": Elec(cfg, prepared, "bf16")}
    with tempfile.TemporaryDirectory() as tmp:
        fmap, model = fuxictr_model(cfg, prepared, tmp)
        loaders = fuxictr_loaders(fmap, paths, cfg.train.batch_size)
        probes = {}
        for name, make in loaders.items():
            try:
                seen, seconds = fuxictr_epoch(model, make(), args.probe_steps)
            except Exception as error:  # a loader whose dependencies are missing here
                probes[name] = f"failed: {type(error).__name__}: {error}"
                print(f"fuxictr probe, {name}: {probes[name]}", flush=True)
                continue
            probes[name] = seen / seconds
            print(f"fuxictr probe, {name}: {probes[name]:,.0f} samples/s", flush=True)
        fastest = max((k for k, v in probes.items() if isinstance(v, float)), key=probes.get)
        torch.manual_seed(0)  # the race's model starts fresh: no probe steps in its weights
        _, model = fuxictr_model(cfg, prepared, tmp)
        runs = []
        for repeat in range(args.repeats):
            run = {"repeat": repeat}
            for name, epoch in [*((k, v.epoch) for k, v in elec.items()),
                                ("fuxictr", lambda: fuxictr_epoch(model, loaders[fastest]()))]:
                seen, seconds = epoch()
                run[name] = {"samples": seen, "seconds": round(seconds, 2),
                             "samples_per_s": seen / seconds}
            for name in elec:
                run[f"ratio{name[4:]}"] = (run[name]["samples_per_s"]
                                           / run["fuxictr"]["samples_per_s"])
            runs.append(run)
            print(f"round {repeat}: " + ", ".join(
                f"{k} {run[k]['samples_per_s']:,.0f}/s" for k in [*elec, "fuxictr"])
                + f" (fp32 {run['ratio']:.2f}x, bf16 {run['ratio_bf16']:.2f}x)", flush=True)
        valid_auc = {name: e.valid_auc() for name, e in elec.items()}
        valid_auc["fuxictr"] = fuxictr_valid_auc(model, prepared)
        print(f"validation AUC after {args.repeats} epochs: {valid_auc}", flush=True)
    result = {
        "what": "training samples/s of one epoch without validation, DeepFM, batch "
                f"{cfg.train.batch_size}, {torch.get_num_threads()} torch threads",
        "rows": args.rows, "train_rows": train_rows,
        "elec_preprocessing_seconds": round(prep_seconds, 1),
        "fuxictr_loader_probe_samples_per_s": probes, "fuxictr_loader": fastest,
        "runs": runs, "median_ratio": statistics.median(r["ratio"] for r in runs),
        "median_ratio_bf16": statistics.median(r["ratio_bf16"] for r in runs),
        "valid_auc_after_race": valid_auc,
        "parameters": {"elec": sum(p.numel() for p in elec["elec"].network.parameters()),
                       "fuxictr": sum(p.numel() for p in model.parameters())},
        "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    print(f"median elec / fuxictr: fp32 {result['median_ratio']:.2f}x, bf16 "
          f"{result['median_ratio_bf16']:.2f}x -> {args.results}")


if __name__ == "__main__":
    main()
