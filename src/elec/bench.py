"""Quality benchmark: every method over several seeds and protocols, with paired deltas.

Each (protocol, seed) is one ordinary resumable run (``elec run``) in its own
directory, so an interrupted benchmark continues where it stopped, and every
method inside a run starts from a generator seeded with the run's seed: the
difference between two methods at the same seed is a paired comparison.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from elec.config import RunConfig
from elec.data.splits import EVALUATED
from elec.data.store import write_json
from elec.machine import environment
from elec.methods import METHODS
from elec.pipeline import run
from elec.ui import Reporter

PAIRS = [("vanilla", "backbone"), ("vanilla", "self_distilled"),
         ("vanilla", "cross_distilled"), ("vanilla", "ensemble_distilled"), ("gain", "backbone"),
         ("ensemble_distilled", "self_distilled"), ("item_lm", "backbone"),
         ("item_lm", "vanilla"), ("field_lm", "backbone"), ("field_lm", "vanilla"),
         ("vanilla_item", "backbone"), ("vanilla_item", "vanilla"), ("vanilla_item", "item_lm"),
         ("words", "backbone"), ("item_lm", "words"), ("vanilla_item", "words"),
         *((m, c) for m in ("item_gen", "vanilla_gen", "vanilla_tail", "tail_gen")
           for c in ("backbone", "words", "ensemble_distilled", "vanilla")),
         ("vanilla_tail", "ensemble_tail"), ("ensemble_tail", "ensemble_distilled")]
METRICS = ("auc", "logloss", "gauc")
SLICES = ("rare", "new")  # test rows of rare and of new items (``Run.sliced``)


def stats(values: Sequence[float]) -> dict:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return {"mean": float(np.mean(finite)) if finite else None,
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0,
            "values": list(values)}


def paired(a: Sequence[float], b: Sequence[float]) -> dict:
    """Seed-by-seed differences a - b: mean, std, values, how many are positive."""
    diff = [x - y for x, y in zip(a, b, strict=True)]
    return {**stats(diff), "positive": sum(d > 0 for d in diff), "seeds": len(diff)}


def summarise(per_seed: dict[int, dict]) -> dict:
    """Mean and std per method and metric, and paired deltas (same seed) of test AUC."""
    seeds = sorted(per_seed)
    names = [m for m in METHODS if all(m in per_seed[s] for s in seeds)]
    methods = {}
    for name in names:
        methods[name] = {split: {metric: stats([per_seed[s][name][split].get(metric)
                                                 for s in seeds])
                                 for metric in METRICS}
                         for split in EVALUATED}
        methods[name]["serves_llm"] = METHODS[name].serves_llm
        methods[name]["test_slices"] = {part: stats(aucs) for part in SLICES
                                        if (aucs := _sliced(per_seed, seeds, name, part))}
    deltas: dict = {}
    for a, b in PAIRS:
        if a in methods and b in methods:
            deltas[f"{a} - {b}"] = paired([per_seed[s][a]["test"]["auc"] for s in seeds],
                                          [per_seed[s][b]["test"]["auc"] for s in seeds])
            for part in SLICES:
                if (x := _sliced(per_seed, seeds, a, part)) and \
                        (y := _sliced(per_seed, seeds, b, part)):
                    deltas[f"{a} - {b}"][part] = paired(x, y)
    return {"seeds": seeds, "methods": methods, "deltas": deltas}


def _sliced(per_seed: dict[int, dict], seeds: list[int], name: str, part: str
            ) -> list[float] | None:
    """``name``'s test AUC on a slice in every seed (None: some seed lacks it)."""
    aucs = [((per_seed[s][name].get("test_slices") or {}).get(part) or {}).get("auc")
            for s in seeds]
    return None if None in aucs else aucs


def exit_with_parent(interval: float = 1.0) -> None:
    """In a worker process: exit when the process that started it is gone (killed, or
    stopped by a signal that skips clean-up), instead of training on as an orphan. Its
    run resumes with the next `elec bench`."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _one_run(job: tuple[RunConfig, Path, int]) -> tuple[int, dict]:
    cfg, out, threads = job
    if threads:
        torch.set_num_threads(threads)
    return cfg.seed, run(cfg, out, Reporter(out / "log.txt", quiet=True))["methods"]


def quality(cfg: RunConfig, seeds: Sequence[int], protocols: Sequence[str], out: Path,
            methods: Sequence[str] = tuple(METHODS), jobs: int = 1, warm: bool = True,
            log: Callable[[str], None] = print) -> dict:
    """Run ``methods`` for every seed and protocol; write and return the summary.

    With ``jobs`` > 1 the runs go to parallel processes; ``warm`` runs the very first
    one alone, so that the LM encodes each text once into the shared vector cache.
    """
    out = Path(out)
    summary = {"backbone": cfg.model.name, "llm": cfg.llm.name, "protocols": {},
               "config": cfg.to_dict(), "environment": environment()}
    # on a GPU the workers only launch kernels: one CPU thread each is enough
    threads = 1 if torch.cuda.is_available() else max(1, (os.cpu_count() or 1) // jobs)
    for protocol in protocols:
        data = cfg.data.model_copy(update={"split": protocol})
        runs = [(cfg.model_copy(update={"seed": seed, "methods": list(methods), "data": data}),
                 out / cfg.model.name / protocol / f"seed-{seed}", 0) for seed in seeds]
        log(f"{cfg.model.name} / {protocol}: {len(runs)} seeds, methods {', '.join(methods)}")
        per_seed: dict[int, dict] = {}
        if jobs > 1 and warm:
            per_seed.update([_one_run(runs.pop(0))])
            warm = False
        if jobs > 1 and runs:
            context = torch.multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(jobs, mp_context=context,
                                     initializer=exit_with_parent) as pool:
                per_seed.update(pool.map(_one_run, [(c, o, threads) for c, o, _ in runs]))
        else:
            per_seed.update(_one_run(r) for r in runs)
        summary["protocols"][protocol] = summarise(per_seed)
        for pair, delta in summary["protocols"][protocol]["deltas"].items():
            log(f"  {pair}: {delta['mean']:+.4f} AUC, positive in "
                f"{delta['positive']}/{delta['seeds']} seeds")
        # written after every protocol, so an interrupted benchmark keeps what it measured
        write_json(out / f"quality_{cfg.model.name}.json", summary)
    return summary
