"""LM encoding throughput by runtime and precision (torch fp32, bf16 autocast, int8
dynamic quantisation; ONNX Runtime fused fp32 and int8) on the MovieLens-100K texts,
the lm_only test AUC each leads to, and the machine's matmul limit beside them.

    python benchmarks/encoding.py [--config configs/ml100k.yaml] [--rows 4096] [--no-auc]
        [--variants torch-fp32,onnx-int8]

Throughput: the texts are sorted by length and cut into shards as `elec run` does;
the encoders live in one process and take turns on every shard (random order per
shard, after a warm-up), with torch's (and ONNX Runtime's) threads fixed.
Limit: the LM's matmul FLOPs per text (its weight matrices, 2 per weight per token,
plus attention) over this machine's measured fp32 and bf16 GEMM rate at the LM's
shapes: the texts/s no fp32 (bf16) encoder can pass here.
AUC: one `elec run` with methods [lm_only] per variant and seed (full data; slow for
fp32; `--seeds N` trains seeds 0..N-1 on the same cached vectors, each variant paired
with torch-fp32 on its seed: the adapter's own seed noise is of the order of int8's
effect; `--threads` threads for training too, one setting for every pair).
Writes benchmarks/results/encoding.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from elec import (
    Reporter,
    TextEncoder,
    environment,
    load_config,
    load_table,
    render_table,
    run,
    subsample,
)

RESULTS = Path(__file__).parent / "results"
# variant -> llm settings; "today" is llm.precision auto, runtime torch, resolved here
VARIANTS = {"torch-fp32": {"precision": "fp32"}, "torch-bf16": {"precision": "bf16"},
            "torch-int8": {"precision": "int8"},
            "onnx-fp32": {"precision": "fp32", "runtime": "onnx"},
            "onnx-int8": {"precision": "int8", "runtime": "onnx"}}


def gemm_rate(dtype: torch.dtype, rows: int, dim: int, inner: int) -> float:
    """FLOP/s of one (rows x dim) @ (dim x inner) matmul at ``dtype``, best of 5."""
    a, b = torch.randn(rows, dim, dtype=dtype), torch.randn(dim, inner, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        begin = time.perf_counter()
        for _ in range(5):
            a @ b
        best = min(best, (time.perf_counter() - begin) / 5)
    return 2 * rows * dim * inner / best


def matmul_limit(encoder: TextEncoder, tokens: float) -> dict:
    """The texts/s an encoder doing only the LM's matmuls at this machine's GEMM rate
    would reach: FLOPs per text of mean length ``tokens`` over the measured rate."""
    model = encoder.model
    weights = sum(p.numel() for n, p in model.named_parameters()
                  if p.dim() == 2 and "embeddings" not in n)
    config = model.config
    attention = 2 * 2 * tokens * config.hidden_size * config.num_hidden_layers  # QK^T, AV
    per_text = (2 * weights + attention) * tokens
    shape = (int(128 * tokens), config.hidden_size, config.intermediate_size)
    out = {"flops_per_text": per_text, "mean_tokens": tokens, "gemm_shape": shape}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        rate = gemm_rate(dtype, *shape)
        out[name] = {"gflops": rate / 1e9, "texts_per_second": rate / per_text}
        print(f"matmul limit {name}: {rate / 1e9:.0f} GFLOP/s, "
              f"{rate / per_text:.0f} texts/s", flush=True)
    return out


def throughput(cfg, args, variants: list[str]) -> dict:
    """Texts per second and closeness to torch fp32 for every variant, interleaved."""
    table = subsample(load_table(cfg.data), cfg.data.model_copy(update={"max_rows": args.rows}))
    texts = render_table(table, cfg.fields, cfg.text)
    # as `elec run` encodes: texts sorted by length, cut into shards of --chunk texts
    texts = sorted(texts, key=len)
    chunks = [texts[i:i + args.chunk] for i in range(0, len(texts), args.chunk)]
    encoders = {v: TextEncoder(cfg.llm.model_copy(update=VARIANTS[v]), device="cpu")
                for v in dict.fromkeys(["torch-fp32", *variants])}  # the reference once
    for encoder in encoders.values():
        encoder.encode(chunks[0][:256])  # warm-up
    # the variants take turns on every chunk, in a fresh random order each time, so
    # drift in the machine's speed falls on all of them alike
    order = np.random.default_rng(0)
    seconds = dict.fromkeys(encoders, 0.0)
    vectors: dict[str, list] = {v: [] for v in encoders}
    for chunk in chunks:
        for variant in order.permutation(list(encoders)):
            begin = time.perf_counter()
            vectors[variant].append(encoders[variant].encode(chunk))
            seconds[variant] += time.perf_counter() - begin
    reference = np.concatenate(vectors["torch-fp32"])
    results: dict = {"matmul_limit": matmul_limit(
        encoders["torch-fp32"], float(encoders["torch-fp32"].token_lengths(texts).mean()))}
    for variant in encoders:
        ours = np.concatenate(vectors[variant])
        cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(
            reference, axis=1)
        results[variant] = {
            "samples_per_second": len(texts) / seconds[variant],
            "speedup_vs_torch_fp32": seconds["torch-fp32"] / seconds[variant],
            "mean_cosine_to_fp32": float(cosine.mean()),
            "min_cosine_to_fp32": float(cosine.min()), "texts": len(texts)}
        print(f"{variant}: {len(texts) / seconds[variant]:.0f} texts/s "
              f"({seconds['torch-fp32'] / seconds[variant]:.2f}x torch fp32), cosine to fp32 "
              f"mean {cosine.mean():.4f} min {cosine.min():.4f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ml100k.yaml")
    parser.add_argument("--rows", type=int, default=16384, help="texts timed per variant")
    parser.add_argument("--chunk", type=int, default=4096,
                        help="texts per encode call (elec run: llm.shard_size)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=None,
                        help=f"comma-separated, of {', '.join(VARIANTS)}; default: all, "
                             f"torch-bf16 only where the CPU has bf16")
    parser.add_argument("--auc", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seeds", type=int, default=1, help="lm_only trained per variant")
    parser.add_argument("--throughput", action=argparse.BooleanOptionalAction, default=True,
                        help="--no-throughput keeps the figures already in --out")
    parser.add_argument("--out", default=str(RESULTS / "encoding.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    today = "torch-" + TextEncoder(cfg.llm.model_copy(update={"precision": "auto"}),
                                   device="cpu").precision
    variants = args.variants.split(",") if args.variants else [
        v for v in VARIANTS if v != "torch-bf16" or today == "torch-bf16"]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    if args.throughput:
        results: dict = {"throughput": throughput(cfg, args, variants), "lm_only": {},
                         "lm_only_seeds": {},
                         "today": today,
                         "config": {"llm": cfg.llm.model_dump(mode="json"), "rows": args.rows,
                                    "chunk": args.chunk, "threads": args.threads},
                         "environment": environment()}
    else:
        results = {**json.loads(Path(args.out).read_text()), "lm_only": {}, "lm_only_seeds": {}}
    save = lambda: Path(args.out).write_text(json.dumps(results, indent=2))  # noqa: E731
    save()
    if args.auc:
        for seed in range(args.seeds):
            for variant in variants:
                run_cfg = cfg.model_copy(update={
                    "methods": ["lm_only"], "seed": seed,
                    "llm": cfg.llm.model_copy(update=VARIANTS[variant])})
                out = Path("runs") / f"encoding-{variant}-seed{seed}"
                record = run(run_cfg, out, Reporter(out / "log.txt"))["methods"]["lm_only"]
                if seed == 0:
                    results["lm_only"][variant] = record["test"]
                results["lm_only_seeds"].setdefault(variant, []).append(record["test"]["auc"])
                print(f"{variant} seed {seed}: lm_only test AUC {record['test']['auc']:.4f}",
                      flush=True)
                save()  # after every run: an interrupted benchmark keeps what it measured


if __name__ == "__main__":
    main()
