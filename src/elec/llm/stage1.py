"""Stage 1: adapt a language model to CTR, and give every row its LM vector ``v``.

    texts --LM (frozen, cached)--> pooled h --transformation--> v --prediction--> logit

``lm_only`` is the adapter trained on all training rows. The vectors the gain network
reads are cross-fitted: every row's ``v`` comes from an adapter that never trained on
its label (valid and test rows are spread over the same fold adapters, so every split
draws from one mixture of adapters). With ``adapter.mode`` lora or full, the LM itself
is in the loop (``elec.llm.finetune``; the pipeline picks one by ``adapter.mode``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from elec import __version__
from elec.config import LLMConfig, RunConfig, TrainConfig
from elec.data.batches import Columns, Rows
from elec.data.prepare import Prepared
from elec.data.schema import FeatureSchema
from elec.data.sharded import ShardedColumns, part_file, save_array
from elec.data.store import elec_home
from elec.errors import DataError
from elec.llm.adapter import LLM_HIDDEN, Adapter
from elec.llm.budget import ABSENT, spread, within_budget
from elec.llm.cache import VectorCache, encoding_estimate
from elec.llm.encoder import (
    ENCODING_VERSION,
    TextEncoder,
    encoding_device,
    int8_scheme,
    model_digest,
)
from elec.llm.shard_vectors import encode_shards
from elec.machine import seed_everything
from elec.text.items import value_texts
from elec.train import distributed
from elec.train.fit import fit_network
from elec.train.trainer import Trainer
from elec.ui import Reporter


def cache_key(cfg: RunConfig, data_digest: str) -> str:
    """What stage 1 depends on, by content: the data (rows, labels, texts), the LM's
    files, how they are encoded, the adapter and the seed; not the backbone, so runs
    that differ only downstream share one trained stage 1."""
    # settings at their defaults stay out, so adding one keeps the keys of older runs
    defaults = {"budget": 1, "runtime": "torch"}
    llm = cfg.llm.model_dump(mode="json", exclude={k for k, v in defaults.items()
                                                   if getattr(cfg.llm, k) == v})
    key = {"data": data_digest, "llm": {**llm, "name": model_digest(cfg.llm.name)},
           "adapter": cfg.adapter.model_dump(mode="json"), "seed": cfg.seed,
           "patience": cfg.train.patience, "elec": __version__,
           "encoding": ENCODING_VERSION, "int8": int8_scheme(cfg.llm.runtime)}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def shared_dir(cfg: RunConfig, data_digest: str) -> Path:
    """Where a trained stage 1 is kept for every run directory that can reuse it."""
    return elec_home() / "stage1" / cache_key(cfg, data_digest)


@dataclass
class Stage1:
    record: dict  # lm_only's metrics
    weights: dict[str, Tensor]  # lm_only's checkpoint
    vectors: dict[str, Tensor] | None  # split -> v of every row (cross-fitted); None: on
    # shards, written beside them


def encode_texts(texts: dict[str, list[str]], llm: LLMConfig, device: torch.device,
                 reporter: Reporter) -> dict[str, Tensor]:
    """split -> pooled last hidden states h of every row's text in ``texts`` (split ->
    texts), through the vector cache (under torchrun every rank encodes its share of the
    missing texts)."""
    encoder = TextEncoder(llm, encoding_device(device))
    cache = VectorCache(elec_home() / "vectors", encoder.fingerprint, reporter.log)
    everything = [text for split in texts for text in texts[split]]
    advance = reporter.bar(f"LM encoding ({encoder.precision})", len(everything))
    vectors = torch.from_numpy(cache.vectors(
        everything, lambda chunk: encoder.encode(chunk, advance), llm.shard_size,
        distributed.rank(), distributed.world(), distributed.barrier,
        lambda todo: reporter.log(encoding_estimate(len(everything), todo, cache.rate))))
    encoded = int(distributed.summed(cache.computed)[0])  # by every rank under torchrun
    reporter.texts["encoded"] += encoded
    reporter.texts["from_cache"] += cache.reused
    reporter.log(f"LM vectors: {encoded:,} texts encoded, {cache.reused:,} from the "
                 f"cache ({cache.dir})")
    if encoder.truncated:  # every field after the cut is unread by the LM
        reporter.log(f"{encoder.truncated:,} of the texts encoded here were longer than "
                     f"llm.max_length ({llm.max_length} tokens) and cut there: the LM did not "
                     f"read the fields at their end (raise llm.max_length, or render fewer "
                     f"fields)")
    sizes = [len(texts[split]) for split in texts]
    return {split: part.to(device) for split, part in
            zip(texts, torch.split(vectors, sizes), strict=True)}


def text_encoder(llm: LLMConfig, reporter: Reporter) -> Callable[[list[str]], Tensor]:
    """The LM loaded once, on the GPU if there is one: texts -> their pooled vectors on
    the CPU (new items for a bundle's item table). Not through the vector cache: reading
    it costs time in proportion to all it holds, and a new item's text is one that
    training never encoded."""
    encoder = TextEncoder(llm)
    return lambda texts: torch.from_numpy(encoder.encode(texts, reporter.bar(
        f"LM encoding ({encoder.precision})", len(texts))))


def value_vectors(schema: FeatureSchema, cfg: RunConfig, device: torch.device,
                  reporter: Reporter) -> tuple[Tensor, Tensor]:
    """The embedding-table rows of the values the LM reads and the LM's pooled vector of
    each one's sentence (what the field-level method adds to their embeddings)."""
    rows, texts = value_texts(schema, cfg.fields, cfg.text)
    if not texts:
        raise DataError("field_lm reads the values of categorical fields in the text; no "
                        "such field has a vocabulary (hashed and numeric fields have none)")
    return torch.tensor(rows), encode_texts({"values": texts}, cfg.llm, device, reporter)["values"]


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


def train_adapter(name: str, train: Rows, valid: Rows, input_dim: int,
                  device: torch.device, cfg: RunConfig, reporter: Reporter) -> Adapter:
    """An adapter on ``train`` (rows with their pooled h), early-stopped on ``valid``."""
    generator = seed_everything(cfg.seed)
    adapter = Adapter(input_dim, cfg.adapter).to(device)
    adapter_trainer(cfg, reporter).fit(name, adapter, adapter.loss, adapter.logit, train, valid,
                                       generator)
    return adapter


def train_lm_only(hidden: dict[str, Rows], data: Prepared, input_dim: int,
                  device: torch.device, cfg: RunConfig, reporter: Reporter
                  ) -> tuple[Adapter, dict]:
    """``lm_only``: the adapter on all training rows, and its record (as every network's)."""
    generator = seed_everything(cfg.seed)
    adapter = Adapter(input_dim, cfg.adapter).to(device)
    record = fit_network("lm_only", adapter, hidden, data.groups, adapter_trainer(cfg, reporter),
                         generator)
    return adapter, record


def row_folds(cfg: RunConfig, split: str, begin: int, end: int) -> Tensor:
    """The cross-fitting fold of rows ``begin:end`` of ``split``: a hash (splitmix64) of
    the run seed, the split and each row's position in it, so that a row has the same fold
    in memory and on shards of any size, and under any number of processes."""
    key = int.from_bytes(hashlib.sha256(f"{cfg.seed}/{split}".encode()).digest()[:8], "little")
    with np.errstate(over="ignore"):  # the hash wraps around 2**64 on purpose
        x = np.arange(begin, end, dtype=np.uint64) + np.uint64(key)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return torch.from_numpy((x % np.uint64(cfg.adapter.folds)).astype(np.int64))


def folds(data: Prepared, cfg: RunConfig) -> dict[str, Tensor]:
    """The cross-fitting fold of every row of every split (in memory)."""
    return {split: row_folds(cfg, split, 0, len(data.columns[split])).to(
                data.columns[split].label.device) for split in data.splits}


def cross_fitted_vectors(full: Adapter, data: Prepared, hidden: dict[str, Columns],
                         cfg: RunConfig, reporter: Reporter, chosen: Tensor | None = None
                         ) -> dict[str, Tensor]:
    """Every row's v from the adapter of its fold, trained on the other folds' rows
    (``chosen``: the training rows ``hidden`` holds, under an LM budget)."""
    a = cfg.adapter
    if a.leak_guard == "none":
        return {split: full.vectors(hidden[split].extra[LLM_HIDDEN]) for split in data.splits}
    fold_of = folds(data, cfg)
    if chosen is not None:
        fold_of["train"] = fold_of["train"][chosen]
    out = {split: torch.zeros(len(hidden[split]), a.dim, device=hidden[split].label.device)
           for split in data.splits}
    for fold in range(a.folds):
        others = torch.nonzero(fold_of["train"] != fold).squeeze(1)
        adapter = train_adapter(f"adapter fold {fold + 1}/{a.folds}",
                                hidden["train"].take(others), hidden["valid"], full.input_dim,
                                out["train"].device, cfg, reporter)
        for split in data.splits:
            rows = torch.nonzero(fold_of[split] == fold).squeeze(1)
            out[split][rows] = adapter.vectors(hidden[split].extra[LLM_HIDDEN][rows])
    return out


def frozen_stage1(data: Prepared, cfg: RunConfig, device: torch.device, reporter: Reporter,
                  vectors_dir: Path) -> Stage1:
    """The paper's default: the LM fixed, its pooled vectors computed once and cached. Data
    on shards gets its cross-fitted vectors written shard by shard into ``vectors_dir``."""
    if isinstance(data.columns["train"], ShardedColumns):
        return sharded_stage1(data, cfg, device, reporter, vectors_dir)
    chosen, texts, columns = within_budget(data, cfg, reporter.log)
    vectors = encode_texts(texts, cfg.llm, device, reporter)
    hidden = {s: columns[s].with_extra(**{LLM_HIDDEN: vectors[s]}) for s in data.splits}
    adapter, record = train_lm_only(hidden, data, vectors["train"].shape[1], device, cfg,
                                    reporter)
    v = cross_fitted_vectors(adapter, data, hidden, cfg, reporter, chosen)
    if chosen is not None:
        v["train"], v[ABSENT] = spread(v["train"], chosen, len(data.columns["train"]))
        record["lm_budget"] = {"rows": len(chosen), "of": len(data.columns["train"])}
    return Stage1(record, adapter.state_dict(), v)


# ---------------------------------------------------------------------- data on shards
def shard_folds(cfg: RunConfig, columns: ShardedColumns, split: str, shard: int) -> Tensor:
    """The cross-fitting fold of every row of one shard (``row_folds`` at its place in
    the split)."""
    begin = sum(columns.stored[:shard])
    return row_folds(cfg, split, begin, begin + columns.stored[shard])


def sharded_stage1(data: Prepared, cfg: RunConfig, device: torch.device, reporter: Reporter,
                   out: Path) -> Stage1:
    """Stage 1 on shards: h and v are read and written shard by shard (under torchrun,
    each rank writes its share of v to ``out/<split>/part-NNNNN.npy``, float16)."""
    files, dim = encode_shards(data, cfg, device, reporter)
    hidden = {s: data.columns[s].with_extra(**{LLM_HIDDEN: files[s]}) for s in data.splits}
    full, record = train_lm_only(hidden, data, dim, device, cfg, reporter)
    a = cfg.adapter
    adapters = [full] * a.folds
    if a.leak_guard == "crossfit":
        train = hidden["train"]
        adapters = [train_adapter(f"adapter fold {k + 1}/{a.folds}", train.subset(
                        lambda i, n, k=k: torch.nonzero(shard_folds(cfg, train, "train", i)
                                                        != k).squeeze(1)),
                                  hidden["valid"], dim, device, cfg, reporter)
                    for k in range(a.folds)]
    for split in data.splits:
        for i, shard in hidden[split].shards(distributed.rank(), distributed.world()):
            fold = shard_folds(cfg, hidden[split], split, i).to(device)
            v = torch.zeros(len(shard), a.dim, device=device)
            for k, adapter in enumerate(adapters):
                rows = torch.nonzero(fold == k).squeeze(1)
                v[rows] = adapter.vectors(shard.extra[LLM_HIDDEN][rows])
            save_array(part_file(out / split, i), v.cpu().numpy().astype(np.float16))
    distributed.barrier()
    return Stage1(record, full.state_dict(), vectors=None)
