"""A variant's run against the default's, paired by seed, without retraining the controls.

    python benchmarks/pair_variant.py BASE.json VARIANT.json [--name NAME]

BASE and VARIANT are `elec bench quality` summaries of the same backbone, protocol and
seeds; VARIANT changed the gain side or the vanilla network's teacher only (its own gain
and vanilla networks) and may have left out the controls, which depend on neither: it
reuses BASE's `self_distilled`, `cross_distilled` and `ensemble_distilled`, after
checking that the
`backbone` both trained is the same network (same test AUC at every seed: runs are
deterministic on one machine, so a mismatch means the two are not paired). Writes
benchmarks/results/<NAME>.json with the variant's paired deltas and its differences
from the default, per protocol.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elec import paired, stats, write_json

RESULTS = Path(__file__).parent / "results"
CONTROLS = ("backbone", "self_distilled", "cross_distilled", "ensemble_distilled")


def test_aucs(part: dict, method: str) -> list[float]:
    return part["methods"][method]["test"]["auc"]["values"]


def compare(base: dict, variant: dict) -> dict:
    out = {}
    for protocol, part in variant["protocols"].items():
        ref = base["protocols"][protocol]
        if part["seeds"] != ref["seeds"]:
            raise SystemExit(f"{protocol}: seeds {part['seeds']} vs {ref['seeds']}")
        if test_aucs(part, "backbone") != test_aucs(ref, "backbone"):
            raise SystemExit(f"{protocol}: the two backbones differ, so the runs are not paired")
        vanilla = test_aucs(part, "vanilla")
        deltas = {f"vanilla - {c}": paired(vanilla, test_aucs(ref, c))
                  for c in CONTROLS if c in ref["methods"]}
        deltas["gain - backbone"] = paired(test_aucs(part, "gain"), test_aucs(ref, "backbone"))
        deltas["vanilla - default vanilla"] = paired(vanilla, test_aucs(ref, "vanilla"))
        deltas["gain - default gain"] = paired(test_aucs(part, "gain"), test_aucs(ref, "gain"))
        out[protocol] = {"seeds": part["seeds"], "deltas": deltas,
                         "vanilla": stats(vanilla), "gain": stats(test_aucs(part, "gain"))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("variant", type=Path)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    base, variant = (json.loads(p.read_text()) for p in (args.base, args.variant))
    result = {"base": args.base.name, "backbone": variant["backbone"],
              "variant_config": variant["config"], "environment": variant["environment"],
              "protocols": compare(base, variant)}
    write_json(RESULTS / f"{args.name}.json", result)
    for protocol, part in result["protocols"].items():
        for pair, d in part["deltas"].items():
            print(f"{protocol}: {pair}: {d['mean']:+.4f} ({d['positive']}/{d['seeds']})")


if __name__ == "__main__":
    main()
