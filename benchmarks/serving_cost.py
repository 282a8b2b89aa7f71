"""What each servable method costs at serving: the bundle's bytes (weights, the item
table) and the latency of raw rows to probabilities through the Predictor (encoding,
an item's text rendered and looked up, the network), at batch 1 and 1024; and for a
bundle with an item table, how long taking in new items takes (``POST /items``: their
texts through the LM, the bundle rewritten), 1 and 100 at a time.

    python benchmarks/serving_cost.py --run RUN [--requests 300] [--threads 2]

RUN is a finished `elec run` directory; every servable method it finished is exported
and timed. The methods are timed in one process, interleaved request by request, after
a warm-up, with torch's thread count fixed (latency.py's protocol). Writes
benchmarks/results/serving_cost.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import torch
import yaml
from latency import interleaved

from elec import (
    METHODS,
    Predictor,
    RunConfig,
    RunDir,
    environment,
    export,
    item_adder,
    load_table,
    split_indices,
)

RESULTS = Path(__file__).parent / "results"
BATCHES = (1, 1024)
NEW_ITEMS = (1, 100)


def adding_items(bundle: Path, predictor: Predictor, row: dict, repeats: int = 3) -> dict:
    """Seconds to take in new items (titles never seen, so none is in the vector cache),
    the LM loaded once beforehand (a bundle of generated item rows: ``elec items add``,
    which loads it each time): median and every repeat, per number of items."""
    started = time.perf_counter()
    adder = item_adder(bundle, predictor if predictor.items is not None else None)
    out = {"lm_load_s": time.perf_counter() - started}
    for count in NEW_ITEMS:
        times = []
        for _ in range(repeats):
            tag = uuid.uuid4().hex[:8]
            rows = [{**row, "item_id": f"new-{tag}-{i}",
                     "title": f"Unreleased film {tag} number {i}"} for i in range(count)]
            started = time.perf_counter()
            assert adder(rows)["added"] == count
            times.append(time.perf_counter() - started)
        out[str(count)] = {"median_s": sorted(times)[len(times) // 2], "seconds": times}
        print(f"adding {count} items: {out[str(count)]['median_s']:.3f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a finished `elec run` directory")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "serving_cost.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    cfg = RunConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    finished = RunDir(run, lambda message: None)
    methods = [m for m in cfg.methods if METHODS[m].servable and finished.finished(m)]
    table = load_table(cfg.data)
    rows = table.take(split_indices(table, cfg.data)["test"][:max(BATCHES)]).to_pylist()
    result: dict = {"methods": {}, "latency": {}}
    with tempfile.TemporaryDirectory() as tmp:
        predictors = {}
        for method in methods:
            bundle = export(run, Path(tmp) / method, method)
            predictors[method] = Predictor.from_bundle(bundle)
            files = {p.name: p.stat().st_size for p in bundle.iterdir()}
            result["methods"][method] = {
                "bytes": sum(files.values()), "weights_bytes": files["model.safetensors"],
                "item_table_bytes": files.get("items.safetensors", 0),
                "items": (predictors[method].manifest.get("item_lookup") or {}).get("items", 0),
                "what": METHODS[method].what}
        for batch in BATCHES:
            chosen = rows[:batch]
            requests = args.requests if batch == 1 else max(30, args.requests // 10)
            result["latency"][str(batch)] = interleaved(
                {m: lambda p=p, c=chosen: p.predict_proba(c) for m, p in predictors.items()},
                requests)
            print(f"batch {batch}: " + ", ".join(
                f"{m} p50 {v['p50_ms']:.3f} ms" for m, v in result["latency"][str(batch)].items()),
                flush=True)
        for method, predictor in predictors.items():  # after the latencies: the table grows
            if predictor.items is not None or predictor.manifest.get("item_rows"):
                result["methods"][method]["adding_items"] = adding_items(
                    Path(tmp) / method, predictor, rows[0])
    result["config"] = {"run": str(run), "model": cfg.model.model_dump(mode="json"),
                        "threads": args.threads, "requests": args.requests}
    result["environment"] = environment()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result["methods"], indent=2))


if __name__ == "__main__":
    main()
