"""LM encoding throughput by precision (fp32, bf16 autocast, int8 dynamic quantisation)
on the MovieLens-100K texts, and the lm_only test AUC each precision leads to.

    python benchmarks/encoding.py [--config configs/ml100k.yaml] [--rows 4096] [--no-auc]

Throughput: the texts are sorted by length and cut into shards as `elec run` does;
the three encoders live in one process and take turns on every shard (random order
per shard, after a warm-up), with torch's threads fixed.
AUC: one `elec run` with methods [lm_only] per precision (full data; slow for fp32).
Writes benchmarks/results/encoding.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from elec import Reporter, load_config, run
from elec.data.sources import load_table, subsample
from elec.environment import environment
from elec.llm.encoder import TextEncoder
from elec.text.render import render_table

RESULTS = Path(__file__).parent / "results"
PRECISIONS = ("fp32", "bf16", "int8")


def throughput(cfg, args) -> dict:
    """Texts per second and closeness to fp32 for every precision, interleaved."""
    table = subsample(load_table(cfg.data), cfg.data.model_copy(update={"max_rows": args.rows}))
    texts = render_table(table, cfg.fields, cfg.text)
    # as `elec run` encodes: texts sorted by length, cut into shards of --chunk texts
    texts = sorted(texts, key=len)
    chunks = [texts[i:i + args.chunk] for i in range(0, len(texts), args.chunk)]
    encoders = {p: TextEncoder(cfg.llm.model_copy(update={"precision": p}), device="cpu")
                for p in PRECISIONS}
    for encoder in encoders.values():
        encoder.encode(chunks[0][:256])  # warm-up
    # the precisions take turns on every chunk, in a fresh random order each time, so
    # drift in the machine's speed falls on all of them alike
    order = np.random.default_rng(0)
    seconds = dict.fromkeys(PRECISIONS, 0.0)
    vectors = {p: [] for p in PRECISIONS}
    for chunk in chunks:
        for precision in order.permutation(PRECISIONS):
            begin = time.perf_counter()
            vectors[precision].append(encoders[precision].encode(chunk))
            seconds[precision] += time.perf_counter() - begin
    reference = np.concatenate(vectors["fp32"])
    results: dict = {}
    for precision in PRECISIONS:
        ours = np.concatenate(vectors[precision])
        cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(
            reference, axis=1)
        results[precision] = {
            "samples_per_second": len(texts) / seconds[precision],
            "speedup_vs_fp32": seconds["fp32"] / seconds[precision],
            "mean_cosine_to_fp32": float(cosine.mean()),
            "min_cosine_to_fp32": float(cosine.min()), "texts": len(texts)}
        print(f"{precision}: {len(texts) / seconds[precision]:.0f} texts/s "
              f"({seconds['fp32'] / seconds[precision]:.2f}x fp32), cosine to fp32 "
              f"mean {cosine.mean():.4f} min {cosine.min():.4f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ml100k.yaml")
    parser.add_argument("--rows", type=int, default=16384, help="texts timed per precision")
    parser.add_argument("--chunk", type=int, default=4096,
                        help="texts per encode call (elec run: llm.shard_size)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--auc", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--throughput", action=argparse.BooleanOptionalAction, default=True,
                        help="--no-throughput keeps the figures already in --out")
    parser.add_argument("--out", default=str(RESULTS / "encoding.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    if args.throughput:
        results: dict = {"throughput": throughput(cfg, args), "lm_only": {},
                         "config": {"llm": cfg.llm.model_dump(mode="json"), "rows": args.rows,
                                    "chunk": args.chunk, "threads": args.threads},
                         "environment": environment()}
    else:
        results = {**json.loads(Path(args.out).read_text()), "lm_only": {}}
    save = lambda: Path(args.out).write_text(json.dumps(results, indent=2))  # noqa: E731
    save()
    if args.auc:
        for precision in PRECISIONS:
            run_cfg = cfg.model_copy(update={
                "methods": ["lm_only"],
                "llm": cfg.llm.model_copy(update={"precision": precision})})
            out = Path("runs") / f"encoding-{precision}"
            record = run(run_cfg, out, Reporter(out / "log.txt"))["methods"]["lm_only"]
            results["lm_only"][precision] = record["test"]
            print(f"{precision}: lm_only test AUC {record['test']['auc']:.4f}", flush=True)
            save()  # after every precision: an interrupted benchmark keeps what it measured


if __name__ == "__main__":
    main()
