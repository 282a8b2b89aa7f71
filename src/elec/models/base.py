"""The backbone contract: ``forward(field_embeddings) -> (logit, representation)``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from torch import nn


class BackboneParams(BaseModel):
    """Hyper-parameters of one backbone; unknown keys are an error, and so are sizes
    (every integer: widths, layers, heads) below 1 and dropout rates outside [0, 1)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _sizes_and_rates(self) -> BackboneParams:
        for name, value in self:
            values = value if isinstance(value, list) else [value]
            if name.startswith("dropout"):
                if not all(0.0 <= v < 1.0 for v in values):
                    raise ValueError(f"{name} must be in [0, 1), got {value}")
            elif (all(isinstance(v, int) and not isinstance(v, bool) for v in values)
                  and (not values or min(values) < 1)):
                raise ValueError(f"{name} must be one or more sizes of at least 1, got {value}")
        return self


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
