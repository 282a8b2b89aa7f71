"""Name -> backbone class. Adding a backbone: one file and one line here."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from elec.config import ConfigError
from elec.models.base import Backbone
from elec.models.dcnv2 import DCNv2
from elec.models.deepfm import DeepFM
from elec.models.dnn import DNN

BACKBONES: dict[str, type[Backbone]] = {
    "dnn": DNN,
    "deepfm": DeepFM,
    "dcnv2": DCNv2,
}


def build_backbone(name: str, num_fields: int, dim: int, params: dict[str, Any]) -> Backbone:
    if name not in BACKBONES:
        raise ConfigError(f"model.name {name!r} is not a known backbone; choose one of: "
                          f"{', '.join(BACKBONES)}")
    cls = BACKBONES[name]
    try:
        typed = cls.Params.model_validate(params)
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"model.params for {name!r}: {details}") from None
    return cls(num_fields, dim, typed)
