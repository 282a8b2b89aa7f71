"""How each kind of method trains (``Kind.train`` of the method table): stage 1 (the LM's
adapter and every row's vector), a closed form (the generated item rows), or the
training loop, a student's on its teacher's targets. Each returns the method's record
and its checkpoints (name -> tensors).

A stage reads the run only through ``Trains``; whatever the method needs has trained
before it is called (``Run.method`` walks the dependencies): a stage reads trained
networks and never trains one.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from elec.builders import Builds
from elec.data.splits import TAIL
from elec.distill.generated import GeneratedNetwork, served_item_rows
from elec.distill.networks import projection_apart
from elec.distill.tail import tail_rows
from elec.distill.targets import distillation_rows
from elec.llm.finetune import finetuned_stage1
from elec.llm.stage1 import frozen_stage1
from elec.machine import seed_everything
from elec.models.item_rows import generated_checkpoint
from elec.text.items import ITEMS
from elec.text.render import render_table
from elec.train.fit import evaluate_splits, fit_network, parameter_count
from elec.train.trainer import Trainer, item_dropout
from elec.ui import Reporter

Trained = tuple[dict, dict[str, dict[str, Tensor]]]  # its record, its checkpoints


class Trains(Builds, Protocol):
    """What a stage reads of a run (``elec.pipeline.Run``), beyond what a builder
    reads."""

    device: torch.device
    reporter: Reporter
    networks: dict[str, nn.Module]  # trained in this process (teachers, for students)
    dir: Any  # elec.rundir.RunDir: the run directory

    def untrained(self, method: Any) -> nn.Module:
        """``method``'s network as its kind builds it."""
        ...


def stage1(run: Trains, method: Any) -> Trained:
    """lm_only and every row's vector; on shards, v is written beside them, not
    checkpointed."""
    cfg = run.cfg
    result = (frozen_stage1(run.data, cfg, run.device, run.reporter, run.lm.vectors_dir)
              if cfg.adapter.mode == "frozen" else  # lora, full: the LM in the loop
              finetuned_stage1(run.data, cfg, run.device, run.reporter,
                               run.dir.path / "checkpoints"))
    vectors = {} if result.vectors is None else {"llm_vectors": result.vectors}
    return result.record, {"lm_only": result.weights, **vectors}


def fitted(run: Trains, method: Any, targets: Any = None) -> Trained:
    """The training loop, on the labels, or on what ``targets`` gives the rows (a
    student's: ``distilled``)."""
    cfg = run.cfg
    generator = seed_everything(cfg.seed)
    trainer = Trainer(cfg.train, run.reporter.log, run.reporter.bar,
                      augment=item_dropout(cfg, run.data.schema))
    columns, tail = run.lm.rows(method), {}
    if targets is not None:
        columns, tail = targets(run, method, columns)
        generator = seed_everything(cfg.seed)
    network = run.untrained(method).to(run.device)
    param_groups = (projection_apart(network, cfg.gain.projection_weight_decay)
                    if method.projects_lm else None)
    record = fit_network(method.name, network, columns, run.data.groups, trainer, generator,
                         param_groups, network.network if method.wrapped else None)
    record |= tail
    run.networks[method.name] = network  # teachers are read by their students
    checkpoints = {method.name: network.state_dict()}
    if method.lookup:  # what its bundle looks up
        checkpoints[ITEMS.format(method.name)] = run.lm.item_checkpoint(method)
    return record, checkpoints


def distilled(run: Trains, method: Any) -> Trained:
    """The training loop of a student, on its teacher's targets."""
    return fitted(run, method, _targets)


def _targets(run: Trains, method: Any, columns: dict) -> tuple[dict, dict]:
    """A student's rows: the training rows (and for a tail student, synthetic rows of
    the rare items) with its teacher's targets; what the tail cost, for the record."""
    distill = run.distill(method)
    blended = method.blend and distill.teacher_mix < 1.0
    teacher = run.lm.rows(method.taught_by)
    tail: dict = {}
    if method.tail:
        columns, teacher, tail = _tail(run, method, columns, teacher)
    train = distillation_rows(run.network(method.teacher), teacher, columns,
                              run.network("backbone") if blended else None,
                              distill.teacher_mix, run.dir.path / "targets" / method.name)
    return {**{s: c for s, c in columns.items() if s != TAIL}, "train": train}, tail


def _tail(run: Trains, method: Any, columns: dict, teacher: dict) -> tuple[dict, dict, dict]:
    """The student's rows and its teacher's, each with the synthetic rows of the rare
    items as one more split; and what they cost, for the record."""
    before = dict(run.reporter.texts)
    render = partial(render_table, specs=run.cfg.fields, cfg=run.cfg.text)
    rows, texts, draw = tail_rows(run.data, run.cfg, render)
    if len(rows):  # none: no item is rare, the student learns as vanilla does
        view = run.lm.tail_view(method.taught_by, rows, texts)
        columns, teacher = {**columns, TAIL: rows}, {**teacher, TAIL: view}
    spent = {k: n - before[k] for k, n in run.reporter.texts.items()}
    d = run.cfg.distill
    run.reporter.log(f"{method.name}: {len(rows):,} synthetic rows of {draw.items:,} items "
                     f"with under {d.tail_below} training rows ({draw.wanted:,} wanted, budget "
                     f"{d.tail_budget:,}); LM texts {spent['encoded']:,} encoded, "
                     f"{spent['from_cache']:,} from the cache")
    return columns, teacher, {"tail": {"rows": len(rows), "items": draw.items,
                                       "wanted": draw.wanted, "lm_texts": spent}}


def generated(run: Trains, method: Any) -> Trained:
    """item_gen: its generator fitted to the trained backbone, no training loop; its
    settings chosen on the validation rows."""
    start = time.perf_counter()
    seed_everything(run.cfg.seed)
    columns = run.lm.rows(method)
    network: GeneratedNetwork = run.untrained(method).to(run.device)
    valid = {"valid": columns["valid"]}

    def score() -> float:
        return evaluate_splits(network.logit, network, valid, {"valid": None},
                               ("valid",))["valid"]["auc"]

    with torch.no_grad():
        scores = network.fit(columns["train"], score)
    record = {**evaluate_splits(network.logit, network, columns, run.data.groups),
              "parameters": parameter_count(network.network), "best_epoch": 0,
              "train_seconds": round(time.perf_counter() - start, 2), "history": [],
              "valid_auc_by_setting": scores, "prior": network.prior.item()}
    run.networks[method.name] = network
    return record, {method.name: network.state_dict(),
                    ITEMS.format(method.name): _item_rows(run, network, columns)}


def _item_rows(run: Trains, network: GeneratedNetwork, columns: dict) -> dict[str, Tensor]:
    """What the bundle of a method whose item rows come from text is made of: the rows
    of every item the run saw, new ones' ids, and the generator for later ones."""
    items = run.data.item_texts
    size = run.data.schema.single[network.item_slot].size
    with torch.no_grad():
        rows, keys = served_item_rows(network.eval(), size, columns, items.ids)
        return generated_checkpoint(rows, keys, items.fields, run.lm.llm_settings(),
                                    network.generator())
