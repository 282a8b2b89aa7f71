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

import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from elec.config import DistillConfig, RunConfig
from elec.data.prepare import Prepared, prepare
from elec.data.shards import prepare_shards, sharded
from elec.data.splits import TAIL
from elec.data.store import write_json
from elec.distill.generated import GeneratedNetwork, served_item_rows
from elec.distill.networks import projection_apart
from elec.distill.tail import tail_rows
from elec.distill.targets import distillation_rows
from elec.llm.finetune import finetuned_stage1
from elec.llm.inputs import LMInputs
from elec.llm.stage1 import frozen_stage1, shared_dir
from elec.machine import environment, resolve_device, seed_everything
from elec.methods import (
    METHODS,
    Method,
    dependencies,
    item_methods,
    reads_llm,
)
from elec.models.item_rows import generated_checkpoint
from elec.planner import plan
from elec.report.plots import training_curves
from elec.rundir import RunDir
from elec.runnable import check_run, defaults_left_out, item_id_problem
from elec.text.items import ITEMS, item_texts
from elec.text.render import render_table
from elec.train import distributed
from elec.train.fit import evaluate_splits, fit_network, parameter_count
from elec.train.metrics import evaluate
from elec.train.trainer import Trainer, item_dropout, predict_logits, sigmoid
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
            if method.build == "stage1" and not self.sharded:
                self.dir.share(shared_dir(self.cfg, self.data.digest), method.name)
            test = record["test"]
            self.log(f"{method.name}: test AUC {test['auc']:.4f}  logloss {test['logloss']:.4f}")
        self.records[method.name] = record
        return record

    def distill(self, method: Method) -> DistillConfig:
        return self.cfg.distill.model_copy(update=method.distill)

    # ------------------------------------------------------------------ the stages
    def train(self, method: Method) -> tuple[dict, dict[str, dict[str, Tensor]]]:
        """Train one method; its record and checkpoints (name -> tensors)."""
        cfg, data = self.cfg, self.data
        if method.build == "stage1":  # on shards, v is written beside them, not checkpointed
            stage1 = (frozen_stage1(data, cfg, self.device, self.reporter, self.lm.vectors_dir)
                      if cfg.adapter.mode == "frozen" else  # lora, full: the LM in the loop
                      finetuned_stage1(data, cfg, self.device, self.reporter,
                                       self.dir.path / "checkpoints"))
            vectors = {} if stage1.vectors is None else {"llm_vectors": stage1.vectors}
            return stage1.record, {"lm_only": stage1.weights, **vectors}
        generator = seed_everything(cfg.seed)
        trainer = Trainer(cfg.train, self.log, self.reporter.bar,
                          augment=item_dropout(cfg, data.schema))
        columns, tail = self.lm.rows(method), {}
        if method.build == "student":  # a student of method.teacher, on its targets
            distill = self.distill(method)
            blended = method.blend and distill.teacher_mix < 1.0
            teacher = self.lm.rows(METHODS[method.teacher])
            if method.tail:
                columns, teacher, tail = self._tail(method, columns, teacher)
            train = distillation_rows(self.network(method.teacher), teacher, columns,
                                      self.network("backbone") if blended else None,
                                      distill.teacher_mix, self.dir.path / "targets" / method.name)
            columns = {**{s: c for s, c in columns.items() if s != TAIL}, "train": train}
            generator = seed_everything(cfg.seed)
        network = self._untrained(method).to(self.device)
        if method.build == "generated":  # a closed form, its settings chosen on valid
            return self._generated(method, network, columns)
        param_groups = (projection_apart(network, cfg.gain.projection_weight_decay)
                        if method.projects_lm else None)
        record = fit_network(method.name, network, columns, data.groups, trainer, generator,
                             param_groups, network.network if method.wrapped else None)
        record |= tail
        self.networks[method.name] = network  # teachers are read by their students
        checkpoints = {method.name: network.state_dict()}
        if method.lookup:  # what its bundle looks up
            checkpoints[ITEMS.format(method.name)] = self.lm.item_checkpoint(method)
        return record, checkpoints

    def _tail(self, method: Method, columns: dict, teacher: dict) -> tuple[dict, dict, dict]:
        """The student's rows and its teacher's, each with the synthetic rows of the rare
        items as one more split; and what they cost, for the record."""
        before = dict(self.reporter.texts)
        render = partial(render_table, specs=self.cfg.fields, cfg=self.cfg.text)
        rows, texts, draw = tail_rows(self.data, self.cfg, render)
        if len(rows):  # none: no item is rare, the student learns as vanilla does
            view = self.lm.tail_view(METHODS[method.teacher], rows, texts)
            columns, teacher = {**columns, TAIL: rows}, {**teacher, TAIL: view}
        spent = {k: n - before[k] for k, n in self.reporter.texts.items()}
        d = self.cfg.distill
        self.log(f"{method.name}: {len(rows):,} synthetic rows of {draw.items:,} items with "
                 f"under {d.tail_below} training rows ({draw.wanted:,} wanted, budget "
                 f"{d.tail_budget:,}); LM texts {spent['encoded']:,} encoded, "
                 f"{spent['from_cache']:,} from the cache")
        return columns, teacher, {"tail": {"rows": len(rows), "items": draw.items,
                                           "wanted": draw.wanted, "lm_texts": spent}}

    def _generated(self, method: Method, network: GeneratedNetwork, columns: dict
                   ) -> tuple[dict, dict[str, dict[str, Tensor]]]:
        """item_gen: its generator fitted to the trained backbone, no training loop."""
        start = time.perf_counter()
        valid = {"valid": columns["valid"]}

        def score() -> float:
            return evaluate_splits(network.logit, network, valid, {"valid": None},
                                   ("valid",))["valid"]["auc"]

        with torch.no_grad():
            scores = network.fit(columns["train"], score)
        record = {**evaluate_splits(network.logit, network, columns, self.data.groups),
                  "parameters": parameter_count(network.network), "best_epoch": 0,
                  "train_seconds": round(time.perf_counter() - start, 2), "history": [],
                  "valid_auc_by_setting": scores, "prior": network.prior.item()}
        self.networks[method.name] = network
        return record, {method.name: network.state_dict(),
                        ITEMS.format(method.name): self._item_rows(network, columns)}

    def _item_rows(self, network: GeneratedNetwork, columns: dict) -> dict[str, Tensor]:
        """What the bundle of a method whose item rows come from text is made of: the rows
        of every item the run saw, new ones' ids, and the generator for later ones."""
        items = self.data.item_texts
        size = self.data.schema.single[network.item_slot].size
        with torch.no_grad():
            rows, keys = served_item_rows(network.eval(), size, columns, items.ids)
            return generated_checkpoint(rows, keys, items.fields, self.lm.llm_settings(),
                                        network.generator())

    def _finished(self, method: Method) -> dict | None:
        """A finished method's record; stage 1 (in memory) may come from the shared cache
        of runs that differ only downstream of it."""
        record = self.dir.finished(method.name)
        if record is None and method.build == "stage1" and not self.sharded:
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
            network = self._untrained(METHODS[name])
            network.load_state_dict(self.dir.load(name))
            self.networks[name] = network.to(self.device).eval()
        return self.networks[name]

    def _untrained(self, method: Method) -> nn.Module:
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
