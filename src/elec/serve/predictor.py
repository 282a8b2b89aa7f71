"""Raw rows in, click probabilities out: the vanilla network and its encoders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from safetensors.torch import load_file

from elec.config import ModelConfig
from elec.data.encoder import EncodedFeatures, RowEncoder
from elec.data.schema import FeatureSchema
from elec.models import CTRNetwork
from elec.serve.bundle import BundleError, read_manifest
from elec.serve.module import ServingModule

RUNTIMES = ("eager", "torchscript")


class Predictor:
    """``Predictor.from_bundle(path).predict_proba(rows)``."""

    def __init__(self, module: torch.nn.Module, schema: FeatureSchema, manifest: dict):
        self.module = module.eval()
        self.schema = schema
        self.manifest = manifest
        self.encoder = RowEncoder(schema)

    @classmethod
    def from_bundle(cls, bundle: str | Path, runtime: str = "eager") -> Predictor:
        """runtime: eager (safetensors weights) or torchscript (the exported graph)."""
        if runtime not in RUNTIMES:
            raise BundleError(f"runtime {runtime!r} is not one of: {', '.join(RUNTIMES)}")
        bundle = Path(bundle)
        manifest = read_manifest(bundle)
        if runtime == "torchscript" and not (bundle / "model.torchscript").is_file():
            raise BundleError(f"{bundle} has no TorchScript graph; export it with "
                              f"`elec export RUN --out {bundle} --format torchscript --force`, "
                              f"or serve with --runtime eager")
        schema = FeatureSchema.load(bundle / "schema.json")
        if runtime == "torchscript":
            module = torch.jit.load(str(bundle / "model.torchscript"))
        else:
            network = CTRNetwork(schema, ModelConfig.model_validate(manifest["model"]))
            network.load_state_dict(load_file(str(bundle / "model.safetensors")))
            module = ServingModule(network, [f.max_len for f in schema.multi])
        return cls(module, schema, manifest)

    def predict_proba(self, rows: Sequence[dict]) -> np.ndarray:
        """Probabilities of a click, float32 (len(rows),)."""
        if not rows:
            return np.zeros(0, dtype=np.float32)
        return self._probabilities(self.encoder.encode_rows(rows))

    def predict_table(self, table: pa.Table | pa.RecordBatch) -> np.ndarray:
        """``predict_proba`` of a table's rows (column by column: the same encodings)."""
        if not table.num_rows:
            return np.zeros(0, dtype=np.float32)
        return self._probabilities(self.encoder.encode_table(table))

    @torch.inference_mode()
    def _probabilities(self, features: EncodedFeatures) -> np.ndarray:
        return self.module(torch.from_numpy(features.single),
                           torch.from_numpy(features.multi_matrix())).numpy()
