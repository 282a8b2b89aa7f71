"""How each kind of method puts its untrained network together (``Kind.network`` of the
method table): from the run's schema and settings, the inputs the kind reads (LM
vectors, words) and, where it learns from one, its trained teacher.

A builder reads the run only through ``Builds``; the method it builds is a row of the
table (``elec.methods.Method``: its ``build``, ``teacher``, ``cross``, ``lookup``).
"""

from __future__ import annotations

from typing import Any, Protocol

from torch import nn

from elec.config import DistillConfig, ModelConfig, RunConfig
from elec.data.prepare import Prepared
from elec.distill.generated import GeneratedNetwork
from elec.distill.networks import (
    FieldNetwork,
    GainNetwork,
    PlainNetwork,
    VanillaNetwork,
    WordsNetwork,
)


class Builds(Protocol):
    """What a builder reads of a run (``elec.pipeline.Run``)."""

    cfg: RunConfig
    data: Prepared
    lm: Any  # elec.inputs.LMInputs: the LM vectors and words beside the rows

    def network(self, name: str) -> nn.Module:
        """A trained network of the method table (a teacher)."""
        ...

    def distill(self, method: Any) -> DistillConfig:
        """The distillation settings of a student."""
        ...


def method_model(cfg: RunConfig, method: Any) -> ModelConfig:
    """The backbone a method trains: the run's, or for the cross teacher
    ``distill.cross_teacher`` (dnn when that is the run's own backbone)."""
    if not method.cross:
        return cfg.model
    name = cfg.distill.cross_teacher
    return type(cfg.model)(name="dnn" if name == cfg.model.name else name,
                           embedding_dim=cfg.model.embedding_dim)


def plain(run: Builds, method: Any) -> nn.Module:
    return PlainNetwork(run.data.schema, method_model(run.cfg, method))


def gain(run: Builds, method: Any) -> nn.Module:
    """The backbone with the adapted LM vector v as one more field."""
    return GainNetwork(run.data.schema, run.cfg.model, run.cfg.adapter.dim, run.cfg.gain)


def item(run: Builds, method: Any) -> nn.Module:
    """The backbone with the LM vector of the item's text as one more field."""
    return GainNetwork(run.data.schema, run.cfg.model, run.lm.item_dim, run.cfg.gain)


def words(run: Builds, method: Any) -> nn.Module:
    return WordsNetwork(run.data.schema, run.cfg.model, run.lm.item_words()[2], run.cfg.gain)


def generated(run: Builds, method: Any) -> nn.Module:
    """The teacher's trained network, its item embeddings blended with generated ones by
    each item's training rows."""
    column = run.cfg.data.item_column
    return GeneratedNetwork(run.network(method.teacher).network, run.lm.item_dim,
                            run.data.schema.single_column(column),
                            run.data.rows_per_item(column))


def field(run: Builds, method: Any) -> nn.Module:
    return FieldNetwork(run.data.schema, run.cfg.model, *run.lm.values())


def student(run: Builds, method: Any) -> nn.Module:
    """A backbone distilled from the teacher's scores and representation (with the item's
    LM vector where the method looks it up)."""
    return VanillaNetwork(run.data.schema, run.cfg.model,
                          run.network(method.teacher).network.repr_dim, run.distill(method),
                          (run.lm.item_dim, run.cfg.gain) if method.lookup else None)


def stage1(run: Builds, method: Any) -> nn.Module:
    raise TypeError("stage 1 (lm_only) is the adapter, trained and loaded by elec.llm.stage1")
