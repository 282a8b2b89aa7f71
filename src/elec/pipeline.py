"""``elec run``: ELEC end to end, method by method, resumable.

    data -> stage 1: LM vectors, adapter (lm_only), cross-fitted v
         -> stage 2: gain network (backbone + v)
         -> stage 3: vanilla network (backbone distilled from the gain network)
         -> controls, ablations, the other uses of the LM (rows of the method
            table: item_lm, field_lm) -> results.json

A method trains after what it depends on, each from a generator seeded with the run
seed, so its result does not depend on which methods ran before it (comparisons are
paired by seed). Every finished method is recorded in the run directory; the same
command run again skips what is done.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from elec.config import DistillConfig, RunConfig
from elec.data.prepare import Prepared, prepare
from elec.data.shards import prepare_shards, sharded
from elec.data.store import write_json
from elec.inputs import LMInputs
from elec.llm.stage1 import shared_dir
from elec.machine import environment, resolve_device
from elec.methods import (
    METHODS,
    Method,
    dependencies,
    item_methods,
    reads_llm,
)
from elec.planner import plan
from elec.plots import training_curves
from elec.rundir import RunDir
from elec.runnable import check_run, defaults_left_out, item_id_problem
from elec.text.items import item_texts
from elec.text.render import render_table
from elec.train import distributed
from elec.train.metrics import evaluate
from elec.train.trainer import predict_logits, sigmoid
from elec.ui import Reporter


class Run:
    """The methods of one run directory: trained on demand, recorded, reloaded."""

    def __init__(self, cfg: RunConfig, out: Path, reporter: Reporter):
        self.cfg, self.reporter, self.log = cfg, reporter, reporter.log
        self.device = resolve_device(cfg.train.device)
        distributed.start(self.device)  # under torchrun: join the process group
        self.device = distributed.local_device(self.device)
        self.sharded = sharded(cfg)
        left, why = defaults_left_out(cfg, self.sharded, distributed.world())  # checks names
        if why:
            self.cfg = cfg = self._without_items(cfg, why, left)
        check_run(cfg, self.sharded, distributed.world())
        self.dir = RunDir(out, self.log, reporter.note)
        if distributed.is_main():  # the main rank writes; the others read what it wrote
            self.dir.begin(cfg)
            self.data = self._prepare(out)
            self.dir.adopt(self.data.schema, self.data.digest)
        distributed.barrier()
        if not distributed.is_main():
            self.data = self._prepare(out)
        self.records: dict[str, dict] = {}
        self.networks: dict[str, nn.Module] = {}
        self.lm = LMInputs(cfg, self.data, self.dir, self.device, reporter,
                           lambda: self.finished("lm_only"), self.sharded)

    def _prepare(self, out: Path) -> Prepared:
        cfg = self.cfg
        render = partial(render_table, specs=cfg.fields, cfg=cfg.text)
        if self.sharded:  # texts are rendered into the shards when a method reads an LM
            lm = any(reads_llm(METHODS[m]) for m in cfg.methods)
            return prepare_shards(cfg, out / "shards", self.device, self.reporter.every(),
                                  self.log, render if lm else None)
        items = any(METHODS[m].lookup for m in cfg.methods)
        # the default methods' item ones are left out where no field describes an item
        required = "methods" in cfg.model_fields_set
        data = prepare(cfg, render, self.device, self.log,
                       item_texts(cfg, required) if items else None,
                       keep_tables=any(METHODS[m].tail for m in cfg.methods))
        if items and data.item_texts is None:
            self.cfg = self._without_items(cfg, "no field describes an item by itself (name "
                                                "them in text.item_fields)",
                                           item_methods(cfg.methods))
        return data

    def _without_items(self, cfg: RunConfig, why: str, left: list[str]) -> RunConfig:
        self.log(f"{', '.join(left)} left out of the default methods: {why}")
        return cfg.model_copy(update={"methods": [m for m in cfg.methods if m not in left]})

    def method(self, method: str | Method) -> dict:
        """A method's record: from this process, from the run directory, or trained now.
        ``method`` is a row of the table, or one derived from it (another name and
        distillation settings: a variant recorded beside the table's methods)."""
        method = METHODS[method] if isinstance(method, str) else method
        if method.name in self.records:
            return self.records[method.name]
        record = self._finished(method)
        if record is None:
            for needed in dependencies(method, self.distill(method).teacher_mix):
                self.method(needed)
            record, checkpoints = self.train(method)
            record["test_slices"] = self.sliced(method)
            if distributed.is_main():
                self.dir.save(method.name, record, checkpoints)
            distributed.barrier()
            if method.kind.shared and not self.sharded:
                self.dir.share(shared_dir(self.cfg, self.data.digest), method.name)
            test = record["test"]
            self.log(f"{method.name}: test AUC {test['auc']:.4f}  logloss {test['logloss']:.4f}")
        self.records[method.name] = record
        return record

    def distill(self, method: Method) -> DistillConfig:
        return self.cfg.distill.model_copy(update=method.distill)

    def train(self, method: Method) -> tuple[dict, dict[str, dict[str, Tensor]]]:
        """Train one method, as its kind trains (``elec.stages``); its record and
        checkpoints (name -> tensors)."""
        return method.kind.train(self, method)

    def _finished(self, method: Method) -> dict | None:
        """A finished method's record; stage 1 (in memory) may come from the shared cache
        of runs that differ only downstream of it."""
        record = self.dir.finished(method.name)
        if record is None and method.kind.shared and not self.sharded:
            # the key hashes the LM's files: only when it may pay
            record = self.dir.take_shared(shared_dir(self.cfg, self.data.digest), method.name)
        return record

    # ------------------------------------------------------------------ trained networks
    def finished(self, name: str) -> dict:
        """The record of ``name``, which must have trained (``method`` trains a method and
        what it needs): reading a network, or what it reads, never trains one."""
        if name not in self.records:
            if (record := self._finished(METHODS[name])) is None:
                raise RuntimeError(f"{name} has not trained in {self.dir.path}; "
                                   f"Run.method({name!r}) trains it and what it needs")
            self.records[name] = record
        return self.records[name]

    def network(self, name: str) -> nn.Module:
        """A trained network of the method table, from memory or its checkpoint."""
        if name not in self.networks:
            self.finished(name)
            network = self.untrained(METHODS[name])
            network.load_state_dict(self.dir.load(name))
            self.networks[name] = network.to(self.device).eval()
        return self.networks[name]

    def untrained(self, method: Method) -> nn.Module:
        """An untrained network of ``method``, as its kind builds it (``elec.builders``)."""
        return method.kind.network(self, method)

    def sliced(self, method: Method) -> dict | None:
        """Test AUC of a just trained ``method`` on the rows of items with under
        ``distill.tail_below`` training rows and of new items (None on shards, without an
        item column, or for stage 1), with how many rows each slice holds."""
        if self.sharded or item_id_problem(self.cfg) or not method.kind.scores_rows:
            return None
        slices = self.data.item_slices(self.cfg.data.item_column, self.cfg.distill.tail_below)
        labels = self.data.columns["test"].label.cpu().numpy()
        p = sigmoid(self.logits(method, "test"))
        aucs = {s: evaluate(labels[rows], p[rows])["auc"] for s, rows in slices.items()
                if rows.any()}
        return {s: {"auc": auc, "rows": int(slices[s].sum())} for s, auc in aucs.items()
                if np.isfinite(auc)}  # a slice with rows of both labels

    def logits(self, method: str | Method, split: str) -> np.ndarray:
        """A trained network's logits on one split (benchmarks compare them row by row);
        ``method`` a name of the table, or a trained variant."""
        method = METHODS[method] if isinstance(method, str) else method
        network = self.network(method.name)
        return predict_logits(network.logit, network, self.lm.rows(method)[split])


def run(cfg: RunConfig, out: Path, reporter: Reporter | None = None) -> dict:
    """Train ``cfg.methods`` (and what they need) in ``out``; write and return results."""
    out = Path(out)
    if reporter is None:  # under torchrun, the main rank speaks and logs
        reporter = (Reporter(out / "log.txt") if distributed.is_main()
                    else Reporter(quiet=True))
    with reporter:
        pipeline = Run(cfg, out, reporter)
        cfg = pipeline.cfg  # the default methods less those the data cannot run
        for step in plan(cfg)[0]:
            pipeline.method(step.method)
        summary = {
            "methods": {name: {"what": METHODS[name].what,
                               "serves_llm": METHODS[name].serves_llm,
                               **pipeline.records[name]}
                        for name in cfg.methods},
            "config": cfg.to_dict(),
            "lm_texts": dict(reporter.texts),  # in this invocation (a resumed run: its share)
            "environment": environment(),
        }
        if distributed.is_main():
            write_json(out / "results.json", summary)
            training_curves(summary, out / "curves.png")
    return summary
