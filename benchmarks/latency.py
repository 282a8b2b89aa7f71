"""Serving latency: backbone vs vanilla (eager, TorchScript, ONNX Runtime) vs the gain
network with its LM, per request at batch 1, 64 and 1024, and the vanilla bundle
over HTTP on loopback.

    python benchmarks/latency.py [--run runs/ml100k] [--requests 1000] [--threads 2]

All variants are timed in one process, interleaved request by request (the
machines are shared and noisy: a slow spell hits every variant alike), after a
warm-up, with torch's thread count fixed. Writes benchmarks/results/latency.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from serving import served

from elec import GainScorer, Predictor, RunConfig, environment, export, load_table, split_indices

RESULTS = Path(__file__).parent / "results"
BATCHES = (1, 64, 1024)


def percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "requests": len(ms)}


def interleaved(variants: dict, requests: int, warmup: int = 20) -> dict:
    """Time each variant's callable ``requests`` times, in a fresh random order every
    round, so no variant always runs first or always follows the same neighbour."""
    for call in variants.values():
        for _ in range(warmup):
            call()
    names = list(variants)
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(requests):
        for name in rng.permutation(names):
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    return {name: percentiles(t) for name, t in times.items()}


def http_latency(bundle: Path, rows: list[dict], requests: dict[int, int], threads: int
                 ) -> dict:
    import httpx

    with served(bundle, 4096, threads) as (url, _), httpx.Client(timeout=30) as client:
        out = {}
        for batch in BATCHES:
            payload = {"rows": rows[:batch]}

            def call(payload=payload):
                response = client.post(f"{url}/predict", json=payload)
                response.raise_for_status()
            out[str(batch)] = interleaved({"vanilla_http": call}, requests[batch])[
                "vanilla_http"]
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/ml100k", help="a finished `elec run` directory")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--gain-requests", type=int, default=50,
                        help="requests per batch size for the gain network (it runs the LM)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "latency.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    cfg = RunConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text()))

    with tempfile.TemporaryDirectory() as tmp:
        vanilla_bundle = export(run, Path(tmp) / "vanilla", "vanilla", ("torchscript", "onnx"))
        backbone_bundle = export(run, Path(tmp) / "backbone", "backbone")
        vanilla = Predictor.from_bundle(vanilla_bundle)
        scripted = Predictor.from_bundle(vanilla_bundle, runtime="torchscript")
        backbone = Predictor.from_bundle(backbone_bundle)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads
        # idle ORT threads would otherwise spin and slow down whichever variant runs next
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(vanilla_bundle / "model.onnx"), options)

        table = load_table(cfg.data)
        rows = table.take(split_indices(table, cfg.data)["test"][:1024]).to_pylist()
        gain = GainScorer(run)
        results: dict = {"bare_model": {}, "gain_with_lm": {}, "http": {}}
        for batch in BATCHES:
            features = vanilla.encoder.encode_rows(rows[:batch])
            single, multi = (torch.from_numpy(features.single),
                             torch.from_numpy(features.multi_matrix()))
            feeds = {"single": single.numpy(), "multi": multi.numpy()}
            with torch.inference_mode():
                results["bare_model"][str(batch)] = interleaved({
                    "backbone": lambda s=single, m=multi: backbone.module(s, m),
                    "vanilla": lambda s=single, m=multi: vanilla.module(s, m),
                    "vanilla_torchscript": lambda s=single, m=multi: scripted.module(s, m),
                    "vanilla_onnxruntime": lambda f=feeds: session.run(None, f),
                }, args.requests)
            results["gain_with_lm"][str(batch)] = interleaved(
                {"gain": lambda b=batch: gain(rows[:b])},
                max(5, args.gain_requests if batch < 1024 else args.gain_requests // 10),
                warmup=2)["gain"]
            print(f"batch {batch}: " + ", ".join(
                f"{k} p50 {v['p50_ms']:.3f} ms" for k, v in results["bare_model"][str(batch)]
                .items()) + f", gain+LM p50 {results['gain_with_lm'][str(batch)]['p50_ms']:.1f} ms")
        results["http"] = http_latency(vanilla_bundle, rows,
                                       {1: args.requests, 64: args.requests,
                                        1024: max(100, args.requests // 5)}, args.threads)

    bare = results["bare_model"]
    results["ratios"] = {
        f"vanilla/backbone p50 at batch {b}": bare[str(b)]["vanilla"]["p50_ms"]
        / bare[str(b)]["backbone"]["p50_ms"] for b in BATCHES}
    results["ratios"]["gain_with_lm/vanilla p50 at batch 1"] = (
        results["gain_with_lm"]["1"]["p50_ms"] / bare["1"]["vanilla"]["p50_ms"])
    results["config"] = {"run": str(run), "model": cfg.model.model_dump(mode="json"),
                         "llm": cfg.llm.model_dump(mode="json"), "threads": args.threads,
                         "requests": args.requests, "gain_requests": args.gain_requests}
    results["environment"] = environment()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps({"ratios": results["ratios"], "http": {
        b: v["p99_ms"] for b, v in results["http"].items()}}, indent=2))


if __name__ == "__main__":
    main()
