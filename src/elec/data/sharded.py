"""Encoded shards read back (``elec.data.shards`` writes them): batches of ``Columns``,
the same as in memory, read a few shards at a time with a bounded shuffle buffer.

A row is addressed by its shard and its row there, so a batch copies only its rows from
the memory-mapped files, and under torchrun a rank copies only its share of each batch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from elec.data.batches import Columns, share
from elec.data.store import write_atomic


def part_file(directory: Path, i: int) -> Path:
    """Where shard ``i``'s column of a per-shard output is: ``directory/part-NNNNN.npy``."""
    return directory / f"part-{i:05d}.npy"


def save_array(path: Path, array: np.ndarray) -> None:
    """An ``.npy`` file written whole or not at all."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_atomic(path, buffer.getvalue())


Keep = Callable[[int, int], torch.Tensor]  # (shard, its rows) -> the rows kept, in order


class ShardedColumns:
    """One split's encoded shards: batches of ``Columns`` read a few shards at a time.
    Extra columns (teacher outputs, LM vectors) live beside them, one ``.npy`` per shard
    (``with_extra``); ``subset`` keeps some rows of every shard (a cross-fitting fold)."""

    def __init__(self, directory: Path, device: torch.device | str = "cpu",
                 buffer_shards: int = 4, extra: dict[str, list[Path]] | None = None,
                 keep: Keep | None = None, workers: int = 0):
        self.directory = directory
        manifest = json.loads((directory.parent / "shards.json").read_text())
        self.stored = manifest["splits"][directory.name]  # rows per shard on disk
        self.text_digests = (manifest.get("texts") or {}).get(directory.name)
        self.parts = [directory / f"part-{i:05d}" for i in range(len(self.stored))]
        self.device, self.buffer_shards = torch.device(device), buffer_shards
        self.extra = dict(extra or {})
        self.keep, self.workers = keep, workers
        self.rows = (self.stored if keep is None else
                     [len(keep(i, n)) for i, n in enumerate(self.stored)])

    def with_extra(self, **columns: Path | list[Path]) -> ShardedColumns:
        """These rows with extra columns, each a directory of ``part-NNNNN.npy`` or a list
        of one file per shard (float16 or float32, read as float32)."""
        files = {name: (where if isinstance(where, list) else
                        [part_file(where, i) for i in range(len(self.parts))])
                 for name, where in columns.items()}
        return ShardedColumns(self.directory, self.device, self.buffer_shards,
                              {**self.extra, **files}, self.keep, self.workers)

    def subset(self, keep: Keep) -> ShardedColumns:
        """The rows ``keep`` selects from every shard (extra columns included)."""
        return ShardedColumns(self.directory, self.device, self.buffer_shards, self.extra,
                              keep, self.workers)

    def shards(self, rank: int = 0, world: int = 1) -> Iterator[tuple[int, Columns]]:
        """Shards in order with their index, on the device: every ``world``-th from
        ``rank`` (under torchrun each rank writes its share of a per-shard output)."""
        for i in range(rank, len(self.parts), world):
            yield i, self._read(i).to(self.device)

    def texts(self, i: int) -> list[str]:
        """The rendered texts of shard ``i``'s rows (written when the run reads an LM)."""
        return pq.read_table(self.parts[i] / "text.parquet")["text"].to_pylist()

    def __len__(self) -> int:
        return sum(self.rows)

    @property
    def label(self) -> torch.Tensor:
        """Every row's label, in order (evaluation reads them)."""
        return torch.cat([self._read(i, extra=False).label for i in range(len(self.parts))])

    def _read(self, i: int, extra: bool = True) -> Columns:
        """Shard ``i``'s rows (those kept), with its extra columns unless ``extra`` is
        False."""
        kept = self._kept(i)
        return self._gather({i: self._mapped(i, extra)}, torch.full((len(kept),), i), kept)

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                rank: int = 0, world: int = 1) -> Iterator[Columns]:
        """In order without a generator; else shards in a shuffled order, rows shuffled
        within a window of ``buffer_shards`` shards (drawn by ``workers`` DataLoader
        processes, each its share of the shards, when there are workers). With ``world``
        > 1 (DDP), rank ``rank``'s share of each of those batches: every rank draws the
        same batches and reads only the rows of its share."""
        order = (torch.randperm(len(self.parts), generator=generator).tolist()
                 if generator is not None else list(range(len(self.parts))))
        if generator is None:  # in order: one shard at a time
            read = self.windows(order, batch_size, None, 1, rank, world)
        elif self.workers == 0:
            read = self.windows(order, batch_size, generator, self.buffer_shards, rank, world)
        else:
            seed = int(torch.randint(2**62, (1,), generator=generator))
            read = iter(DataLoader(_Reader(self, order, batch_size, seed, rank, world),
                                   batch_size=None,
                                   num_workers=min(self.workers, len(order))))
        for batch in read:
            yield batch.to(self.device)

    def windows(self, shards: list[int], batch_size: int, generator: torch.Generator | None,
                window: int, rank: int = 0, world: int = 1) -> Iterator[Columns]:
        """Batches of ``shards`` read ``window`` at a time, shuffled with a generator; the
        rows left over from a window start the next one. A row is addressed by its shard
        and its row there, so rank ``rank`` reads only its share of each batch."""
        carry = (torch.zeros(0, dtype=torch.int64),) * 2  # (shard, row) of each row left
        for start in range(0, len(shards), window):
            chosen = shards[start:start + window]
            kept = [self._kept(i) for i in chosen]
            shard_of = torch.cat([carry[0], *(torch.full((len(k),), i, dtype=torch.int64)
                                              for i, k in zip(chosen, kept, strict=True))])
            row_of = torch.cat([carry[1], *kept])
            index = (torch.randperm(len(row_of), generator=generator) if generator is not None
                     else torch.arange(len(row_of)))
            last = start + window >= len(shards)
            full = len(index) if last else len(index) // batch_size * batch_size
            arrays = {i: self._mapped(i) for i in set(shard_of.tolist())}
            for begin in range(0, full, batch_size):
                end = min(begin + batch_size, full)
                mine = index[slice(*share(begin, end, rank, world))]
                yield self._gather(arrays, shard_of[mine], row_of[mine]).of_step(end - begin)
            carry = (shard_of[index[full:]], row_of[index[full:]])

    def _kept(self, i: int) -> torch.Tensor:
        """The rows of shard ``i`` that these columns hold, in order."""
        rows = self.stored[i]
        return torch.arange(rows) if self.keep is None else self.keep(i, rows).cpu()

    def _mapped(self, i: int, extra: bool = True) -> dict[str, np.ndarray]:
        """Shard ``i``'s arrays, memory-mapped: a batch copies only its own rows."""
        part = self.parts[i]
        arrays = {name: np.load(part / f"{name}.npy", mmap_mode="r")
                  for name in ("single", "label", *(f.stem for f in part.glob("multi*.npy")))}
        return {**arrays, **{f"extra/{name}": np.load(files[i], mmap_mode="r")
                             for name, files in self.extra.items() if extra}}

    def _gather(self, arrays: dict[int, dict[str, np.ndarray]], shard_of: torch.Tensor,
                row_of: torch.Tensor) -> Columns:
        """The rows (``shard_of[k]``, ``row_of[k]``), in that order, as one ``Columns``
        (ids int32 as stored; extra columns float32)."""
        first = arrays[next(iter(arrays))]
        out = {name: np.empty((len(row_of), *array.shape[1:]),
                              np.float32 if name.startswith("extra/") else array.dtype)
               for name, array in first.items()}
        for i, shard in arrays.items():
            at = torch.nonzero(shard_of == i).squeeze(1).numpy()
            rows = row_of.numpy()[at]
            for name, array in shard.items():
                out[name][at] = array[rows]
        multi = sorted((n for n in out if n.startswith("multi")), key=lambda n: int(n[5:]))
        return Columns(single=torch.from_numpy(out["single"]),
                       multi=[torch.from_numpy(out[n]) for n in multi],
                       label=torch.from_numpy(out["label"]),
                       extra={n.removeprefix("extra/"): torch.from_numpy(a)
                              for n, a in out.items() if n.startswith("extra/")})


class _Reader(IterableDataset):
    """A DataLoader worker's batches: its share of the epoch's shards, shuffled by a
    generator of its own (seeded from the epoch's, so the run stays reproducible, and
    every rank's workers draw the same batches)."""

    def __init__(self, columns: ShardedColumns, shards: list[int], batch_size: int, seed: int,
                 rank: int, world: int):
        self.columns, self.shards, self.batch_size, self.seed = columns, shards, batch_size, seed
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[Columns]:
        worker = get_worker_info()
        index, count = (0, 1) if worker is None else (worker.id, worker.num_workers)
        generator = torch.Generator().manual_seed(self.seed + index)
        return self.columns.windows(self.shards[index::count], self.batch_size, generator,
                                    self.columns.buffer_shards, self.rank, self.world)
