"""CTR backbones over a shared embedding layer; nothing here knows about language models."""

from elec.models.network import CTRNetwork
from elec.models.registry import BACKBONES, build_backbone

__all__ = ["BACKBONES", "CTRNetwork", "build_backbone"]
