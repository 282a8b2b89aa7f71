"""Data that need not fit in memory: read in record batches, encoded into shards on disk,
and read back a few shards at a time.

    files (Parquet / CSV) --SchemaFitter, one pass over train--> schema
                          --RowEncoder, batch by batch--> <dir>/<split>/part-NNNNN/*.npy
    ShardedColumns (elec.data.sharded): reads them back as the same ``Columns``
                    batches as memory

The encodings are those of the in-memory path (the same ``RowEncoder``, the same
``SchemaFitter``), so a table small enough for memory gets the same ids either way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from elec.config import RunConfig
from elec.data.encoder import RowEncoder
from elec.data.prepare import Prepared, Render
from elec.data.schema import FeatureSchema, SchemaFitter, shifted
from elec.data.sharded import ShardedColumns
from elec.data.sources import check_fields, dataset, label_values, record_batches, split_files
from elec.data.splits import SPLITS
from elec.data.store import atomic_dir
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
