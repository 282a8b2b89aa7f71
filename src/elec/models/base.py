"""The backbone contract: ``forward(field_embeddings) -> (logit, representation)``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from torch import nn


class BackboneParams(BaseModel):
    """Hyper-parameters of one backbone; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class Backbone(nn.Module):
    """A CTR model over stacked field embeddings.

    Built from the number of fields and the embedding size, so the gain network is
    the same class with one more field. ``representation`` is the last hidden
    vector before the output layer (``repr_dim`` wide): what representation-level
    distillation matches.
    """

    Params: ClassVar[type[BackboneParams]] = BackboneParams
    repr_dim: int
    # forward(x: (batch, fields, dim)) -> logit (batch,), representation (batch, repr_dim)
