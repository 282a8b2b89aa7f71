"""Scale: training throughput, precision, memory, torchrun, the synthetic table."""

from __future__ import annotations

import json
from pathlib import Path

from elec import cell
from reporting.sources import RESULTS, source


def backbone_ddp() -> list[Path]:
    """The backbone-only torchrun comparisons (ddp*.json, not the end-to-end one)."""
    return [p for p in sorted(RESULTS.glob("ddp*.json")) if p.name != "ddp_elec.json"]


def _median_seconds(data: dict, processes: str, method: str) -> float | None:
    seconds = [r["train_seconds"].get(method) for r in data["runs"][processes]]
    seconds = sorted(x for x in seconds if x is not None)
    return seconds[len(seconds) // 2] if seconds else None


def scale_section() -> list[str]:
    """Throughput against FuxiCTR, memory by row count, torchrun against one process,
    and the synthetic table's LM table: whichever of their files exist."""
    out = []
    for path in sorted(RESULTS.glob("throughput*.json")):  # one file per machine
        data = json.loads(path.read_text())
        bf16 = "elec_bf16" in data["runs"][0]
        out += [f"#### Training throughput against FuxiCTR 2.3.10 "
                f"({source(path, data['environment'])}; {data['what']}, "
                f"{data['train_rows']:,} training rows of `elec data synth`)", ""]
        if bf16:
            out += ["| round | elec fp32 samples/s | elec bf16 samples/s | FuxiCTR samples/s | "
                    "fp32 / FuxiCTR | bf16 / FuxiCTR |", "|---|---|---|---|---|---|"]
            out += [f"| {r['repeat'] + 1} | {r['elec']['samples_per_s']:,.0f} | "
                    f"{r['elec_bf16']['samples_per_s']:,.0f} | "
                    f"{r['fuxictr']['samples_per_s']:,.0f} | {r['ratio']:.2f}x | "
                    f"{r['ratio_bf16']:.2f}x |" for r in data["runs"]]
        else:
            out += ["| epoch pair | elec samples/s | FuxiCTR samples/s | elec / FuxiCTR |",
                    "|---|---|---|---|"]
            out += [f"| {r['repeat'] + 1} | {r['elec']['samples_per_s']:,.0f} | "
                    f"{r['fuxictr']['samples_per_s']:,.0f} | {r['ratio']:.2f}x |"
                    for r in data["runs"]]
        probes = ", ".join(f"{k} {v:,.0f}/s" if isinstance(v, float) else f"{k} {v}"
                           for k, v in data["fuxictr_loader_probe_samples_per_s"].items())
        ratios = (f"float32 **{data['median_ratio']:.2f}x**, `train.precision: bf16` "
                  f"**{data['median_ratio_bf16']:.2f}x**" if bf16
                  else f"**{data['median_ratio']:.2f}x**")
        out += ["", f"Median ratio {ratios} (target: at least 2x). "
                f"FuxiCTR's loaders on a short probe: {probes}; the race used "
                f"{data['fuxictr_loader']}. elec's streaming preprocessing (schema fit + "
                f"encoding every split into shards) took {data['elec_preprocessing_seconds']} s "
                f"for {data['rows']:,} rows."]
        if "valid_auc_after_race" in data:
            auc = data["valid_auc_after_race"]
            out += [f"Validation AUC after the race's {len(data['runs'])} epochs (one seed, "
                    f"a check, not a comparison of quality): " + ", ".join(
                        f"{k.replace('_', ' ')} {v:.4f}" for k, v in auc.items()) + "."]
        out += [""]
    for path in sorted(RESULTS.glob("precision_*.json")):
        data = json.loads(path.read_text())
        d = data["bf16_minus_fp32_test_auc"]
        out += [f"#### `train.precision: bf16` against float32 ({source(path, data['environment'])}"
                f"; {data['backbone']} backbone, `{data['config']}`, {d['seeds']} seeds)", "",
                "| precision | test AUC | training seconds |", "|---|---|---|"]
        out += [f"| {p} | {cell(data['test_auc'][p])} | {data['train_seconds'][p]['mean']:.1f} "
                f"± {data['train_seconds'][p]['std']:.1f} |" for p in data["test_auc"]]
        out += ["", f"Test AUC bf16 - fp32, paired by seed: {d['mean']:+.4f} ± {d['std']:.4f} "
                f"({d['positive']}/{d['seeds']} seeds higher).", ""]
    path = RESULTS / "memory.json"
    if path.is_file():
        data = json.loads(path.read_text())
        out += [f"#### Peak memory by row count ({source(path, data['environment'])}; "
                f"{data['what']})", "",
                "| rows | peak RSS | anonymous peak | file-backed peak | vocabulary | test AUC |",
                "|---|---|---|---|---|---|"]

        def gib(v: dict, key: str) -> str:
            return f"{v[key]:.2f} GiB" if key in v else "not sampled"

        def values(v: dict) -> str:
            return f"{v['vocabulary']:,}" if "vocabulary" in v else "not recorded"
        out += [f"| {int(rows):,} | {v['peak_rss_gib']:.2f} GiB | "
                f"{gib(v, 'anonymous_peak_gib')} | {gib(v, 'file_backed_peak_gib')} | "
                f"{values(v)} | {v['test_auc']:.4f} |" for rows, v in data["sizes"].items()]
        out += ["", f"Growth from the smallest to the largest: "
                f"{data['growth_first_to_last']:+.0%} (target: under +50%, under 4 GiB). "
                f"Anonymous memory is the heap (vocabularies, model, batches); file-backed, "
                f"the pages of the memory-mapped shards the training window reads, which "
                f"the kernel drops when memory is short.", ""]
    for path in backbone_ddp():
        data = json.loads(path.read_text())
        batch_norm = ("without batch norm" if "model.params.batch_norm=false" in data["overrides"]
                      else "with batch norm")
        out += [f"#### torchrun against one process ({source(path, data['environment'])}; "
                f"DeepFM {batch_norm} on {data['rows']:,} synthetic rows, gloo, "
                f"{data['seeds']} seeds)", "",
                "| processes | valid AUC | test AUC | seconds per run | rows trained on per "
                "epoch |", "|---|---|---|---|---|"]
        for processes, runs in data["runs"].items():
            seconds = sum(r["seconds"] for r in runs) / len(runs)
            rows = sorted({n for r in runs for n in r.get("rows_per_epoch", [])})
            out.append(f"| {processes} | {cell(data['valid_auc'][processes])} | "
                       f"{cell(data['test_auc'][processes])} | {seconds:.0f} | "
                       f"{', '.join(f'{n:,}' for n in rows) or 'not recorded'} |")
        diff = data["valid_auc_difference"]
        seen = (f"every one of the {data['train_rows']:,} training rows once per epoch at "
                f"both world sizes: {data['every_row_once_per_epoch']}; "
                if "train_rows" in data else "")
        out += ["", f"Validation AUC, torchrun - one process, paired by seed: "
                f"{diff['mean']:+.4f} ± {diff['std']:.4f} (target: within 0.001); {seen}the "
                f"same fitted schema: {data['same_schema']}; the same results.json layout: "
                f"{data['same_results_layout']}. The machine has as many cores as processes: "
                f"a check of correctness, not of speed.", ""]
    path = RESULTS / "ddp_elec.json"
    if path.is_file():
        data = json.loads(path.read_text())
        methods = list(data["test_auc"]["1"])
        out += [f"#### ELEC end to end under torchrun against one process "
                f"({source(path, data['environment'])}; {data['rows']:,} synthetic rows on "
                f"shards ({data['test_rows']:,} test rows), the bundled MiniLM, "
                f"{data['nproc']} processes, gloo, {data['seeds']} seeds)", "",
                "| processes | seconds per run | " + " | ".join(
                    f"{m} test AUC" for m in methods) + " |",
                "|---|---|" + "---|" * len(methods)]
        for processes, runs in data["runs"].items():
            seconds = sum(r["seconds"] for r in runs) / len(runs)
            out.append(f"| {processes} | {seconds:.0f} | " + " | ".join(
                cell(data["test_auc"][processes][m]) for m in methods) + " |")
        diff = data["test_auc_difference"]
        within = data["torchrun_mean_within_one_process_range"]
        out += ["", "Test AUC, torchrun - one process, paired by seed: " + ", ".join(
                    f"{m} {diff[m]['mean']:+.4f} ({diff[m]['positive']}/{diff[m]['seeds']})"
                    for m in methods) + "; torchrun's mean within one process's range over "
                "the seeds: " + ", ".join(f"{m} {within[m]}" for m in methods) + ". Every "
                f"network trained on each of the {data['train_rows']:,} training rows once per "
                f"epoch at both world sizes: {data['every_row_once_per_epoch']}. Pooled LM "
                f"vectors of all {data['shards_encoded']} shards identical to one process's, "
                f"bit for bit: {data['same_lm_vectors']}; the same results.json layout: "
                f"{data['same_results_layout']}. Training seconds per network (median over "
                f"the seeds), one process / torchrun: " + ", ".join(
                    f"{m} {_median_seconds(data, '1', m):.0f} / "
                    f"{_median_seconds(data, str(data['nproc']), m):.0f}"
                    for m in methods if _median_seconds(data, "1", m) is not None)
                + "; the rest of a run is stage 1 and, in each world size's first run, LM "
                "encoding. The machine has as many cores as processes: a check of "
                "correctness, not of speed.", ""]
    return (["### Scale", ""] + out) if out else []


def scale_summary() -> list[str]:
    """One line per scale measurement, for the README."""
    lines = []
    races = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("throughput*.json"))]
    if races:
        on = "; ".join(f"{d['environment']['cpu']}: {d['median_ratio']:.2f}x in float32"
                       + (f", {d['median_ratio_bf16']:.2f}x with `train.precision: bf16`"
                          if "median_ratio_bf16" in d else "") for d in races)
        lines.append(f"- Training throughput, DeepFM on {races[0]['train_rows']:,} synthetic "
                     f"rows, against FuxiCTR 2.3.10 with its fastest loader (target 2x), on "
                     f"{on}.")
    path = RESULTS / "memory.json"
    if path.is_file():
        data = json.loads(path.read_text())
        sizes = ", ".join(f"{int(rows):,} rows {v['peak_rss_gib']:.2f} GiB"
                          for rows, v in data["sizes"].items())
        lines.append(f"- Peak memory of streaming preprocessing + one backbone epoch: {sizes} "
                     f"({data['growth_first_to_last']:+.0%}).")
    for path in backbone_ddp():
        data = json.loads(path.read_text())
        diff = data["valid_auc_difference"]
        batch_norm = ("without batch norm" if "model.params.batch_norm=false" in data["overrides"]
                      else "with batch norm shared across the ranks")
        lines.append(f"- torchrun (2 processes, gloo), DeepFM {batch_norm}, against one "
                     f"process on {data['rows']:,} rows: validation AUC {diff['mean']:+.4f} ± "
                     f"{diff['std']:.4f} over {data['seeds']} seeds, every training row once "
                     f"per epoch: {data.get('every_row_once_per_epoch', 'not recorded')}.")
    path = RESULTS / "ddp_elec.json"
    if path.is_file() and "test_auc_difference" in (data := json.loads(path.read_text())):
        diff, within = data["test_auc_difference"], data["torchrun_mean_within_one_process_range"]
        lines.append(
            f"- ELEC end to end under torchrun ({data['nproc']} processes, gloo, MiniLM) "
            f"against one process on {data['rows']:,} synthetic rows ({data['test_rows']:,} "
            f"test rows), {data['seeds']} seeds: test AUC " + ", ".join(
                f"{m} {d['mean']:+.4f}" for m, d in diff.items())
            + f"; torchrun's mean within one process's range for every network: "
            f"{all(within.values())}; every training row once per epoch: "
            f"{data['every_row_once_per_epoch']}; the same LM vectors, bit for bit: "
            f"{data['same_lm_vectors']}.")
    return (["At scale:", "", *lines, ""]) if lines else []
