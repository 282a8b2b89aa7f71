"""Regenerate docs/results.md, the README's results summary and the figures from
benchmarks/results/*.json.

    python benchmarks/report.py

Nothing in either is typed by hand: every figure comes from a JSON file that a
benchmark script wrote, and every table names its file, its machine and the commit
that stored it. Per-method tables are shown only for files that describe the current
code; older files stay in benchmarks/results/ and are listed, with the reason, at the
end of docs/results.md.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from elec.bench import paired
from elec.report.plots import auc_vs_latency, quality_figure
from elec.report.quality import cell, deltas_table, methods_table, zoo_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
PROTOCOL_ORDER = ["random", "temporal", "temporal-pool", "cold-item", "cold-item-pool"]
# the per-method grid every release should have measured with its own code
EXPECTED = [(backbone, protocol) for backbone in ("deepfm", "dcnv2")
            for protocol in ("random", "temporal", "cold-item", "cold-item-pool")]
# result files that no longer describe the code, and why (they stay on disk)
SUPERSEDED = {
    "quality_deepfm_h200.json": "the paper's teacher (teacher_mix 1.0), before the backbones' "
                                "Xavier initialisation",
    "quality_dcnv2_h200.json": "the paper's teacher (teacher_mix 1.0), before the backbones' "
                               "Xavier initialisation",
}
# result files still shown whose heading must say what they predate
PREDATES = {"zoo": "measured before the backbones' Xavier initialisation",
            "recipe_search": "measured before the Xavier initialisation and before the pool's "
                             "ids joined the vocabularies"}


def committed(path: Path) -> str:
    """The commit that last stored ``path``: the code it describes is at or before it."""
    done = subprocess.run(["git", "log", "-1", "--format=%h", "--", path.name],
                          cwd=path.parent, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "not committed"


# the commit from which the backbones' CPU dropout draws its masks from 16-bit random
# numbers: AUCs trained on a CPU before it come from the same method with other draws
NEW_DROPOUT_DRAWS = "cf66d6b"
TRAINED = ("quality_", "lm_uses_", "item_dropout_", "zoo_", "fuxictr", "recipe_search",
           "ensemble_control", "variant_", "synth_quality", "ddp")


def before(commit: str, change: str) -> bool:
    """Whether ``commit`` is an ancestor of ``change`` (and not the change itself)."""
    done = subprocess.run(["git", "merge-base", "--is-ancestor", commit, change], cwd=ROOT,
                          capture_output=True, check=False)
    return done.returncode == 0 and not change.startswith(commit)


def source(path: Path, environment: dict) -> str:
    """How a heading names a result: file, machine, commit (and, for trained networks'
    figures, whether they predate the new dropout draws)."""
    commit = committed(path)
    note = ("; trained before the new CPU dropout draws (the same method, other random "
            "draws)" if path.name.startswith(TRAINED) and not environment.get("gpu")
            and commit != "not committed" and before(commit, NEW_DROPOUT_DRAWS) else "")
    return f"`{path.name}`, {machine(environment)}, commit {commit}{note}"


def machine(environment: dict) -> str:
    if environment.get("gpu"):
        return f"{environment['gpu']}, torch {environment['torch']}"
    cores = environment.get("cpu_count") or environment.get("cores")
    return f"{environment['cpu']} ({cores} cores), CPU only, torch {environment['torch']}"


def protocol_key(protocol: str) -> tuple[int, str]:
    """Known protocols in PROTOCOL_ORDER, any other after them by name."""
    known = protocol in PROTOCOL_ORDER
    return (PROTOCOL_ORDER.index(protocol) if known else len(PROTOCOL_ORDER), protocol)


def merged_quality() -> dict[str, dict]:
    """backbone -> summary whose protocols come from every current quality_*.json."""
    merged: dict[str, dict] = {}
    for path in sorted(RESULTS.glob("quality_*.json")):
        if path.name in SUPERSEDED:
            continue
        summary = json.loads(path.read_text())
        target = merged.setdefault(summary["backbone"], {**summary, "protocols": {}})
        for protocol, part in summary["protocols"].items():
            target["protocols"][protocol] = {
                **part, "source": source(path, summary["environment"]),
                "recipe": f"teacher_mix {summary['config']['distill'].get('teacher_mix', 1.0)}"}
    for summary in merged.values():
        summary["protocols"] = dict(sorted(summary["protocols"].items(),
                                           key=lambda kv: protocol_key(kv[0])))
    return merged


def merged_zoo() -> dict:
    backbones = {}
    for path in sorted(RESULTS.glob("zoo_*.json")):
        zoo = json.loads(path.read_text())
        for name, summary in zoo["backbones"].items():
            backbones[name] = {**summary["protocols"]["random"],
                               "source": source(path, zoo["environment"])}
    return backbones


def holds(delta: dict) -> bool:
    return delta["mean"] > 0 and delta["positive"] >= 0.8 * delta["seeds"]


def verdicts(quality: dict[str, dict]) -> list[str]:
    """One plain line per backbone and protocol: does the LM make the served model better
    than distillation without any LM? A difference holds when its mean is positive and it
    is positive in at least 4 of 5 seeds; where the no-LM twin of the blended teacher
    (ensemble_distilled) was measured, the LM is credited only if vanilla beats it too."""
    lines = []
    for backbone, summary in quality.items():
        for protocol, part in summary["protocols"].items():
            deltas = part["deltas"]
            self_d = deltas.get("vanilla - self_distilled")
            cross = deltas.get("vanilla - cross_distilled")
            ensemble = deltas.get("vanilla - ensemble_distilled")
            gain = deltas.get("gain - backbone")
            if self_d is None:
                continue
            if not holds(self_d):
                verdict = "**no measurable help**"
            elif ensemble and not holds(ensemble):
                verdict = ("**better than self-distillation, but not measurably better than "
                           "the same blended teacher without the LM**")
            else:
                verdict = "**the LM helps the served model**"
            text = (f"- {backbone}, {protocol}: {verdict}: vanilla - self_distilled "
                    f"{self_d['mean']:+.4f} AUC ({self_d['positive']}/{self_d['seeds']} seeds)")
            if cross:
                text += (f", vanilla - cross_distilled {cross['mean']:+.4f} "
                         f"({cross['positive']}/{cross['seeds']})")
            if ensemble:  # the LM's own share: the same blended teacher without the LM
                text += (f", vanilla - ensemble_distilled {ensemble['mean']:+.4f} "
                         f"({ensemble['positive']}/{ensemble['seeds']})")
            if gain:
                text += (f"; the gain network itself vs the backbone {gain['mean']:+.4f} "
                         f"({gain['positive']}/{gain['seeds']})")
            lines.append(text + ".")
    return lines


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


def backbone_ddp() -> list[Path]:
    """The backbone-only torchrun comparisons (ddp*.json, not the end-to-end one)."""
    return [p for p in sorted(RESULTS.glob("ddp*.json")) if p.name != "ddp_elec.json"]


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
                f"{data['what']})", "", "| rows | peak RSS | test AUC |", "|---|---|---|"]
        out += [f"| {int(rows):,} | {v['peak_rss_gib']:.2f} GiB | {v['test_auc']:.4f} |"
                for rows, v in data["sizes"].items()]
        out += ["", f"Growth from the smallest to the largest: "
                f"{data['growth_first_to_last']:+.0%} (target: under +50%, under 4 GiB).", ""]
    for path in backbone_ddp():
        data = json.loads(path.read_text())
        batch_norm = ("without batch norm" if "model.params.batch_norm=false" in data["overrides"]
                      else "with batch norm")
        out += [f"#### torchrun against one process ({source(path, data['environment'])}; "
                f"DeepFM {batch_norm} on {data['rows']:,} synthetic rows, gloo, "
                f"{data['seeds']} seeds)", "",
                "| processes | valid AUC | test AUC | seconds per run |", "|---|---|---|---|"]
        for processes, runs in data["runs"].items():
            seconds = sum(r["seconds"] for r in runs) / len(runs)
            out.append(f"| {processes} | {cell(data['valid_auc'][processes])} | "
                       f"{cell(data['test_auc'][processes])} | {seconds:.0f} |")
        diff = data["valid_auc_difference"]
        out += ["", f"Validation AUC, torchrun - one process, paired by seed: "
                f"{diff['mean']:+.4f} ± {diff['std']:.4f} (target: within 0.003); the same "
                f"fitted schema: {data['same_schema']}; the same results.json layout: "
                f"{data['same_results_layout']}.", ""]
    path = RESULTS / "ddp_elec.json"
    if path.is_file():
        data = json.loads(path.read_text())
        out += [f"#### ELEC end to end under torchrun against one process "
                f"({source(path, data['environment'])}; {data['rows']:,} synthetic rows on "
                f"shards, the bundled MiniLM, {data['nproc']} processes, gloo, one seed)", "",
                "| processes | seconds | " + " | ".join(
                    f"{m} test AUC" for m in data["runs"]["1"]["test_auc"]) + " |",
                "|---|---|" + "---|" * len(data["runs"]["1"]["test_auc"])]
        for processes, r in data["runs"].items():
            out.append(f"| {processes} | {r['seconds']:.0f} | " + " | ".join(
                f"{a:.4f}" for a in r["test_auc"].values()) + " |")
        out += ["", f"Pooled LM vectors of all {data['shards_encoded']} shards identical to "
                f"one process's, bit for bit: {data['same_lm_vectors']}; the same results.json "
                f"layout: {data['same_results_layout']}. The AUCs are one seed each (the ranks "
                f"see other batches): a check that every stage ran, not a comparison.", ""]
    path = RESULTS / "synth_quality.json"
    if path.is_file():
        data = json.loads(path.read_text())
        seeds = len(data["seeds"])
        out += [f"#### Where the LM pays on the synthetic table "
                f"({source(path, data['environment'])}; {data['rows']:,} rows, {seeds} seeds; "
                f"rare: test rows whose item has fewer "
                f"than {data['rare_below_training_rows']} training rows, "
                f"{data['rare_test_rows']:,} of {data['test_rows']:,}; achievable test AUC "
                f"{data['achievable_test_auc']:.4f})", "",
                "| rows | backbone | self_distilled | ensemble_distilled | gain | vanilla | "
                "vanilla - self_distilled | vanilla - ensemble_distilled | gain - backbone |",
                "|---|---|---|---|---|---|---|---|---|"]
        for rows in ("all", "rare"):
            part = data["summary"][rows]
            deltas = [part[k] for k in ("vanilla - self_distilled",
                                        "vanilla - ensemble_distilled", "gain - backbone")]
            out.append(f"| {rows} | " + " | ".join(cell(part[m]) for m in (
                "backbone", "self_distilled", "ensemble_distilled", "gain", "vanilla")) + " | "
                + " | ".join(f"{d['mean']:+.4f} ({d['positive']}/{seeds})" for d in deltas)
                + " |")
        out.append("")
    return (["### Scale", ""] + out) if out else []


def encoding_section() -> list[str]:
    path = RESULTS / "encoding.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    cfg = data["config"]
    out = [f"#### LM encoding on a CPU ({source(path, data['environment'])}, "
           f"{cfg['threads']} threads, {cfg['rows']:,} MovieLens texts in shards of "
           f"{cfg['chunk']:,})", "",
           "| precision | texts / s | vs fp32 | cosine to fp32 (mean / min) | lm_only test AUC |",
           "|---|---|---|---|---|"]
    for precision, t in data["throughput"].items():
        auc = data["lm_only"].get(precision, {}).get("auc")
        mean = t.get("mean_cosine_to_fp32")
        out.append(f"| {precision} | {t['samples_per_second']:.0f} | "
                   f"{t['speedup_vs_fp32']:.2f}x | "
                   f"{f'{mean:.4f}' if mean is not None else 'n/a'} / "
                   f"{t['min_cosine_to_fp32']:.4f} | "
                   f"{f'{auc:.4f}' if auc is not None else 'not run'} |")
    return out + [""]


def per_method(quality: dict[str, dict]) -> list[str]:
    parts = []
    for backbone, summary in quality.items():
        for protocol, part in summary["protocols"].items():
            one = {"protocols": {protocol: part}}
            parts += [f"### {backbone}, {protocol} split, {len(part['seeds'])} seeds "
                      f"({part['recipe']}; {part['source']})", "",
                      methods_table(one, protocol), "", deltas_table(one, protocol), ""]
    return parts


def lm_uses() -> list[tuple[str, str, dict]]:
    """(source, protocol, summary) of every benchmark of the other uses of the LM
    (lm_uses_*.json: elec bench quality with item_lm beside the backbone)."""
    out = []
    for path in sorted(RESULTS.glob("lm_uses_*.json")):
        summary = json.loads(path.read_text())
        for protocol in summary["protocols"]:
            out.append((source(path, summary["environment"]), protocol, summary))
    return out


def lm_uses_tables() -> list[str]:
    parts = []
    for where, protocol, summary in lm_uses():
        n = len(summary["protocols"][protocol]["seeds"])
        parts += [f"### {summary['backbone']}, {protocol} split, {n} seeds ({where})", "",
                  methods_table(summary, protocol), "", deltas_table(summary, protocol), ""]
    return (["## Other uses of the LM", "", "`item_lm`: the backbone with the LM vector of "
             "the item's own text (its title, genres, ...) as one more field; a new item has "
             "it from its text before its first row. `field_lm`: the backbone whose embedding "
             "of each value in the text adds the projected LM vector of the value's sentence "
             "(\"Occupation is writer.\"), served as a plain backbone. What was tried for new "
             "items is in [new-items.md](new-items.md).", "", *parts,
             *(["Is `field_lm`'s gain the LM's? Against a twin whose values' LM vectors are "
                "permuted (`python benchmarks/field_lm_control.py`):", "",
                *field_control_lines(docs=True), ""] if field_controls() else [])]
            ) if parts else []


LM_USES = {"item_lm": "the item-level LM vectors (`item_lm`)",
           "field_lm": "the field-level LM vectors (`field_lm`)",
           "vanilla_item": "ELEC's student with the item-level LM vectors (`vanilla_item`)"}


def field_controls() -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text()))
            for p in sorted(RESULTS.glob("field_lm_control_*.json"))]


def field_control_lines(docs: bool) -> list[str]:
    """field_lm against its twin whose values' LM vectors are permuted (no meaning)."""
    lines = []
    for path, data in field_controls():
        d = data["deltas"]
        where = f" ({source(path, data['environment'])})" if docs else ""
        lines.append(
            f"- {data['backbone']}, {data['protocol']}: `field_lm` - backbone "
            f"{d['field_lm - backbone']['mean']:+.4f} "
            f"({d['field_lm - backbone']['positive']}/{d['field_lm - backbone']['seeds']}); "
            f"its twin with the values' LM vectors permuted - backbone "
            f"{d['field_lm_shuffled - backbone']['mean']:+.4f} "
            f"({d['field_lm_shuffled - backbone']['positive']}/"
            f"{d['field_lm_shuffled - backbone']['seeds']}); the LM's meaning, `field_lm` - "
            f"twin: {d['field_lm - field_lm_shuffled']['mean']:+.4f} "
            f"({d['field_lm - field_lm_shuffled']['positive']}/"
            f"{d['field_lm - field_lm_shuffled']['seeds']}){where}.")
    return lines


def delta_of(quality: dict[str, dict], backbone: str, protocol: str, pair: str) -> dict | None:
    """A paired difference from the per-method file, else from an lm_uses file."""
    found = quality.get(backbone, {}).get("protocols", {}).get(protocol, {}).get(
        "deltas", {}).get(pair)
    for _, where, summary in lm_uses():
        if found is None and summary["backbone"] == backbone and where == protocol:
            found = summary["protocols"][protocol]["deltas"].get(pair)
    return found


def lm_uses_summary(quality: dict[str, dict], every_cell: bool = True) -> list[str]:
    """Each other use of the LM against the backbone and, where trained beside it, against
    ELEC's vanilla network (``every_cell``; the README has the table instead); the
    controls and the synthetic table."""
    lines = []
    cells = uses_cells(quality) if every_cell else {}
    for backbone, use in sorted(cells, key=lambda key: (key[0], list(LM_USES).index(key[1])
                                                        if key[1] in LM_USES else -1)):
        row = cells[backbone, use]
        if use not in LM_USES:
            continue
        for protocol, delta in sorted(row.items(), key=lambda kv: protocol_key(kv[0])):
            aim = ("; the aim on new items is +0.005 in every seed"
                   if protocol == "cold-item" else "")
            text = (f"- {backbone}, {protocol}: {LM_USES[use]} against the backbone "
                    f"{delta['mean']:+.4f} AUC ({delta['positive']}/{delta['seeds']} seeds{aim})")
            vanilla = delta_of(quality, backbone, protocol, f"{use} - vanilla")
            if vanilla:
                text += (f", against ELEC's vanilla network {vanilla['mean']:+.4f} "
                         f"({vanilla['positive']}/{vanilla['seeds']})")
            lines.append(text + ".")
    lines += field_control_lines(docs=False) + synth_item_lines()
    return (["Other uses of the LM:", "", *lines, ""]) if lines else []


def synth_item_lines() -> list[str]:
    """The item-level uses on the synthetic table, whose item titles carry part of the
    signal (synth_item_lm.json: benchmarks/synth_quality.py --methods backbone,item_lm,
    and where measured gain,vanilla,vanilla_item)."""
    path = RESULTS / "synth_item_lm.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    n, rare = len(data["seeds"]), data["rare_below_training_rows"]

    def delta(pair: str) -> str:
        d = {rows: data["summary"][rows][pair] for rows in ("all", "rare")}
        return (f"all rows {d['all']['mean']:+.4f} ({d['all']['positive']}/{n}), rows of "
                f"items with fewer than {rare} training rows {d['rare']['mean']:+.4f} "
                f"({d['rare']['positive']}/{n})")

    pairs = [("item_lm - backbone", "`item_lm` against the backbone"),
             ("vanilla_item - backbone", "`vanilla_item` against the backbone"),
             ("vanilla_item - vanilla", "`vanilla_item` against ELEC's vanilla network"),
             ("vanilla - backbone", "ELEC's vanilla network against the backbone")]
    found = [f"{what}: {delta(pair)}" for pair, what in pairs if pair in data["summary"]["all"]]
    return [f"- On the synthetic table, whose item titles carry part of the click signal "
            f"({data['rows']:,} rows, {n} seeds): " + "; ".join(found) + "."] if found else []


def item_dropout_results() -> list[tuple[Path, dict]]:
    """item_dropout_*.json: benchmarks/item_dropout.py, train.item_dropout per rate/split."""
    return [(p, json.loads(p.read_text())) for p in sorted(RESULTS.glob("item_dropout_*.json"))]


def item_dropout_section() -> list[str]:
    parts = []
    for path, data in item_dropout_results():
        protocols = sorted(data["protocols"], key=protocol_key)
        n = len(data["seeds"])
        for method in data["methods"]:
            parts += [f"#### {data['backbone']} `{method}`, test AUC by `train.item_dropout` "
                      f"({n} seeds; against the same method at rate 0: mean, seeds where "
                      f"higher; {source(path, data['environment'])})", "",
                      "| rate | " + " | ".join(f"{p} | vs 0" for p in protocols) + " |",
                      "|---" * (1 + 2 * len(protocols)) + "|"]
            for rate in (f"{r:g}" for r in data["rates"]):
                cells = []
                for p in protocols:
                    row = data["protocols"][p].get(rate, {}).get(method)
                    if row is None:
                        cells += ["", ""]
                        continue
                    delta = row["test - rate 0"]
                    cells += [f"{row['test']['mean']:.4f} ± {row['test']['std']:.4f}",
                              "" if rate == "0" else
                              f"{delta['mean']:+.4f} ({delta['positive']}/{delta['seeds']})"]
                parts.append(f"| {rate} | " + " | ".join(cells) + " |")
            parts += ["", f"`{data['command']}`", ""]
    return (["## New items: the item id read as unseen in training", "",
             "`train.item_dropout`: in that fraction of training rows (drawn anew every "
             "batch) every network reads the item id as the out-of-vocabulary id, the id a "
             "new item has at serving, and learns to score the row from its other fields. "
             "On the cold-item split every test item is new, on random none, on temporal "
             "some.", "", *parts]) if parts else []


def item_dropout_summary() -> list[str]:
    lines = []
    for _, data in item_dropout_results():
        if "backbone" not in data["methods"]:
            continue
        for rate in (f"{r:g}" for r in data["rates"][1:]):
            cells = []
            for p in sorted(data["protocols"], key=protocol_key):
                row = data["protocols"][p].get(rate, {}).get("backbone")
                if row:
                    d = row["test - rate 0"]
                    cells.append(f"{p} {d['mean']:+.4f} ({d['positive']}/{d['seeds']})")
            lines.append(f"- {data['backbone']} backbone, `train.item_dropout: {rate}` "
                         f"against 0: " + ", ".join(cells) + ".")
    return (["New items, no LM: the item id read as unseen in a fraction of training rows "
             "(test AUC against the same backbone trained without it; seeds where higher):",
             "", *lines, ""]) if lines else []


USES = [("vanilla", "ELEC's vanilla network (the LM in training only)"),
        ("item_lm", "`item_lm`: an LM vector per item, looked up at serving"),
        ("field_lm", "`field_lm`: an LM vector per field value, folded into the embeddings"),
        ("vanilla_item", "`vanilla_item`: ELEC's student with the item's LM vector, looked up"),
        ("item_dropout 0.2", "no LM: `train.item_dropout: 0.2`")]


def uses_cells(quality: dict[str, dict]) -> dict[tuple[str, str], dict[str, dict]]:
    """(backbone, use) -> protocol -> the use's paired test-AUC difference from the backbone
    trained beside it (same seeds, same file)."""
    cells: dict[tuple[str, str], dict[str, dict]] = {}
    for backbone, summary in quality.items():
        for protocol, part in summary["protocols"].items():
            for use in ("vanilla", *LM_USES):
                if f"{use} - backbone" in part["deltas"]:
                    cells.setdefault((backbone, use), {})[protocol] = \
                        part["deltas"][f"{use} - backbone"]
    for _, protocol, summary in lm_uses():  # where the per-method file lacks the use
        methods = summary["protocols"][protocol]["methods"]
        for use in LM_USES:
            if use in methods:
                cells.setdefault((summary["backbone"], use), {}).setdefault(protocol, paired(
                    methods[use]["test"]["auc"]["values"],
                    methods["backbone"]["test"]["auc"]["values"]))
    for _, data in item_dropout_results():
        for protocol, rates in data["protocols"].items():
            if "0.2" in rates and "backbone" in rates["0.2"]:
                cells.setdefault((data["backbone"], "item_dropout 0.2"), {})[protocol] = \
                    rates["0.2"]["backbone"]["test - rate 0"]
    return cells


def uses_table(quality: dict[str, dict]) -> list[str]:
    """Which use of the LM pays where: each served model against the backbone."""
    cells = uses_cells(quality)
    if not any(use != "vanilla" for _, use in cells):
        return []
    protocols = sorted({p for row in cells.values() for p in row}, key=protocol_key)
    lines = ["| backbone | served model | " + " | ".join(protocols) + " |",
             "|---" * (2 + len(protocols)) + "|"]
    for backbone in sorted({b for b, _ in cells}):
        for use, what in USES:
            row = cells.get((backbone, use))
            if row:
                lines.append(f"| {backbone} | {what} | " + " | ".join(
                    f"{row[p]['mean']:+.4f} ({row[p]['positive']}/{row[p]['seeds']})"
                    if p in row else "" for p in protocols) + " |")
    return ["Which use of the LM pays where (test AUC against the backbone trained beside it, "
            "MovieLens-100K, mean over seeds and the seeds where higher; every figure's file "
            "is in docs/results.md). The vanilla network's row includes what distillation "
            "gives without any LM; the verdicts above separate the two:", "", *lines, ""]


def missing(quality: dict[str, dict]) -> list[str]:
    return [f"{b} {p}" for b, p in EXPECTED if p not in quality.get(b, {}).get("protocols", {})]


HOW = """Measured with `elec bench quality` on MovieLens-100K: 5 seeds, every method of a
seed trained from its own generator seeded with that seed, so differences are paired;
the split is fixed (split seed 2024); seeds change initialisation, dropout and batch
order. `self_distilled` and `cross_distilled` (a DCNv2 teacher for DeepFM, a DNN for
DCNv2; no LM anywhere) are the controls: the LM's own contribution to the served model
is `vanilla - self_distilled` and `vanilla - cross_distilled`, not `vanilla - backbone`.
`ensemble_distilled` is the no-LM twin of the default teacher (the cross teacher
blended with the backbone by the same `distill.teacher_mix`). `vanilla_score` /
`vanilla_repr` are ELEC with only the score-level / only the representation-level
distillation term."""


def not_current(quality: dict[str, dict]) -> list[str]:
    """What the verdicts above do not yet rest on the current code for."""
    out = []
    if missing(quality):
        out += ["Not yet measured with the current code: " + ", ".join(missing(quality)) + "."]
    earlier = [f"{backbone} {protocol}" for backbone, summary in quality.items()
               for protocol, part in summary["protocols"].items()
               if "before the new CPU dropout draws" in part["source"]]
    if earlier:
        out += ["Trained before the CPU dropout's new random draws (the same method, other "
                "draws; to be measured again): " + ", ".join(earlier) + "."]
    one_split = [f"{backbone} {protocol}" for backbone, summary in quality.items()
                 for protocol in summary["protocols"] if protocol.startswith("cold-item")]
    if one_split:  # which items are new moves cold-item deltas more than the training seed
        out += ["On one split seed only (cold-item figures want 3 split seeds x 5 training "
                "seeds): " + ", ".join(one_split) + "."]
    return out + [""] if out else []


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
    out += ["", *(f"New items into {method}'s table (`POST /items` of `elec serve --add-items`, "
                  f"or `elec items add`: texts through the LM, the bundle rewritten; the LM "
                  f"loaded once, {cost['lm_load_s']:.1f} s): " + ", ".join(
                      f"{n} at a time {cost[n]['median_s'] * 1000:,.0f} ms"
                      for n in cost if n != "lm_load_s") + " (median of 3)."
                  for method, cost in adding)]
    return [*out, ""]


def results_page(quality: dict[str, dict]) -> str:
    parts = ["# Results", "", "*Generated by `python benchmarks/report.py` from "
             "`benchmarks/results/`; do not edit by hand. Each table names its result file, "
             "its machine and the commit that stored it.*", "", HOW, "",
             "## Where the language model pays", "", *verdicts(quality), ""]
    parts += not_current(quality)
    parts += ["## Per method", "", *per_method(quality)]
    if quality:
        parts += ["![test AUC per method](../benchmarks/results/quality.png)", ""]
    parts += (uses_table(quality) + lm_uses_summary(quality) + lm_uses_tables()
              + item_dropout_section())
    parts += ["## Serving, speed and other measurements", ""]
    latency_path = RESULTS / "latency.json"
    if latency_path.is_file():
        parts += latency_section(json.loads(latency_path.read_text()), quality)
    parts += serving_cost_section()
    zoo = merged_zoo()
    if zoo:
        parts += ["#### Every backbone, random split (test AUC, mean ± std; paired deltas with "
                  f"the number of seeds they hold in; {PREDATES['zoo']})", "", zoo_table(zoo),
                  ""]
    parts += recipe_section() + fuxictr_section() + encoding_section() + scale_section()
    parts += ["## Earlier measurements", "",
              "Kept in `benchmarks/results/`, not shown: they do not describe the current "
              "code.", ""]
    parts += [f"- `{name}` (commit {committed(RESULTS / name)}): {why}."
              for name, why in SUPERSEDED.items()]
    return "\n".join(parts) + "\n"


def readme_section(quality: dict[str, dict]) -> str:
    parts = [BEGIN, "", "*Generated by `python benchmarks/report.py`; every table, with its "
             "machine and commit, is in [docs/results.md](docs/results.md).*", "",
             "Where the language model pays (a paired difference counts as help when its "
             "mean is positive and it holds in at least 4 of 5 seeds; where the same "
             "blended teacher without the LM, `ensemble_distilled`, was measured, the "
             "served model must beat it too):", "", *verdicts(quality), ""]
    parts += not_current(quality)
    if quality:
        parts += ["![test AUC per method](benchmarks/results/quality.png)", ""]
    parts += (uses_table(quality) + lm_uses_summary(quality, every_cell=False)
              + item_dropout_summary() + scale_summary())
    parts.append(END)
    return "\n".join(parts)


def scale_summary() -> list[str]:
    """One line per scale measurement, for the README."""
    lines = []
    path = RESULTS / "synth_quality.json"
    if path.is_file():
        data = json.loads(path.read_text())
        n = len(data["seeds"])
        d = {rows: data["summary"][rows] for rows in ("all", "rare")}
        lines.append(
            f"- On the synthetic table with item titles ({data['rows']:,} rows), the gain "
            f"network beats the backbone on all rows by {d['all']['gain - backbone']['mean']:+.4f}"
            f" ({d['all']['gain - backbone']['positive']}/{n}) and on rare items' rows by "
            f"{d['rare']['gain - backbone']['mean']:+.4f} "
            f"({d['rare']['gain - backbone']['positive']}/{n}); the served vanilla network "
            f"against the same blended teacher without the LM: "
            f"{d['all']['vanilla - ensemble_distilled']['mean']:+.4f} "
            f"({d['all']['vanilla - ensemble_distilled']['positive']}/{n}) and "
            f"{d['rare']['vanilla - ensemble_distilled']['mean']:+.4f} "
            f"({d['rare']['vanilla - ensemble_distilled']['positive']}/{n}).")
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
                      else "with batch norm, per rank on CPU")
        lines.append(f"- torchrun (2 processes, gloo), DeepFM {batch_norm}, against one "
                     f"process: validation AUC {diff['mean']:+.4f} ± {diff['std']:.4f} over "
                     f"{data['seeds']} seeds.")
    return (["At scale:", "", *lines, ""]) if lines else []


EXAMPLE = re.compile(r"<!-- example:begin -->.*?<!-- example:end -->", re.S)


def example_section() -> str:
    """The README's worked example: the test AUCs of its one run (example_shop.json,
    the results.json of `elec run -c shop.yaml --out runs/shop`)."""
    path = RESULTS / "example_shop.json"
    data = json.loads(path.read_text())
    aucs = ", ".join(f"`{name}` {m['test']['auc']:.4f}" for name, m in data["methods"].items())
    methods = data["methods"]
    lm = methods["vanilla"]["test"]["auc"] - methods["self_distilled"]["test"]["auc"]
    return (f"<!-- example:begin -->\n`elec run` ended, in one run with the config's seed "
            f"({machine(data['environment'])}; `{path.name}`, commit {committed(path)}), "
            f"with these test AUCs on 2,000 rows: {aucs}. The language model reads the "
            f"product titles, whose words carry part of the click signal; the served "
            f"`vanilla` network is {lm:+.4f} from the no-LM `self_distilled` control"
            + (", within one seed's noise (about ±0.003): on this table the distillation, "
               "not the LM, accounts for most of its gain over the backbone" if abs(lm) < 0.003
               else " in this one run; `elec bench quality` tells whether it holds over seeds")
            + ".\n<!-- example:end -->")


def main() -> None:
    quality = merged_quality()
    if quality:
        quality_figure(quality, RESULTS / "quality.png")
    (ROOT / "docs" / "results.md").write_text(results_page(quality))
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: readme_section(quality), text)
    readme.write_text(EXAMPLE.sub(lambda _: example_section(), text))
    print(f"docs/results.md and the README's summary regenerated from {RESULTS}")


if __name__ == "__main__":
    main()
