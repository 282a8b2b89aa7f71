"""Data on disk: the synthetic table, streaming preprocessing into shards, the shard loader."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from elec.config import RunConfig, load_config
from elec.data import shards
from elec.data.encoder import FIRST, RowEncoder, hashed_id
from elec.data.schema import FeatureSchema
from elec.data.sharded import ShardedColumns
from elec.data.shards import fit_schema, split_files, write_shards
from elec.data.sources import dataset
from elec.data.synth import (
    ATTRIBUTES,
    COMMON_WORDINGS,
    HELD_OUT,
    ITEM,
    NOUNS,
    TITLE,
    WORDS,
    SynthConfig,
    _World,
    synthesize,
)
from elec.errors import DataError
from elec.llm.encoder import TextEncoder
from elec.pipeline import run


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    cities = np.array(["paris", "oslo", "", "lima", "kyiv"], dtype=object)
    return pa.table({
        "city": pa.array(cities[rng.integers(0, 5, rows)].tolist()),
        "shop": pa.array(rng.integers(0, 40, rows), mask=rng.random(rows) < 0.1),
        "score": pa.array(rng.choice([0.5, 1.0, 2.25, float("nan")], rows)),
        "clicks": pa.array(rng.lognormal(1, 1, rows), mask=rng.random(rows) < 0.1),
        "tags": pa.array([list(rng.choice(["a", "b", "c", None, ""], rng.integers(0, 5)))
                          if rng.random() > 0.1 else None for _ in range(rows)],
                         type=pa.list_(pa.string())),
        "label": pa.array(rng.integers(0, 2, rows), type=pa.int8())})


FIELDS = [{"name": "city", "kind": "categorical"},
          {"name": "shop", "kind": "categorical", "min_count": 17},
          {"name": "score", "kind": "categorical"},
          {"name": "clicks", "kind": "numeric", "n_buckets": 5},
          {"name": "tags", "kind": "multi", "max_len": 2}]


@pytest.fixture
def split_dir(tmp_path):
    """train (three files), valid, test; written as Parquet."""
    for split, sizes in {"train": [300, 257, 111], "valid": [90], "test": [77]}.items():
        (tmp_path / split).mkdir()
        for i, rows in enumerate(sizes):
            pq.write_table(_table(rows, seed=hash((split, i)) % 1000),
                           tmp_path / split / f"part-{i}.parquet")
    return tmp_path


def _cfg(directory, **data) -> RunConfig:
    return RunConfig.model_validate({
        "data": {"dataset": str(directory), "split": "files", "label": "label",
                 "label_threshold": None, "user_column": None, **data},
        "fields": FIELDS})


def test_streaming_and_in_memory_preprocessing_agree(split_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "SHARD_ROWS", 64)  # many small record batches
    cfg = _cfg(split_dir)
    files = split_files(split_dir)
    streamed = fit_schema(cfg, files, progress=lambda _: None)
    train = dataset(files["train"]).to_table()
    in_memory = FeatureSchema.fit(train, cfg.fields)
    assert streamed.to_dict() == in_memory.to_dict()
    vocab = {f.name: f.vocab for f in streamed.fields}
    assert "" not in vocab["city"] and 0 < len(vocab["shop"]) < 40  # missing; min_count
    write_shards(cfg, streamed, files, tmp_path / "shards", progress=lambda _: None)
    for split in ("train", "valid", "test"):
        table = dataset(files[split]).to_table()
        expected = RowEncoder(in_memory).encode_table(table)
        rows = ShardedColumns(tmp_path / "shards" / split)
        read = list(rows.batches(batch_size=50))
        assert torch.equal(torch.cat([b.single for b in read]).long(),
                           torch.from_numpy(expected.single))
        assert torch.equal(torch.cat([b.multi[0] for b in read]).long(),
                           torch.from_numpy(expected.multi[0]))
        assert rows.label.tolist() == table["label"].to_pylist()
        # rows one by one (serving) encode as the table did
        rowwise = RowEncoder(in_memory).encode_rows(table.slice(0, 40).to_pylist())
        assert np.array_equal(rowwise.single, expected.single[:40])
        assert np.array_equal(rowwise.multi[0], expected.multi[0][:40])


def test_a_bad_value_is_named_by_its_row_in_the_training_files(split_dir, monkeypatch):
    monkeypatch.setattr(shards, "SHARD_ROWS", 64)
    table = _table(300, seed=1).set_column(3, "clicks", pa.array(
        ["1.5"] * 200 + ["many"] + ["2"] * 99))
    pq.write_table(table, split_dir / "train" / "part-0.parquet")
    with pytest.raises(DataError, match=r"row 200, field 'clicks': expected a number, got 'many'"):
        fit_schema(_cfg(split_dir), split_files(split_dir), progress=lambda _: None)


def test_hashed_fields_need_no_vocabulary_and_agree_with_serving(split_dir):
    cfg = _cfg(split_dir)
    cfg.fields[1] = cfg.fields[1].model_copy(update={"encoder": "hash", "buckets": 16})
    schema = fit_schema(cfg, split_files(split_dir), progress=lambda _: None)
    shop = next(f for f in schema.fields if f.name == "shop")
    assert shop.vocab == [] and shop.size == 16 + FIRST
    ids = RowEncoder(schema).encode_rows([{"shop": 7}, {"shop": "7"}, {"shop": None}])
    column = schema.names.index("shop")
    assert ids.single[:, column].tolist() == [hashed_id("7", 16)] * 2 + [0]
    assert FIRST <= hashed_id("7", 16) < 16 + FIRST


def test_sharded_batches_cover_every_row_once_and_ranks_split_every_batch(split_dir, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(shards, "SHARD_ROWS", 64)
    cfg = _cfg(split_dir)
    files = split_files(split_dir)
    write_shards(cfg, fit_schema(cfg, files, lambda _: None), files, tmp_path / "s",
                 lambda _: None)
    train = ShardedColumns(tmp_path / "s" / "train", buffer_shards=2)
    assert len(train) == 668 and len(train.parts) > 4
    ordered = torch.cat([b.single for b in train.batches(100)])
    shuffled = torch.cat([b.single for b in train.batches(100, torch.Generator().manual_seed(0))])
    assert not torch.equal(ordered, shuffled)  # shuffled, and nothing lost or repeated
    assert sorted(map(tuple, ordered.tolist())) == sorted(map(tuple, shuffled.tolist()))
    # DDP: each rank takes half of every step of one process, and together every row
    one = list(train.batches(64, torch.Generator().manual_seed(5)))
    parts = [list(train.batches(64, torch.Generator().manual_seed(5), rank, 2))
             for rank in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == len(one) == 11
    for whole, first, second in zip(one, *parts, strict=True):
        assert torch.equal(torch.cat([first.single, second.single]), whole.single)
        assert len(first) == len(whole) // 2 and first.step_rows == len(whole)
    # DataLoader workers: each reads its share of the shards; the epoch is the same rows,
    # and the same generator gives the same batches
    read = ShardedColumns(tmp_path / "s" / "train", buffer_shards=2, workers=2)
    epochs = [[b.single for b in read.batches(100, torch.Generator().manual_seed(0))]
              for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*epochs, strict=True))
    assert sorted(map(tuple, torch.cat(epochs[0]).tolist())) == sorted(
        map(tuple, ordered.tolist()))
    assert sum(len(b) < 100 for b in epochs[0]) <= 2  # at most one short batch a worker


def test_synthetic_table_is_reproducible_and_learnable(tmp_path):
    first = synthesize(SynthConfig(rows=4000, shard_rows=1000, seed=3), tmp_path / "a",
                       progress=lambda _: None)
    again = synthesize(SynthConfig(rows=4000, shard_rows=1000, seed=3), tmp_path / "b",
                       progress=lambda _: None)
    assert first["splits"] == again["splits"]
    assert [p.name for p in sorted((tmp_path / "a" / "train").iterdir())] == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet", "part-00003.parquet"]
    table = pq.read_table(tmp_path / "a" / "test")
    assert table.num_rows == 400 and table.num_columns == 13 + 26 + 3
    assert 0.1 < first["splits"]["train"]["ctr"] < 0.5
    assert 0.75 < first["splits"]["test"]["achievable_auc"] < 0.95
    assert json.loads((tmp_path / "a" / "synth.json").read_text())["splits"] == first["splits"]
    cfg = load_config(tmp_path / "a" / "elec.yaml")
    assert cfg.data.split == "files" and len(cfg.fields) == 13 + 26 + 2



def test_meaning_titles_write_the_tail_in_wordings_the_popular_items_seldom_use(tmp_path):
    summary = synthesize(SynthConfig(rows=20000, shard_rows=10000, titles="meaning"),
                         tmp_path / "m", progress=lambda _: None)
    common = {w for words in ATTRIBUTES.values() for w in words.split()[:COMMON_WORDINGS]}
    other = {w for words in ATTRIBUTES.values() for w in words.split()[COMMON_WORDINGS:]}
    train = pq.read_table(tmp_path / "m" / "train", columns=[ITEM, TITLE])
    items = np.asarray(train[ITEM])
    title_of = dict(zip(items.tolist(), train[TITLE].to_pylist(), strict=True))
    counts = np.bincount(items)

    def common_share(chosen) -> float:
        words = [w for i in chosen for w in title_of[i].lower().split()[:-1]]
        assert set(words) <= common | other  # an attribute's wording, then a noun
        return float(np.mean([w in common for w in words]))

    assert common_share(np.argsort(-counts)[:30]) > 0.8  # the most popular items
    assert common_share(np.flatnonzero(counts == 1)) < 0.3  # items seen once
    assert all(title_of[i].lower().split()[-1] in NOUNS for i in title_of)
    # new items: in test, never in training, written in wordings no training title holds
    held_out = {w for words in ATTRIBUTES.values() for w in words.split()[HELD_OUT:]}
    seen = {w for t in title_of.values() for w in t.lower().split()}
    assert not held_out & seen
    world = _World(SynthConfig(rows=20000, titles="meaning"))
    assert 0.08 < world.new.mean() < 0.12 and not world.new[list(title_of)].any()
    test = pq.read_table(tmp_path / "m" / "test", columns=[ITEM, TITLE])
    new = [t for i, t in zip(test[ITEM].to_pylist(), test[TITLE].to_pylist(), strict=True)
           if world.new[i]]
    assert len(new) > 0.05 * test.num_rows
    assert np.mean([w in held_out for t in new for w in t.lower().split()[:-1]]) > 0.8
    for name in ("rare", "new"):  # the title carries part of what is achievable
        part = summary["splits"]["test"]["slices"][name]
        assert part["rows"] > 0
        assert part["achievable_auc"] > part["achievable_auc_without_appeal"]
    words = synthesize(SynthConfig(rows=4000, shard_rows=1000), tmp_path / "w",
                       progress=lambda _: None)  # the default: titles of plain words
    assert "slices" in words["splits"]["test"]
    assert all(set(t.lower().split()) <= set(WORDS)
               for t in pq.read_table(tmp_path / "w" / "train")[TITLE].to_pylist())

def test_every_method_trains_from_shards_with_the_lm_vectors_beside_them(tmp_path, tiny_lm,
                                                                         monkeypatch):
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(shards, "SHARD_ROWS", 700)  # several shards per split
    synthesize(SynthConfig(rows=3000, shard_rows=1000), tmp_path / "d", progress=lambda _: None)
    overrides = ["data.storage=shards", "train.max_epochs=1", "model.params.hidden=[16]",
                 "train.batch_size=256", "distill.cross_teacher=dnn", f"llm.name={tiny_lm}",
                 "llm.precision=fp32", "adapter.max_epochs=1", "adapter.hidden=[16]",
                 "adapter.folds=2", "model.params.batch_norm=false",
                 "train.item_dropout=0.2"]  # ids read as unseen in shards' batches too
    methods = ["backbone", "ensemble_distilled", "lm_only", "gain", "vanilla"]
    cfg = load_config(tmp_path / "d" / "elec.yaml", [*overrides, f"methods={methods}"])
    encoded: list[str] = []  # every text the LM reads
    encode = TextEncoder.encode
    monkeypatch.setattr(TextEncoder, "encode", lambda self, texts, progress=None: (
        encoded.extend(texts), encode(self, texts, progress))[1])
    summary = run(cfg, tmp_path / "run")
    for method in methods:
        assert 0.5 < summary["methods"][method]["test"]["auc"] <= 1.0, method
    manifest = json.loads((tmp_path / "run" / "shards" / "shards.json").read_text())
    assert manifest["splits"]["train"] == [700, 300, 700, 300, 400]  # files: 1000, 1000, 400
    targets = tmp_path / "run" / "targets" / "ensemble_distilled" / "train"
    logits = np.concatenate([np.load(p) for p in sorted((targets / "teacher_logit").iterdir())])
    assert logits.shape == (2400,) and np.isfinite(logits).all()
    # v of every row, beside the shards; h in the vector cache, keyed by the shard's texts
    vectors = [np.load(p) for p in sorted((tmp_path / "run" / "llm_vectors" / "train").glob("*"))]
    assert [v.shape for v in vectors] == [(n, cfg.adapter.dim) for n in (700, 300, 700, 300, 400)]
    assert vectors[0].dtype == np.float16 and np.isfinite(np.concatenate(vectors)).all()
    cached = list((tmp_path / "home" / "vectors").rglob("rows/*.npy"))
    assert len(cached) == 5 + 1 + 1
    hidden = ShardedColumns(tmp_path / "run" / "shards" / "train")
    assert {p.stem for p in cached} >= set(hidden.text_digests)
    assert "Title is" in hidden.texts(0)[0]
    # a title in many shards (of any split) was encoded once, and its rows read its vector
    texts = [t for split in ("train", "valid", "test") for c in
             [ShardedColumns(tmp_path / "run" / "shards" / split)]
             for i in range(len(c.stored)) for t in c.texts(i)]
    assert len(texts) == 3000 and len(encoded) == len(set(encoded)) == len(set(texts)) < 3000
    rows = np.concatenate([np.load(p) for p in sorted((tmp_path / "home" / "vectors").rglob(
        "rows/*.npy")) if p.stem == hidden.text_digests[1]])
    alone = TextEncoder(cfg.llm).encode(hidden.texts(1)).astype(np.float16)
    assert np.array_equal(rows, alone)
    again = run(cfg, tmp_path / "run")  # resumes: the recorded methods, the same shards
    assert again["methods"]["vanilla"]["test"] == summary["methods"]["vanilla"]["test"]
    finetuned = load_config(tmp_path / "d" / "elec.yaml",
                            [*overrides, "methods=[vanilla]", "adapter.mode=lora"])
    with pytest.raises(Exception, match="does not run on data.storage shards"):
        run(finetuned, tmp_path / "run2")


def test_a_bad_value_in_a_later_batch_is_named_by_its_row_in_the_split(split_dir, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(shards, "SHARD_ROWS", 64)
    cfg = _cfg(split_dir)
    files = split_files(split_dir)
    schema = fit_schema(cfg, files, lambda _: None)
    table = _table(90, seed=2).set_column(3, "clicks", pa.array(["1"] * 70 + ["many"] * 20))
    pq.write_table(table, split_dir / "valid" / "part-0.parquet")
    with pytest.raises(DataError, match=r"valid files: row 70, field 'clicks': expected a "
                                        r"number, got 'many'"):
        write_shards(cfg, schema, files, tmp_path / "s", lambda _: None)
