"""Name -> backbone class. Adding a backbone: one file and one line here."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from elec.errors import ConfigError
from elec.models.autoint import AutoIntPlus
from elec.models.base import Backbone
from elec.models.dcn import DCN
from elec.models.dcnv2 import DCNv2
from elec.models.deepfm import DeepFM
from elec.models.dnn import DNN
from elec.models.fibinet import FiBiNET
from elec.models.finalmlp import FinalMLP
from elec.models.fm import FM
from elec.models.fwfm import FwFM
from elec.models.lr import LR
from elec.models.nfm import NFM
from elec.models.pnn import PNN
from elec.models.widedeep import WideDeep
from elec.models.xdeepfm import XDeepFM

BACKBONES: dict[str, type[Backbone]] = {
    "lr": LR,
    "fm": FM,
    "fwfm": FwFM,
    "dnn": DNN,
    "widedeep": WideDeep,
    "deepfm": DeepFM,
    "pnn": PNN,
    "nfm": NFM,
    "xdeepfm": XDeepFM,
    "dcn": DCN,
    "dcnv2": DCNv2,
    "autoint": AutoIntPlus,
    "fibinet": FiBiNET,
    "finalmlp": FinalMLP,
}


def build_backbone(name: str, num_fields: int, dim: int, params: dict[str, Any]) -> Backbone:
    if name not in BACKBONES:
        raise ConfigError(f"model.name {name!r} is not a known backbone; choose one of: "
                          f"{', '.join(BACKBONES)}")
    cls = BACKBONES[name]
    try:
        typed = cls.Params.model_validate(params)
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}"
            f"{e['msg'].removeprefix('Value error, ')}" for e in error.errors())
        raise ConfigError(f"model.params for {name!r}: {details}") from None
    return cls(num_fields, dim, typed)
