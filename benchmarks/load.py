"""The HTTP service under load, on loopback: many single-row clients, and single-row
clients beside one client that sends 4,096-row requests.

    python benchmarks/load.py --bundle BUNDLE [--seconds 60] [--clients 16]

Starts `elec serve BUNDLE` in a process of its own, then runs three rounds of client
processes for --seconds each (clients and server share this machine's cores):
  1. --clients single-row clients: requests, errors, p50 / p99, server RSS before
     and after (growth);
  2. --clients / 2 single-row clients alone: their p99;
  3. the same single-row clients beside one client of --big-rows rows a request: their
     p99 again, and its ratio to round 2 (a large request must not stall small ones).
Rows are drawn from the bundle's own vocabularies and bucket edges. Writes
benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from serving import served

from elec import FeatureSchema, environment, request_rows, write_json

RESULTS = Path(__file__).parent / "results"


def client(job: tuple[str, list[dict], float]) -> dict:
    """Post ``body`` until ``deadline``; latencies (ms) of the answers and errors."""
    import httpx

    url, body, deadline = job
    latencies, errors = [], 0
    with httpx.Client(timeout=60) as http:
        while time.time() < deadline:
            start = time.perf_counter()
            try:
                ok = http.post(url, json={"rows": body}).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors += 1
    return {"latencies": latencies, "errors": errors}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def round_of(url: str, bodies: list[list[dict]], seconds: float) -> list[dict]:
    deadline = time.time() + seconds
    with ProcessPoolExecutor(len(bodies)) as pool:
        return list(pool.map(client, [(url, body, deadline) for body in bodies]))


def summary(results: list[dict], seconds: float) -> dict:
    latencies = np.concatenate([r["latencies"] for r in results]) if results else np.zeros(0)
    return {"clients": len(results), "requests": int(len(latencies)),
            "errors": int(sum(r["errors"] for r in results)),
            "requests_per_second": round(len(latencies) / seconds, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 3),
            "p99_ms": round(float(np.percentile(latencies, 99)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--big-rows", type=int, default=4096)
    parser.add_argument("--out", default=str(RESULTS / "load.json"))
    args = parser.parse_args()
    schema = FeatureSchema.load(Path(args.bundle) / "schema.json")
    with served(args.bundle, args.big_rows) as (base, pid):
        url = f"{base}/predict"
        single = [request_rows(schema, 1, seed) for seed in range(args.clients)]
        round_of(url, single[:2], 3)  # warm-up
        rss_before = rss_kib(pid)
        many = summary(round_of(url, single, args.seconds), args.seconds)
        rss_after = rss_kib(pid)
        half = single[:max(1, args.clients // 2)]
        alone = summary(round_of(url, half, args.seconds), args.seconds)
        mixed = round_of(url, [*half, request_rows(schema, args.big_rows, 99)], args.seconds)
        beside = summary(mixed[:-1], args.seconds)
        big = summary(mixed[-1:], args.seconds)
    result = {
        "single_row_clients": {**many, "server_rss_kib_before": rss_before,
                               "server_rss_kib_after": rss_after,
                               "rss_growth": round(rss_after / rss_before - 1, 4)},
        "single_row_alone": alone,
        "single_row_beside_big_client": beside,
        "big_client": {**big, "rows_per_request": args.big_rows},
        "p99_ratio_beside_big_vs_alone": round(beside["p99_ms"] / alone["p99_ms"], 3),
        "config": {"seconds": args.seconds, "clients": args.clients, "bundle": args.bundle,
                   "note": "clients and server share the machine's cores, on loopback"},
        "environment": {**environment(), "cpu_count": os.cpu_count()},
    }
    write_json(Path(args.out), result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
