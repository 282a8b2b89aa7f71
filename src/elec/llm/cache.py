"""On-disk cache of LM vectors, keyed by the encoder's fingerprint and the text.

The encoder fingerprint covers (a digest of the LM's files, pooling, precision, max
length),
so a cache directory only ever holds vectors of one configuration; inside it,
vectors are stored in shards named by the sha256 of their bytes. A shard is
written whole (temporary name, then rename) as soon as its texts are encoded (on
Ctrl-C, the part of it already encoded too), so an interrupted encoding loses little
work, and a shard whose
bytes no longer match its name is detected, deleted and recomputed. Under torchrun the
ranks share the work: rank r encodes every world-th shard of what is missing, and each
then reads the others' shards from the cache directory.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load, save

from elec.data.store import sha256_file, write_atomic
from elec.ui import duration

KEY_BYTES = 16


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:KEY_BYTES]


class VectorCache:
    def __init__(self, root: Path, fingerprint: str, log: Callable[[str], None] = print):
        self.dir = Path(root) / fingerprint
        self.log = log
        self.computed = 0  # texts encoded by the LM in this process
        self.reused = 0  # texts answered from the cache

    def _shards(self) -> dict[bytes, np.ndarray]:
        known: dict[bytes, np.ndarray] = {}
        for path in sorted(self.dir.glob("shard-*.safetensors")):
            if sha256_file(path)[:24] != path.stem.removeprefix("shard-"):
                self.log(f"vector cache: {path.name} is corrupt; deleting it, its texts "
                         f"will be encoded again")
                path.unlink(missing_ok=True)  # another rank may have deleted it
                continue
            tensors = load(path.read_bytes())
            keys, vectors = tensors["keys"].numpy(), tensors["vectors"].numpy()
            known.update(zip((bytes(k) for k in keys), vectors, strict=True))
        return known

    def _write_shard(self, keys: list[bytes], vectors: np.ndarray) -> None:
        payload = save({
            "keys": torch.from_numpy(np.frombuffer(b"".join(keys), dtype=np.uint8)
                                     .reshape(len(keys), KEY_BYTES).copy()),
            "vectors": torch.from_numpy(np.ascontiguousarray(vectors)),
        })
        name = hashlib.sha256(payload).hexdigest()[:24]
        write_atomic(self.dir / f"shard-{name}.safetensors", payload)

    def _encode_keeping(self, chunk: list[tuple[bytes, str]],
                        encode: Callable[[list[str]], np.ndarray], piece: int) -> np.ndarray:
        """A shard's vectors, encoded ``piece`` texts at a time; interrupted (Ctrl-C), the
        pieces already encoded are written as a shard of their own before it stops, so
        at most one piece of work is lost, and the log says so."""
        parts: list[np.ndarray] = []
        try:
            for begin in range(0, len(chunk), piece):
                parts.append(encode([text for _, text in chunk[begin:begin + piece]]))
        except KeyboardInterrupt:
            done = sum(len(p) for p in parts)
            if done:
                self._write_shard([key for key, _ in chunk[:done]], np.concatenate(parts))
            self.log(f"LM encoding interrupted: {self.computed + done:,} texts encoded in "
                     f"this run are kept in the cache ({self.dir}); the same command "
                     f"continues from there")
            raise
        return np.concatenate(parts)

    @property
    def rate(self) -> float | None:
        """Texts per second of the last encoding of 256 texts or more with this
        configuration on this machine (None: none yet)."""
        path = self.dir / "rate.json"
        return json.loads(path.read_text())["texts_per_second"] if path.is_file() else None

    def save_rate(self, texts: int, seconds: float) -> None:
        """Keep the rate of an encoding of 256 texts or more for the next estimate."""
        if texts >= 256:
            write_atomic(self.dir / "rate.json", json.dumps(
                {"texts_per_second": round(texts / seconds, 1)}).encode())

    def vectors(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray],
                shard_size: int = 4096, rank: int = 0, world: int = 1,
                barrier: Callable[[], None] = lambda: None,
                announce: Callable[[int], None] = lambda todo: None) -> np.ndarray:
        """Vectors for ``texts`` (float32 [len(texts), dim]), encoding only unseen texts;
        with ``world`` > 1 this is rank ``rank``'s share (``barrier`` waits for all ranks).
        A shard holds the same texts whichever rank encodes it, so the vectors are those
        one process computes. ``announce`` is told how many distinct texts are to encode
        (by all ranks) before any is."""
        keys = [text_key(t) for t in texts]
        known = self._shards()
        barrier()  # every rank has seen the same cache before any rank adds to it
        todo: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in known:
                todo.setdefault(key, text)
        self.reused += len(texts) - sum(1 for k in keys if k in todo)
        # shortest texts first: a shard then spans few token lengths, so the encoder's
        # one-length batches are full (vectors do not depend on batch company)
        pending = sorted(todo.items(), key=lambda item: len(item[1]))
        announce(len(pending))
        starts = range(0, len(pending), shard_size)
        began, computed = time.perf_counter(), self.computed
        for start in starts[rank::world]:
            chunk = pending[start:start + shard_size]
            encoded = self._encode_keeping(chunk, encode, max(256, shard_size // 4))
            self._write_shard([key for key, _ in chunk], encoded)
            known.update(zip((key for key, _ in chunk), encoded, strict=True))
            self.computed += len(chunk)
        if world == 1:
            self.save_rate(self.computed - computed, time.perf_counter() - began)
        if world > 1:
            barrier()
            known.update(self._shards())
        return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)


def encoding_estimate(texts: int, todo: int, rate: float | None) -> str:
    """What an encoding will cost, said before it starts."""
    head = f"LM encoding: {texts:,} texts, {todo:,} distinct ones not in the vector cache"
    if not todo:
        return head + ": nothing to encode"
    if rate is None:
        return head + " to encode (no rate measured with this LM here yet)"
    return (head + f" to encode, at about {rate:,.0f} texts/s (the last encoding with this "
            f"LM here): about {duration(todo / rate)}")
