"""The gain network scoring raw rows with its LM in the loop: what serving ELEC's teacher
would cost per request (render each row, the LM, the adapter, the network), which the
served students avoid. Read from a finished run directory; nothing is exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from elec.config import RunConfig
from elec.data.batches import Columns
from elec.data.encoder import RowEncoder
from elec.data.schema import FeatureSchema
from elec.distill.networks import LLM_VECTOR, GainNetwork
from elec.llm.adapter import Adapter
from elec.llm.encoder import TextEncoder
from elec.rundir import RunDir
from elec.text.render import render_rows, text_fields, truncate


class GainScorer:
    """``scorer(rows)``: click probabilities of the run's gain network for raw rows (dicts
    of field values), each row rendered and put through the LM on the CPU."""

    def __init__(self, run_dir: str | Path):
        run_dir = Path(run_dir)
        cfg = RunConfig.model_validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
        run = RunDir(run_dir, lambda _: None)
        for name in ("lm_only", "gain"):
            if run.finished(name) is None:
                raise FileNotFoundError(f"{run_dir} has no finished {name!r} network: run "
                                        f"`elec run` with the gain method first")
        schema = FeatureSchema.load(run_dir / "schema.json")
        self.encoder = TextEncoder(cfg.llm, device="cpu")
        self.adapter = Adapter(self.encoder.dim, cfg.adapter)
        self.adapter.load_state_dict(run.load("lm_only"))
        self.gain = GainNetwork(schema, cfg.model, cfg.adapter.dim, cfg.gain)
        self.gain.load_state_dict(run.load("gain"))
        self.adapter.eval()
        self.gain.eval()
        self.rows = RowEncoder(schema)
        self.fields = text_fields(cfg.fields, cfg.text)
        self.summarise = truncate(cfg.text.max_chars)

    @torch.inference_mode()
    def __call__(self, rows: list[dict]) -> np.ndarray:
        texts = render_rows(rows, self.fields, self.summarise)
        vector = self.adapter(torch.from_numpy(self.encoder.encode(texts)))[1]
        batch = Columns.from_encoded(self.rows.encode_rows(rows), np.zeros(len(rows))
                                     ).with_extra(**{LLM_VECTOR: vector})
        return torch.sigmoid(self.gain(batch)[0]).numpy()
