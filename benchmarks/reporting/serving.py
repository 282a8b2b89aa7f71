"""Serving latency and cost, the recipe search, FuxiCTR parity and LM encoding speed."""

from __future__ import annotations

import json

from elec import auc_vs_latency, cell, paired
from reporting.sources import PREDATES, RESULTS, protocol_key, source


def latency_section(latency: dict, quality: dict[str, dict]) -> list[str]:
    bare, gain, http = latency["bare_model"], latency["gain_with_lm"], latency["http"]
    variants = list(bare["1"])
    lines = ["| batch | " + " | ".join(f"{v} p50 / p99 (ms)" for v in variants)
             + " | gain + LM p50 / p99 (ms) | vanilla over HTTP p50 / p99 (ms) |",
             "|---" * (len(variants) + 3) + "|"]
    for batch in bare:
        cells = [f"{bare[batch][v]['p50_ms']:.3f} / {bare[batch][v]['p99_ms']:.3f}"
                 for v in variants]
        cells.append(f"{gain[batch]['p50_ms']:.1f} / {gain[batch]['p99_ms']:.1f}")
        cells.append(f"{http[batch]['p50_ms']:.2f} / {http[batch]['p99_ms']:.2f}")
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    ratios = [f"- {name}: {value:.3f}" for name, value in latency["ratios"].items()]
    model = latency["config"]["model"]["name"]
    out = [f"#### Serving latency ({model}, "
           f"{source(RESULTS / 'latency.json', latency['environment'])}, "
           f"{latency['config']['threads']} threads)", "", *lines, "", *ratios, ""]
    part = quality.get(model, {}).get("protocols", {}).get("random")
    if part:
        stats = part["methods"]
        ms = {"backbone": bare["1"]["backbone"]["p50_ms"],
              "vanilla": bare["1"]["vanilla"]["p50_ms"],
              "self_distilled": bare["1"]["vanilla"]["p50_ms"],
              "gain": gain["1"]["p50_ms"], "lm_only": gain["1"]["p50_ms"]}
        points = {m: (ms[m], stats[m]["test"]["auc"]["mean"], stats[m]["test"]["auc"]["std"])
                  for m in ms if m in stats}
        auc_vs_latency(points, RESULTS / "auc_vs_latency.png",
                       f"{model}, random split: quality against serving cost")
        out += ["![AUC against serving latency](../benchmarks/results/auc_vs_latency.png)", ""]
    return out


def serving_cost_section() -> list[str]:
    """Bytes and latency of every servable method's bundle (serving_cost.json)."""
    path = RESULTS / "serving_cost.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    latency = data["latency"]
    out = [f"#### Serving cost per method ({data['config']['model']['name']}, "
           f"{source(path, data['environment'])}, {data['config']['threads']} threads; raw "
           f"rows to probabilities through the Predictor, interleaved)", "",
           "| method | bundle | of which the item table | p50 at batch 1 | p50 at batch 1024 |",
           "|---|---|---|---|---|"]
    for method, cost in data["methods"].items():
        table = (f"{cost['item_table_bytes'] / 2**10:,.0f} KiB ({cost['items']:,} items)"
                 if cost["item_table_bytes"] else "none")
        out.append(f"| {method} | {cost['bytes'] / 2**20:.2f} MiB | {table} | "
                   f"{latency['1'][method]['p50_ms']:.2f} ms | "
                   f"{latency['1024'][method]['p50_ms']:.1f} ms |")
    adding = [(method, cost["adding_items"]) for method, cost in data["methods"].items()
              if "adding_items" in cost]
    out += ["", *(_adding(method, cost) for method, cost in adding)]
    return [*out, ""]


def load_section() -> list[str]:
    """The service under wrk, configurations side by side (load_wrk*.json: the shapes,
    and the long runs)."""
    return [line for path in sorted(RESULTS.glob("load_wrk*.json"))
            for line in _load_table(path, json.loads(path.read_text()))]


def _load_table(path, data: dict) -> list[str]:
    cells: dict[tuple[str, str], list[dict]] = {}
    for run in data["runs"]:
        cells.setdefault((run["shape"] + f", {run['connections']} connections",
                          run["config"]), []).append(run)
    configs = list(dict.fromkeys(run["config"] for run in data["runs"]))
    shapes = list(dict.fromkeys(shape for shape, _ in cells))

    def shown(runs: list[dict]) -> str:
        return " / ".join(f"{r['requests_per_second']:,.0f} req/s, p50 {r['p50_ms']:.0f} ms, "
                          f"p99 {r['p99_ms']:.0f} ms"
                          + (f", {r['non_2xx']:,} non-2xx" if r.get("non_2xx") else "")
                          + (f", {r['socket_errors']:,} socket errors or timeouts"
                             if r.get("socket_errors") else "")
                          for r in runs)

    out = [f"#### The service under load ({data['config']['wrk'].split(' [')[0]}; "
           f"{source(path, data['environment'])}; {data['config']['note']}; each cell: "
           f"one run of {data['config']['seconds']:g} s per repeat; no answer other than "
           f"2xx{_socket_errors_counted(data)} unless a cell says so)", "",
           "| request | " + " | ".join(f"`elec serve` {c}" for c in configs) + " |",
           "|---|" + "---|" * len(configs)]
    out += [f"| {shape} | " + " | ".join(shown(cells.get((shape, c), [])) for c in configs)
            + " |" for shape in shapes]
    return [*out, ""]


def _socket_errors_counted(data: dict) -> str:
    """Whether the file's runs counted wrk's socket errors and timeouts too."""
    return (", no socket error or timeout" if all("socket_errors" in r for r in data["runs"])
            else "")


def recipe_section() -> list[str]:
    """Textbook ELEC beside every recipe tried, per backbone and protocol, from the
    recipe_search*.json files (benchmarks/recipe_search.py)."""
    cells: dict = {}
    sources: dict = {}
    for path in sorted(RESULTS.glob("recipe_search*.json")):
        data = json.loads(path.read_text())
        for model, protocols in data["summary"].items():
            for protocol, rows in protocols.items():
                cells.setdefault(model, {}).setdefault(protocol, {}).update(rows)
                sources[(model, protocol)] = source(path, data["environment"])
    if not cells:
        return []

    def delta(row: dict, control: str) -> str:
        d = row.get(f"vanilla - {control}")
        if d is None:  # ensemble_distilled: only a blended recipe has that control
            return "n/a"
        return f"{d['mean']:+.4f} ({d['positive']}/{len(d['values'])})"

    out = ["#### Recipe search: textbook ELEC against the variants tried (test AUC; paired "
           "deltas with the seeds they hold in; [recipe-search.md](recipe-search.md) says what "
           f"each is; {PREDATES['recipe_search']})", ""]
    for model, protocols in cells.items():
        for protocol in sorted(protocols, key=protocol_key):
            rows = protocols[protocol]
            controls = ["self_distilled", "cross_distilled"]
            if any("vanilla - ensemble_distilled" in row for row in rows.values()):
                controls.append("ensemble_distilled")
            controls.append("backbone")
            out += [f"{model}, {protocol} ({sources[(model, protocol)]}):", "",
                    "| recipe | vanilla | "
                    + " | ".join(f"vanilla - {c}" for c in controls) + " | gain - backbone |",
                    "|---|---|" + "---|" * len(controls) + "---|"]
            for variant, row in rows.items():
                gain = row["gain"] - row["backbone"]
                out.append(f"| {variant} | {row['vanilla']:.4f} | "
                           + " | ".join(delta(row, c) for c in controls) + f" | {gain:+.4f} |")
            out.append("")
    return out


def fuxictr_section() -> list[str]:
    path = RESULTS / "fuxictr.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    out = [f"#### Against FuxiCTR 2.3.10: same split, same hyper-parameters "
           f"({source(path, data['environment'])})", "",
           "| model | seeds | elec test AUC | FuxiCTR test AUC | elec - FuxiCTR | within 0.003 "
           "or better? |", "|---|---|---|---|---|---|"]
    for model, entry in data["models"].items():
        s = entry["summary"]
        diff = s["elec_minus_fuxictr_auc"]
        out.append(f"| {model} | {len(entry['seeds'])} | {cell(s['elec_auc'])} | "
                   f"{cell(s['fuxictr_auc'])} | {diff['mean']:+.4f} "
                   f"({diff['positive']}/{len(entry['seeds'])} seeds higher) | "
                   f"{'yes' if diff['within_0.003_or_better'] else '**no**'} |")
    return out + [""]


def encoding_section() -> list[str]:
    """One table per machine: texts/s, closeness and lm_only AUC of every runtime and
    precision measured side by side, and the machine's matmul limit under it."""
    out: list[str] = []
    for path in (RESULTS / "encoding.json", RESULTS / "encoding_intel-xeon.json"):
        if path.is_file():
            out += _encoding_table(path, json.loads(path.read_text()))
    return out


def _encoding_table(path, data: dict) -> list[str]:
    cfg = data["config"]
    variants = {k: v for k, v in data["throughput"].items() if k != "matmul_limit"}
    reference = "torch-fp32" if "torch-fp32" in variants else "fp32"
    today = f"; `llm.precision: auto` runs {data['today']}" if "today" in data else ""
    out = [f"#### LM encoding on a CPU ({source(path, data['environment'])}, "
           f"{cfg['threads']} threads, {cfg['rows']:,} MovieLens texts in shards of "
           f"{cfg['chunk']:,}{today})",
           "", f"| runtime, precision | texts / s | vs {reference} | cosine to fp32 (mean / min) "
           f"| lm_only test AUC, seed 0 | lm_only - {reference}, paired by seed |",
           "|---|---|---|---|---|---|"]
    seeds = data.get("lm_only_seeds", {})
    for variant, t in variants.items():
        auc = data["lm_only"].get(variant, {}).get("auc")
        shown = "n/a"
        if variant in seeds and reference in seeds and variant != reference:
            d = paired(seeds[variant], seeds[reference])
            shown = f"{d['mean']:+.4f} ({d['positive']}/{d['seeds']} seeds higher)"
        mean = t.get("mean_cosine_to_fp32")
        speedup = t.get("speedup_vs_torch_fp32", t.get("speedup_vs_fp32"))
        out.append(f"| {variant} | {t['samples_per_second']:.0f} | {speedup:.2f}x | "
                   f"{f'{mean:.4f}' if mean is not None else 'n/a'} / "
                   f"{t['min_cosine_to_fp32']:.4f} | "
                   f"{f'{auc:.4f}' if auc is not None else 'not run'} | {shown} |")
    if "conditions" in data:
        out += ["", f"Conditions: {data['conditions']}."]
    limit = data["throughput"].get("matmul_limit")
    if limit:
        out += ["", f"Matmul limit here: the LM's {limit['flops_per_text'] / 1e9:.2f} GFLOP "
                f"per text ({limit['mean_tokens']:.1f} tokens on average) at the measured "
                f"GEMM rate, fp32 {limit['fp32']['gflops']:.0f} GFLOP/s = "
                f"{limit['fp32']['texts_per_second']:.0f} texts/s, bf16 "
                f"{limit['bf16']['gflops']:.0f} GFLOP/s = "
                f"{limit['bf16']['texts_per_second']:.0f} texts/s. int8 variants pass the "
                f"fp32 limit because their matmuls are int8."]
    return out + [""]


def _adding(method: str, cost: dict) -> str:
    """How long new items took to join a bundle, said for the kind of bundle."""
    times = ", ".join(f"{n} at a time {cost[n]['median_s'] * 1000:,.0f} ms"
                      for n in cost if n != "lm_load_s") + " (median of 3)."
    if method in ("item_gen", "vanilla_gen"):
        return (f"New items into {method}'s embedding table and vocabulary (`elec items add`: "
                f"the LM loaded, texts through it and the generator, weights and graphs "
                f"rewritten): {times}")
    how = ("their bags of the table's words, no LM" if method == "words" else
           f"texts through the LM, loaded once beforehand in {cost['lm_load_s']:.1f} s")
    return (f"New items into {method}'s table (`POST /items` of `elec serve --add-items`, or "
            f"`elec items add`: {how}; the bundle rewritten): {times}")
