"""The LM through ONNX Runtime (``llm.runtime: onnx``): frozen encoding on the CPU with
attention, LayerNorm and GELU fused, and int8 weights where ``llm.precision`` is int8.

The LM is exported once per model (by the digest of its files) and precision into
elec's home, ``onnx/``; ONNX Runtime's transformer optimiser fuses the architectures it
knows (BERT-like encoders such as MiniLM, GPT-2, ...); other models run with its generic
graph optimisations. int8 is ONNX Runtime's dynamic quantisation of every MatMul
(weights int8 per output channel, activations quantised on the fly).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from elec.data.store import elec_home

# Cache-key name of the int8 scheme below: a change to the scheme must change it.
ONNX_INT8_SCHEME = "ort-dynamic-int8-per-channel"
PRECISIONS = ("fp32", "int8")


def onnx_file(digest: str, precision: str) -> Path:
    return elec_home() / "onnx" / f"{digest[:20]}-{precision}.onnx"


def export(model: torch.nn.Module, tokenizer, path: Path, precision: str) -> None:
    """Write ``model`` (a Hugging Face base model, fp32) to ``path`` as an ONNX graph from
    token ids and attention mask to the last hidden states, optimised, int8 if asked."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    config = model.config
    model.set_attn_implementation("eager")  # the attention pattern the optimiser fuses
    config.use_cache = False

    class LastHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lm = model

        def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
            return self.lm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    example = tokenizer(["a b c", "a b"], padding=True, return_tensors="pt")
    inputs = (example["input_ids"], example["attention_mask"])
    level = logging.getLogger().level
    axes = {"batch": 0, "tokens": 1}
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp, warnings.catch_warnings():
            plain, fused = Path(tmp) / "plain.onnx", Path(tmp) / "fused.onnx"
            warnings.simplefilter("ignore")  # the exporter's tracer warnings: shapes are dynamic
            torch.onnx.export(LastHidden().eval(), inputs, str(plain),
                              input_names=["input_ids", "attention_mask"],
                              output_names=["hidden"], opset_version=17, dynamo=False,
                              dynamic_axes={n: {i: a for a, i in axes.items()}
                                            for n in ("input_ids", "attention_mask", "hidden")})
            if config.model_type in optimizer.MODEL_TYPES:
                optimizer.optimize_model(
                    str(plain), model_type=config.model_type,
                    num_heads=config.num_attention_heads,
                    hidden_size=config.hidden_size).save_model_to_file(str(fused))
            else:
                fused = plain
            if precision == "int8":
                logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process first
                quantize_dynamic(str(fused), str(Path(tmp) / "int8.onnx"), per_channel=True,
                                 weight_type=QuantType.QInt8,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
                fused = Path(tmp) / "int8.onnx"
            fused.replace(path)  # whole or not at all: a killed export leaves no file
    finally:
        logging.getLogger().setLevel(level)  # as before, whether the export ends or fails


class OnnxLM:
    """Token ids and mask -> last hidden states (a torch tensor), via ONNX Runtime."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: Tensor, attention_mask: Tensor, **_: Tensor) -> Tensor:
        """(The graph reads no token type ids: a single text's are all zero.)"""
        feeds = {"input_ids": input_ids.numpy().astype(np.int64),
                 "attention_mask": attention_mask.numpy().astype(np.int64)}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def onnx_lm(model: torch.nn.Module, tokenizer, digest: str, precision: str) -> OnnxLM:
    """The ONNX Runtime session of ``model`` at ``precision``, exported on first use."""
    if precision not in PRECISIONS:
        raise ValueError(f"llm.runtime=onnx runs precision fp32 or int8, not {precision!r}")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ImportError("llm.runtime=onnx needs ONNX Runtime: pip install 'elec[onnx]'") \
            from None
    path = onnx_file(digest, precision)
    if not path.exists():
        export(model, tokenizer, path, precision)
    return OnnxLM(path)
