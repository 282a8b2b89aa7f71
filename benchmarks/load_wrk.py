"""The HTTP service under load from a real load generator (wrk), configurations side by
side: each request shape against each server configuration, the configurations
interleaved, every pair run twice.

    python benchmarks/load_wrk.py --bundle BUNDLE [--seconds 8] [--repeats 2]

Server configurations (`elec serve` options): per-request scoring on eager torch
(``--batch-rows 0 --runtime eager``), micro-batching on eager torch and on the default
runtime (ONNX Runtime where the bundle has the graph), and the latter with two worker
processes. Request shapes: one row a request at 1, 8, 16 and 64 connections,
a ranking request (one context, 200 candidate items) at 8 connections, one row a
request at 8 connections beside one connection sending 4,096-row requests (the small
requests' latency beside a large client), and the same server's `GET /healthz` at 16
connections (what the framework alone answers). Writes
benchmarks/results/load_wrk.json: requests/s, p50 and p99 (ms) per shape, configuration
and repeat. wrk and the server share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from serving import served

from elec import FeatureSchema, environment, request_rows, write_json

RESULTS = Path(__file__).parent / "results"
CONFIGS = {"per-request, eager": ["--batch-rows", "0", "--runtime", "eager"],
           "micro-batched, eager": ["--runtime", "eager"],
           "micro-batched": [],
           "micro-batched, 2 workers": ["--workers", "2"]}
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "r")
wrk.body = f:read("*a")
f:close()
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, script: Path | None, connections: int, seconds: float,
        beside: tuple[Path, int] | None = None) -> dict:
    """wrk's figures for ``script``'s request on ``connections`` connections; ``beside``
    (script, connections): another wrk sends that request meanwhile."""
    def command(path: Path | None, n: int) -> list[str]:
        return ["wrk", "-t", str(min(2, n)), "-c", str(n), "-d", f"{round(seconds)}s",
                "--latency", *(["-s", str(path)] if path else []), url]

    other = (subprocess.Popen(command(*beside), stdout=subprocess.DEVNULL)
             if beside else None)
    try:
        out = subprocess.run(command(script, connections), capture_output=True, text=True,
                             check=True).stdout
    finally:
        if other is not None:
            other.wait()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: float(v) * UNITS[u] for p, v, u in
               re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)  # wrk prints the line only when there are some
    return {"requests_per_second": rate, "p50_ms": round(latency["50"], 3),
            "p99_ms": round(latency["99"], 3), "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, socket.groups())) if socket else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "load_wrk.json"))
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--shapes", default=None,
                        help="only these, comma-separated as SHAPE@CONNECTIONS (e.g. "
                             "'one row@64' with --seconds 60: the long run without errors)")
    args = parser.parse_args()
    schema = FeatureSchema.load(Path(args.bundle) / "schema.json")
    one = request_rows(schema, 1, 0)
    candidates = request_rows(schema, 200, 1)
    user = {k: v for k, v in candidates[0].items() if k != "item_id"}
    bodies = {"one row": {"rows": one}, "4,096 rows": {"rows": request_rows(schema, 4096, 2)},
              "ranking, 200 candidates": {"context": user, "candidates": [
                  {"item_id": c["item_id"]} for c in candidates]}}
    shapes = [("one row", 1), ("one row", 8), ("one row", 16), ("one row", 64),
              ("ranking, 200 candidates", 8), ("one row beside a 4,096-row client", 8),
              ("GET /healthz", 16)]
    if args.shapes:
        wanted = [(shape, int(n)) for shape, n in
                  (item.rsplit("@", 1) for item in args.shapes.split(","))]
        unknown = set(wanted) - set(shapes)
        if unknown:
            parser.error(f"unknown shapes {sorted(unknown)}; known: "
                         f"{', '.join(f'{s}@{n}' for s, n in shapes)}")
        shapes = wanted
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {}
        for name, body in bodies.items():
            path = Path(tmp) / f"{len(scripts)}.json"
            path.write_text(json.dumps(body))
            scripts[name] = Path(tmp) / f"{len(scripts)}.lua"
            scripts[name].write_text(LUA.format(body=path))
        for repeat in range(args.repeats):
            for config, options in CONFIGS.items():
                with served(args.bundle, 4096, options=options) as (base, _):
                    wrk(f"{base}/predict", scripts["one row"], 8, 2)  # warm-up
                    for shape, connections in shapes:
                        beside = shape.endswith("client")
                        healthz = shape == "GET /healthz"
                        measured = wrk(f"{base}/{'healthz' if healthz else 'predict'}",
                                       None if healthz else
                                       scripts["one row" if beside else shape],
                                       connections, args.seconds,
                                       (scripts["4,096 rows"], 1) if beside else None)
                        results.append({"config": config, "options": options, "shape": shape,
                                        "connections": connections, "repeat": repeat,
                                        **measured})
                        print(results[-1], flush=True)
    version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    write_json(Path(args.out), {
        "runs": results, "config": {"bundle": args.bundle, "seconds": args.seconds,
                                    "wrk": version.split("\n")[0].strip(),
                                    "note": "wrk (2 threads) and the server share the cores"
                                            + (f"; {args.note}" if args.note else "")},
        "command": "python benchmarks/load_wrk.py --bundle BUNDLE "
                   f"--seconds {args.seconds:g} --repeats {args.repeats}"
                   + (f" --shapes '{args.shapes}'" if args.shapes else ""),
        "environment": {**environment(), "cpu_count": os.cpu_count()}})


if __name__ == "__main__":
    main()
