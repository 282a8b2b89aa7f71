"""Data that need not fit in memory: read in record batches, encoded into shards on disk,
and read back a few shards at a time.

    files (Parquet / CSV) --SchemaFitter, one pass over train--> schema
                          --RowEncoder, batch by batch--> <dir>/<split>/part-NNNNN/*.npy
    ShardedColumns: whole-column reads of a shard, a bounded shuffle buffer, shards
                    split across DDP ranks; yields the same ``Columns`` batches as memory

The encodings are those of the in-memory path (the same ``RowEncoder``, the same
``SchemaFitter``), so a table small enough for memory gets the same ids either way.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from elec.config import RunConfig
from elec.data.batches import Columns, share
from elec.data.encoder import RowEncoder
from elec.data.prepare import Prepared, Render
from elec.data.schema import FeatureSchema, SchemaFitter, shifted
from elec.data.sources import check_fields, dataset, label_values, record_batches, split_files
from elec.data.splits import SPLITS
from elec.data.store import atomic_dir, write_atomic
from elec.data.values import RowError
from elec.errors import ConfigError, DataError

SHARD_ROWS = 1 << 18


def text_digest(texts: list[str]) -> str:
    """What a shard's LM vectors are keyed by: the sha256 of its rows' texts."""
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def fit_schema(cfg: RunConfig, files: dict[str, list[Path]],
               progress: Callable[[str], None]) -> FeatureSchema:
    """One pass over the training files: vocabularies and numeric bucket edges."""
    fitter = SchemaFitter(cfg.fields)
    names = [s.name for s in fitter.specs]
    seen = 0
    for batch in record_batches(files["train"], names, SHARD_ROWS):
        try:
            fitter.update(batch, first_row=seen)
        except RowError as error:
            raise DataError(f"{files['train'][0].parent}: training {error}") from None
        seen += batch.num_rows
        progress(f"schema: {seen:,} training rows read")
    return fitter.fitted()


def _inputs(files: dict[str, list[Path]]) -> dict[str, list]:
    return {split: [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]
            for split, paths in files.items()}


def write_shards(cfg: RunConfig, schema: FeatureSchema, files: dict[str, list[Path]],
                 out: Path, progress: Callable[[str], None], render: Render | None = None
                 ) -> str:
    """Encode every split into ``out/<split>/part-NNNNN/``: ``single.npy`` (int32 ids),
    ``multi<k>.npy`` and ``label.npy`` (float32), with ``render`` the rows' texts
    (``text.parquet``), beside ``schema.json`` and the manifest ``shards.json`` (rows per
    shard, the sha256 of each shard's texts, the inputs read, the digest), all written at
    once. Returns the sha256 of the encoded arrays and texts: the data digest that run
    directories and caches are keyed by."""
    encoder = RowEncoder(schema)
    names = [f.name for f in schema.fields] + [cfg.data.label]
    if render is not None:  # fields that are only text
        names += [f.name for f in cfg.fields if f.name not in names]
    digest = hashlib.sha256()
    with atomic_dir(out, replaces=lambda path: (path / "shards.json").is_file()) as staging:
        manifest: dict = {"format": "elec.shards/1", "splits": {}, "inputs": _inputs(files),
                          "texts": {} if render is not None else None}
        for split in SPLITS:
            rows, texts = [], []
            for i, batch in enumerate(record_batches(files[split], names, SHARD_ROWS)):
                try:
                    encoded = encoder.encode_table(batch)
                except RowError as error:  # rows counted over the split's files
                    raise DataError(f"{split} files: {shifted(error, sum(rows))}") from None
                label = label_values(batch[cfg.data.label], cfg.data,
                                     f"{split} files, in the rows from {sum(rows):,} on")
                part = staging / split / f"part-{i:05d}"
                part.mkdir(parents=True)
                arrays = {"single": encoded.single.astype(np.int32), "label": label,
                          **{f"multi{k}": m.astype(np.int32)
                             for k, m in enumerate(encoded.multi)}}
                for name, array in arrays.items():
                    np.save(part / f"{name}.npy", array)
                    digest.update(array.tobytes())
                if render is not None:
                    rendered = list(render(pa.Table.from_batches([batch])))
                    pq.write_table(pa.table({"text": rendered}), part / "text.parquet")
                    texts.append(text_digest(rendered))
                    digest.update(texts[-1].encode())
                rows.append(batch.num_rows)
                progress(f"shards: {split} {sum(rows):,} rows encoded")
            manifest["splits"][split] = rows
            if render is not None:
                manifest["texts"][split] = texts
        manifest["digest"] = digest.hexdigest()
        schema.save(staging / "schema.json")
        (staging / "shards.json").write_text(json.dumps(manifest))
    return manifest["digest"]


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
        """Shard ``i``'s columns; the ids stay int32 (half the memory of int64), which the
        embedding lookups take as they are; extra columns are read as float32."""
        part = self.parts[i]
        multi = sorted(part.glob("multi*.npy"), key=lambda p: int(p.stem[5:]))
        columns = Columns(single=torch.from_numpy(np.load(part / "single.npy")),
                          multi=[torch.from_numpy(np.load(m)) for m in multi],
                          label=torch.from_numpy(np.load(part / "label.npy")),
                          extra={name: torch.from_numpy(np.load(files[i])).float()
                                 for name, files in self.extra.items()} if extra else {})
        return columns if self.keep is None else columns.take(self.keep(i, len(columns)))

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

    def _mapped(self, i: int) -> dict[str, np.ndarray]:
        """Shard ``i``'s arrays, memory-mapped: a batch copies only its own rows."""
        part = self.parts[i]
        arrays = {name: np.load(part / f"{name}.npy", mmap_mode="r")
                  for name in ("single", "label", *(f.stem for f in part.glob("multi*.npy")))}
        return {**arrays, **{f"extra/{name}": np.load(files[i], mmap_mode="r")
                             for name, files in self.extra.items()}}

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


def prepare_shards(cfg: RunConfig, out: Path, device: torch.device,
                   progress: Callable[[str], None], log: Callable[[str], None],
                   render: Render | None = None) -> Prepared:
    """The splits of ``data.dataset`` (train/valid/test files) encoded into ``out``, with
    ``render`` their texts too; a second call on unchanged files (same paths, sizes and
    modification times) reads what the first wrote."""
    files = split_files(Path(cfg.data.dataset))
    manifest_path, schema_path = out / "shards.json", out / "schema.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if (manifest.get("inputs") == _inputs(files) and schema_path.is_file()
            and (render is None or manifest.get("texts") is not None)):
        schema = FeatureSchema.load(schema_path)
        log(f"data: reusing the encoded shards in {out}")
    else:
        check_fields(dataset(files["train"]).schema.empty_table(), cfg.fields, cfg.data)
        schema = fit_schema(cfg, files, progress)
        write_shards(cfg, schema, files, out, progress, render)
        manifest = json.loads(manifest_path.read_text())
    columns = {split: ShardedColumns(out / split, device, workers=cfg.data.workers)
               for split in SPLITS}
    sizes = ", ".join(f"{s} {len(columns[s]):,}" for s in SPLITS)
    log(f"data: {cfg.data.dataset}, split files: {sizes}; {len(schema.fields)} tabular "
        f"fields, encoded in {len(columns['train'].parts)} training shards")
    return Prepared(schema, columns, texts={}, groups={s: None for s in SPLITS},
                    stored_digest=manifest["digest"])


SHARDED_ABOVE = 2_000_000  # training rows beyond which data.storage auto streams


def sharded(cfg: RunConfig) -> bool:
    """Whether the run reads its data from shards (``data.storage``)."""
    if cfg.data.storage == "memory":
        return False
    if cfg.data.split != "files":
        if cfg.data.storage == "shards":
            raise ConfigError("data.storage: shards needs data.split: files (a directory of "
                              "train, valid and test files)")
        return False
    if cfg.data.storage == "shards":
        return True
    train = split_files(Path(cfg.data.dataset))["train"]
    return dataset(train).count_rows() > SHARDED_ABOVE
