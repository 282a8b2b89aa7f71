"""The LM vectors of sharded data: every distinct text encoded once per run and cache,
whichever shards hold it, and each shard's rows given their vectors in a file of its own.

Texts are keyed by their sha256 (``cache.text_key``). A run first gathers the keys of
the shards whose row file is missing, encodes each distinct text the text store lacks
(under torchrun a text falls to the rank its key names, so ranks never encode the same
text), then writes every missing shard's row file from the store. The store is a
directory of parts, each the sorted keys of a batch of texts and their vectors (float16,
memory-mapped when read), so a run holds the 16-byte keys of the texts it reads and of
the store (with each stored key's place), not the vectors.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from elec.config import RunConfig
from elec.data.prepare import Prepared
from elec.data.sharded import save_array
from elec.data.store import elec_home
from elec.llm.cache import KEY_BYTES, VectorCache, encoding_estimate, text_key
from elec.llm.encoder import TextEncoder, encoding_device
from elec.train import distributed
from elec.ui import Reporter

KEY = np.dtype((np.void, KEY_BYTES))


def keys_of(texts: list[str]) -> np.ndarray:
    """The texts' cache keys as one array (``KEY`` items, comparable and sortable)."""
    return np.frombuffer(b"".join(map(text_key, texts)), dtype=KEY)


def lookup(known: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``keys`` is in the sorted ``known``, and whether it is there."""
    if not len(known):
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(known, keys), len(known) - 1)
    return at, known[at] == keys


class TextStore:
    """Text key -> float16 vector, in parts of sorted keys and their vectors."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.keys = np.empty(0, dtype=KEY)  # sorted, over every part
        self.where = np.empty((0, 2), dtype=np.int32)  # (part, row) of each key
        self.parts: list[np.ndarray] = []  # each part's vectors, memory-mapped
        self.refresh()

    def refresh(self) -> None:
        """Read the keys of every finished part (a part's keys file is written last)."""
        names = sorted(p.with_name(p.name.removesuffix(".keys.npy"))
                       for p in self.dir.glob("*.keys.npy"))
        keys = [np.load(f"{p}.keys.npy") for p in names]
        self.parts = [np.load(f"{p}.vectors.npy", mmap_mode="r") for p in names]
        where = [np.stack([np.full(len(k), i), np.arange(len(k))], 1).astype(np.int32)
                 for i, k in enumerate(keys)]
        self.keys = np.concatenate(keys) if keys else np.empty(0, dtype=KEY)
        self.where = np.concatenate(where) if where else np.empty((0, 2), dtype=np.int32)
        order = np.argsort(self.keys, kind="stable")
        self.keys, self.where = self.keys[order], self.where[order]

    def holds(self, keys: np.ndarray) -> np.ndarray:
        """Which of ``keys`` the store has a vector for."""
        return lookup(self.keys, keys)[1]

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """A new part (written whole: its keys file, written last, marks it done)."""
        order = np.argsort(keys)
        keys, vectors = keys[order], vectors[order].astype(np.float16)
        name = hashlib.sha256(keys.tobytes()).hexdigest()[:24]
        save_array(self.dir / f"{name}.vectors.npy", vectors)
        save_array(self.dir / f"{name}.keys.npy", keys)

    def vectors(self, keys: np.ndarray) -> np.ndarray:
        """The vectors of ``keys`` (all held), in order."""
        part, row = self.where[np.searchsorted(self.keys, keys)].T
        out = np.empty((len(keys), self.parts[0].shape[1]), dtype=np.float16)
        for i in np.unique(part):
            rows = part == i
            out[rows] = self.parts[i][row[rows]]
        return out


def encode_shards(data: Prepared, cfg: RunConfig, device: torch.device, reporter: Reporter
                  ) -> tuple[dict[str, list[Path]], int]:
    """split -> the file of every shard's pooled h (float16), in the vector cache under the
    sha256 of the shard's texts, and the LM's width."""
    encoder = TextEncoder(cfg.llm, encoding_device(device))
    home = elec_home() / "vectors" / encoder.fingerprint
    files = {s: [home / "rows" / f"{d}.npy" for d in data.columns[s].text_digests]
             for s in data.splits}
    missing = [(s, i) for s in data.splits for i, path in enumerate(files[s])
               if not _stored(path, data.columns[s].stored[i], encoder.dim)]
    distributed.barrier()  # every rank has seen the same cache before any rank adds to it
    store = TextStore(home / "texts")
    texts = lambda: (data.columns[s].texts(i) for s, i in missing)  # noqa: E731
    shard_keys = [keys_of(t) for t in texts()]
    rows = sum(map(len, shard_keys))
    distinct = np.unique(np.concatenate(shard_keys)) if shard_keys else np.empty(0, KEY)
    new = distinct[~store.holds(distinct)]
    mine = new[np.frombuffer(new.tobytes(), np.uint8)[::KEY_BYTES] % distributed.world()
               == distributed.rank()] if len(new) else new
    cache = VectorCache(elec_home() / "vectors", encoder.fingerprint)
    reporter.log(encoding_estimate(rows, len(new), cache.rate))
    if len(mine):
        advance = reporter.bar(f"LM encoding ({encoder.precision})", len(mine))
        began = time.perf_counter()
        for keys, chunk in _batches(texts(), shard_keys, mine, cfg.llm.shard_size):
            store.add(keys, encoder.encode(chunk, advance))
        if distributed.world() == 1:
            cache.save_rate(len(mine), time.perf_counter() - began)
    distributed.barrier()  # every rank's texts are in the store
    store.refresh()
    for n, (split, i) in enumerate(missing):
        if n % distributed.world() == distributed.rank():
            save_array(files[split][i], store.vectors(shard_keys[n]))
    distributed.barrier()
    encoded = int(distributed.summed(len(mine))[0])
    reporter.texts["encoded"] += encoded
    reporter.texts["from_cache"] += rows - encoded
    here = f" ({len(mine):,} by this process)" if distributed.world() > 1 else ""
    reporter.log(f"LM vectors: {encoded:,} distinct texts encoded{here} for the {rows:,} rows "
                 f"of {len(missing)} of {sum(map(len, files.values()))} shards missing from "
                 f"the cache ({home})")
    return files, encoder.dim


def _batches(texts: Iterator[list[str]], shard_keys: list[np.ndarray], mine: np.ndarray,
             size: int) -> Iterator[tuple[np.ndarray, list[str]]]:
    """``mine``'s texts (its keys sorted) in batches of ``size``, each text once, in the
    shards' order; a flag per key says which are taken, so memory holds no set of keys."""
    done = np.zeros(len(mine), dtype=bool)
    keys: np.ndarray = np.empty(0, dtype=KEY)
    pending: list[str] = []
    for shard, shard_key in zip(texts, shard_keys, strict=True):
        at, found = lookup(mine, shard_key)
        hit = np.flatnonzero(found)
        first = np.sort(hit[np.unique(at[hit], return_index=True)[1]])  # a key's first row
        first = first[~done[at[first]]]
        done[at[first]] = True
        keys = np.concatenate([keys, shard_key[first]])
        pending += [shard[r] for r in first.tolist()]
        while len(pending) >= size or (pending and done.all()):
            yield keys[:size], pending[:size]
            keys, pending = keys[size:], pending[size:]
    assert done.all(), "a text to encode is in none of the shards read"


def _stored(path: Path, rows: int, dim: int) -> bool:
    try:
        return np.load(path, mmap_mode="r").shape == (rows, dim)
    except (OSError, ValueError):
        return False

