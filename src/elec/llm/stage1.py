"""Stage 1: adapt a language model to CTR, and give every row its LM vector ``v``.

    texts --LM (frozen, cached)--> pooled h --transformation--> v --prediction--> logit

``lm_only`` is the adapter trained on all training rows. The vectors the gain network
reads are cross-fitted: every row's ``v`` comes from an adapter that never trained on
its label (valid and test rows are spread over the same fold adapters, so every split
draws from one mixture of adapters). With ``adapter.mode`` lora or full, the LM itself
is in the loop (``elec.llm.finetune``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch
from torch import Tensor

from elec import __version__
from elec.config import RunConfig, TrainConfig
from elec.data.prepare import Prepared
from elec.data.store import elec_home
from elec.environment import seed_everything
from elec.llm.adapter import LLM_HIDDEN, Adapter
from elec.llm.cache import VectorCache
from elec.llm.encoder import ENCODING_VERSION, INT8_SCHEME, TextEncoder, model_digest
from elec.train import distributed
from elec.train.fit import evaluate_splits, parameter_count
from elec.train.trainer import Trainer
from elec.ui import Reporter


def cache_key(cfg: RunConfig, data_digest: str) -> str:
    """What stage 1 depends on, by content: the data (rows, labels, texts), the LM's
    files, how they are encoded, the adapter and the seed; not the backbone, so runs
    that differ only downstream share one trained stage 1."""
    key = {"data": data_digest,
           "llm": {**cfg.llm.model_dump(mode="json"), "name": model_digest(cfg.llm.name)},
           "adapter": cfg.adapter.model_dump(mode="json"), "seed": cfg.seed,
           "patience": cfg.train.patience, "elec": __version__,
           "encoding": ENCODING_VERSION, "int8": INT8_SCHEME}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class Stage1:
    record: dict  # lm_only's metrics
    weights: dict[str, Tensor]  # lm_only's checkpoint
    vectors: dict[str, Tensor]  # split -> v of every row (cross-fitted)


def encode_texts(data: Prepared, cfg: RunConfig, device: torch.device,
                 reporter: Reporter) -> dict[str, Tensor]:
    """split -> pooled last hidden states h of every row's text, through the vector cache
    (under torchrun every rank encodes its share of the missing texts)."""
    encoder = TextEncoder(cfg.llm, str(device) if device.type == "cuda" else None)
    cache = VectorCache(elec_home() / "vectors", encoder.fingerprint, reporter.log)
    everything = [text for split in data.splits for text in data.texts[split]]
    advance = reporter.bar(f"LM encoding ({encoder.precision})", len(everything))
    vectors = torch.from_numpy(cache.vectors(
        everything, lambda chunk: encoder.encode(chunk, advance), cfg.llm.shard_size,
        distributed.rank(), distributed.world(), distributed.barrier))
    reporter.log(f"LM vectors: {cache.computed:,} texts encoded, {cache.reused:,} from the "
                 f"cache ({cache.dir})")
    sizes = [len(data.texts[split]) for split in data.splits]
    return {split: part.to(device) for split, part in
            zip(data.splits, torch.split(vectors, sizes), strict=True)}


def adapter_trainer(cfg: RunConfig, reporter: Reporter, lm_in_the_loop: bool = False
                    ) -> Trainer:
    """The trainer of stage 1: the adapter's settings, or with the LM in the loop (lora,
    full) its batch size and epochs."""
    a = cfg.adapter
    batch, epochs = (a.lm_batch_size, a.lm_epochs) if lm_in_the_loop else (a.batch_size,
                                                                          a.max_epochs)
    return Trainer(TrainConfig(lr=a.lr, batch_size=batch, max_epochs=epochs,
                               patience=cfg.train.patience), reporter.log, reporter.bar,
                   eval_batch_size=4 * batch if lm_in_the_loop else 8192)


def train_adapter(name: str, data: Prepared, hidden: dict[str, Tensor], cfg: RunConfig,
                  reporter: Reporter, train_rows: Tensor | None = None) -> Adapter:
    """An adapter on the training rows (``train_rows`` of them), early-stopped on valid."""
    train = data.columns["train"].with_extra(**{LLM_HIDDEN: hidden["train"]})
    if train_rows is not None:
        train = train.take(train_rows)
    valid = data.columns["valid"].with_extra(**{LLM_HIDDEN: hidden["valid"]})
    generator = seed_everything(cfg.seed)
    adapter = Adapter(hidden["train"].shape[1], cfg.adapter).to(hidden["train"].device)
    adapter_trainer(cfg, reporter).fit(name, adapter, adapter.loss, adapter.logit, train, valid,
                                       generator)
    return adapter


def folds(data: Prepared, cfg: RunConfig) -> dict[str, Tensor]:
    """The cross-fitting fold of every row of every split, drawn from the run seed."""
    generator = torch.Generator().manual_seed(cfg.seed)
    drawn = {split: torch.randint(0, cfg.adapter.folds, (len(data.columns[split]),),
                                  generator=generator) for split in data.splits}
    return {split: fold.to(data.columns[split].label.device) for split, fold in drawn.items()}


def cross_fitted_vectors(full: Adapter, data: Prepared, hidden: dict[str, Tensor],
                         cfg: RunConfig, reporter: Reporter) -> dict[str, Tensor]:
    """Every row's v from the adapter of its fold, trained on the other folds' rows."""
    a = cfg.adapter
    if a.leak_guard == "none":
        return {split: full.vectors(hidden[split]) for split in data.splits}
    fold_of = folds(data, cfg)
    out = {split: torch.zeros(hidden[split].shape[0], a.dim, device=hidden[split].device)
           for split in data.splits}
    for fold in range(a.folds):
        others = torch.nonzero(fold_of["train"] != fold).squeeze(1)
        adapter = train_adapter(f"adapter fold {fold + 1}/{a.folds}", data, hidden, cfg,
                                reporter, others)
        for split in data.splits:
            rows = torch.nonzero(fold_of[split] == fold).squeeze(1)
            out[split][rows] = adapter.vectors(hidden[split][rows])
    return out


def frozen_stage1(data: Prepared, cfg: RunConfig, device: torch.device,
                  reporter: Reporter) -> Stage1:
    """The paper's default: the LM fixed, its pooled vectors computed once and cached."""
    hidden = encode_texts(data, cfg, device, reporter)
    adapter = train_adapter("lm_only", data, hidden, cfg, reporter)
    columns = {s: data.columns[s].with_extra(**{LLM_HIDDEN: hidden[s]}) for s in data.splits}
    record = {**evaluate_splits(adapter.logit, adapter, columns, data.groups),
              "parameters": parameter_count(adapter)}
    vectors = cross_fitted_vectors(adapter, data, hidden, cfg, reporter)
    return Stage1(record, adapter.state_dict(), vectors)
