"""The per-method quality files (quality_*.json): merged per backbone, their tables and
the verdicts on where the LM pays."""

from __future__ import annotations

import json

from elec import deltas_table, methods_table
from reporting.sources import RESULTS, holds, protocol_key, source

# the per-method grid every release should have measured with its own code
EXPECTED = [(backbone, protocol) for backbone in ("deepfm", "dcnv2")
            for protocol in ("random", "temporal", "temporal-pool", "cold-item", "cold-item-pool")]


def merged_quality() -> dict[str, dict]:
    """backbone -> summary whose protocols come from every current quality_*.json."""
    merged: dict[str, dict] = {}
    for path in sorted(RESULTS.glob("quality_*.json")):
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


HELPS = "the LM helps the served model"
NOT_THE_LM = ("better than self-distillation, but not measurably better than the same "
              "blended teacher without the LM")
NO_HELP = "no measurable help"


def verdict(deltas: dict) -> str | None:
    """Does the LM make the served model better than distillation without any LM? A
    difference holds when its mean is positive and it is positive in at least 4 of 5
    seeds; where the no-LM twin of the blended teacher (ensemble_distilled) was measured,
    the LM is credited only if vanilla beats it too. None: no self_distilled control."""
    self_d = deltas.get("vanilla - self_distilled")
    ensemble = deltas.get("vanilla - ensemble_distilled")
    if self_d is None:
        return None
    if not holds(self_d):
        return NO_HELP
    return NOT_THE_LM if ensemble and not holds(ensemble) else HELPS


def verdicts(quality: dict[str, dict]) -> list[str]:
    """One plain line per backbone and protocol: its verdict and the differences behind it."""
    lines = []
    for backbone, summary in quality.items():
        for protocol, part in summary["protocols"].items():
            deltas = part["deltas"]
            found = verdict(deltas)
            if found is None:
                continue
            self_d = deltas["vanilla - self_distilled"]
            text = (f"- {backbone}, {protocol}: **{found}**: vanilla - self_distilled "
                    f"{self_d['mean']:+.4f} AUC ({self_d['positive']}/{self_d['seeds']} seeds)")
            for pair in ("vanilla - cross_distilled", "vanilla - ensemble_distilled"):
                if pair in deltas:  # ensemble: the same blended teacher without the LM
                    text += (f", {pair} {deltas[pair]['mean']:+.4f} "
                             f"({deltas[pair]['positive']}/{deltas[pair]['seeds']})")
            gain = deltas.get("gain - backbone")
            if gain:
                text += (f"; the gain network itself vs the backbone {gain['mean']:+.4f} "
                         f"({gain['positive']}/{gain['seeds']})")
            lines.append(text + ".")
    return lines


def verdict_tally(quality: dict[str, dict]) -> list[str]:
    """The verdicts counted: one sentence over every backbone x split cell."""
    cells: dict[str, list[str]] = {HELPS: [], NOT_THE_LM: [], NO_HELP: []}
    for backbone, summary in quality.items():
        for protocol, part in summary["protocols"].items():
            found = verdict(part["deltas"])
            if found:
                cells[found].append(f"{backbone} {protocol}")
    total = sum(map(len, cells.values()))
    if not total:
        return []
    counted = "; ".join(f"{what} in {len(where)}" + (f" ({', '.join(where)})" if where else "")
                        for what, where in cells.items())
    return [f"In short, over {total} backbone x split cells: {counted}.", ""]


def per_method(quality: dict[str, dict]) -> list[str]:
    parts = []
    for backbone, summary in quality.items():
        for protocol, part in summary["protocols"].items():
            one = {"protocols": {protocol: part}}
            parts += [f"### {backbone}, {protocol} split, {len(part['seeds'])} seeds "
                      f"({part['recipe']}; {part['source']})", "",
                      methods_table(one, protocol), "", deltas_table(one, protocol), ""]
    return parts


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
