"""The standard datasets in the files they are published as: MovieLens-1M's .dat files,
Amazon Reviews 2023's JSON lines, the BARS CSV releases; each read from tiny fixtures
written here and run end to end with the config shipped in configs/."""

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from elec.config import load_config
from elec.data import amazon, movielens1m
from elec.errors import ConfigError, DataError
from elec.pipeline import run

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FAST = ["llm.precision=fp32", "adapter.max_epochs=1", "adapter.folds=2", "train.max_epochs=1",
        "model.params.hidden=[16]", "methods=[backbone,gain,vanilla]"]


def _run(config: str, dataset: Path, tiny_lm: Path, out: Path, *more: str) -> dict:
    cfg = load_config(CONFIGS / config, [f"data.dataset={dataset}", f"llm.name={tiny_lm}",
                                         *FAST, *more])
    summary = run(cfg, out)
    assert set(summary["methods"]) == {"backbone", "gain", "vanilla"}
    assert all(0 < m["test"]["auc"] <= 1 for m in summary["methods"].values())
    return summary


def write_ml1m(directory: Path, rows: int = 1500, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    genres = ["Action", "Comedy", "Drama", "Children's", "Sci-Fi"]
    movies = [f"{m}::{'Misérables, Les' if m == 1 else f'Film {m}'} ({1960 + m})::"
              f"{'|'.join(rng.choice(genres, 2, replace=False))}" for m in range(1, 41)]
    users = [f"{u}::{'MF'[u % 2]}::{[1, 18, 25, 35, 45, 50, 56][u % 7]}::{u % 21}::"
             f"{10000 + 37 * u}" for u in range(1, 61)]
    taste = rng.normal(size=(61, 41))
    ratings = []
    for t in range(rows):
        u, m = int(rng.integers(1, 61)), int(rng.integers(1, 41))
        rating = int(np.clip(np.round(3 + taste[u, m] + rng.normal(scale=0.5)), 1, 5))
        ratings.append(f"{u}::{m}::{rating}::{978300000 + t}")
    for name, lines in (("movies.dat", movies), ("users.dat", users),
                        ("ratings.dat", ratings)):
        (directory / name).write_text("\n".join(lines) + "\n", encoding="latin-1")


def test_movielens_1m_files_become_movielens_samples(tmp_path):
    write_ml1m(tmp_path / "ml-1m")
    table = movielens1m.samples(tmp_path / "ml-1m")
    assert table.num_rows == 1500
    first = table.slice(0, 1).to_pylist()[0]
    assert set(first) == {"user_id", "item_id", "age", "gender", "occupation", "zip_prefix",
                          "title", "release_year", "genres", "timestamp", "rating"}
    occupations = set(table["occupation"].to_pylist())
    assert occupations <= set(movielens1m.OCCUPATIONS) and "programmer" in occupations
    titles = dict(zip(table["item_id"].to_pylist(), table["title"].to_pylist(), strict=True))
    assert titles["1"] == "Misérables, Les (1961)"  # Latin-1, read as such
    years = dict(zip(table["item_id"].to_pylist(), table["release_year"].to_pylist(),
                     strict=True))
    assert years["7"] == 1967 and all(len(g) == 2 for g in table["genres"].to_pylist())


def test_movielens_1m_runs_end_to_end_with_its_config(tmp_path, tiny_lm, monkeypatch):
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home"))
    write_ml1m(tmp_path / "ml-1m")
    _run("ml1m.yaml", tmp_path / "ml-1m", tiny_lm, tmp_path / "run")


def test_movielens_1m_problems_are_named(tmp_path):
    with pytest.raises(DataError, match="ratings.dat.*ml-1m.zip"):
        movielens1m.samples(tmp_path)
    write_ml1m(tmp_path / "ml-1m")
    (tmp_path / "ml-1m" / "users.dat").write_text("1::M::25\n", encoding="latin-1")
    with pytest.raises(DataError, match="users.dat', line 1: expected 5 values"):
        movielens1m.samples(tmp_path / "ml-1m")


def write_amazon(directory: Path, rows: int = 1500, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    words = ["vitamin", "serum", "shampoo", "brush", "organic", "travel", "matte", "lipstick"]
    appeal = rng.normal(size=50)
    prices = [round(float(p), 2) for p in rng.lognormal(2.5, 0.5, 50)]
    prices[3], prices[4] = None, "None"  # both occur in the real files
    meta = [{"parent_asin": f"B{i:09d}", "title": " ".join(rng.choice(words, 3)),
             "main_category": "All Beauty", "categories": ["Beauty", words[i % 8].title()],
             "store": f"Brand {i % 7}", "price": prices[i],
             "description": [f"A {words[i % 8]} for every day."], "features": ["x"],
             "images": [{"large": "https://example.com/a.jpg"}], "details": {"Size": "1 oz"}}
            for i in range(50)]
    reviews = []
    for t in range(rows):
        item = int(rng.integers(0, 50))
        rating = int(np.clip(np.round(4 + appeal[item] + rng.normal(scale=0.7)), 1, 5))
        reviews.append({"rating": float(rating), "title": "Great", "text": "I loved it",
                        "images": [], "asin": f"A{item}", "parent_asin": f"B{item:09d}",
                        "user_id": f"U{rng.integers(0, 200):05d}",
                        "timestamp": 1_600_000_000_000 + 1000 * t, "helpful_vote": 0,
                        "verified_purchase": True})
    reviews.append({**reviews[0], "parent_asin": "B_NO_META"})  # an item without metadata
    for name, records in (("All_Beauty.jsonl.gz", reviews), ("meta_All_Beauty.jsonl.gz", meta)):
        with gzip.open(directory / name, "wt", encoding="utf-8") as out:
            out.writelines(json.dumps(r) + "\n" for r in records)
    return directory / "All_Beauty.jsonl.gz"


def test_amazon_reviews_become_samples_with_their_items_metadata(tmp_path):
    reviews = write_amazon(tmp_path / "amazon")
    table = amazon.samples(tmp_path / "amazon")  # the folder of one category works too
    assert table.num_rows == 1501
    assert "text" not in table.column_names  # the review itself is never a feature
    rows = {r["item_id"]: r for r in table.to_pylist()}
    assert rows["B000000003"]["price"] is None and rows["B000000004"]["price"] is None
    assert rows["B000000001"]["categories"] == ["Beauty", "Serum"]
    assert rows["B000000001"]["description"] == "A serum for every day."
    assert rows["B_NO_META"]["title"] is None and rows["B_NO_META"]["categories"] == []
    assert table["timestamp"][0].as_py() == 1_600_000_000
    assert reviews.is_file()


def test_amazon_reviews_run_end_to_end_with_their_config(tmp_path, tiny_lm, monkeypatch):
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home"))
    reviews = write_amazon(tmp_path / "amazon")
    _run("amazon_reviews_2023.yaml", reviews, tiny_lm, tmp_path / "run", "data.split=cold-item")


def test_amazon_problems_are_named(tmp_path):
    with pytest.raises(DataError, match="amazon-reviews-2023.github.io"):
        amazon.samples(tmp_path / "Books.jsonl")
    reviews = write_amazon(tmp_path / "amazon")
    (tmp_path / "amazon" / "meta_All_Beauty.jsonl.gz").unlink()
    with pytest.raises(DataError, match="meta_All_Beauty.jsonl.gz"):
        amazon.samples(reviews)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"user_id": "u"}\n{not json\n')
    (tmp_path / "meta_broken.jsonl").write_text("")
    with pytest.raises(DataError, match="line 1: no 'parent_asin'"):
        amazon.samples(broken)


def test_a_loader_cannot_be_given_split_files(tmp_path):
    with pytest.raises(ConfigError, match="reads one table"):
        load_config(CONFIGS / "ml1m.yaml", ["data.split=files"])


# each BARS x1 release: train.csv, valid.csv and test.csv with these columns
BARS = {
    "criteo_x1.yaml": [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)],
    "avazu_x1.yaml": [f"feat_{i}" for i in range(1, 23)],
    "frappe_x1.yaml": ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost",
                       "weather", "country", "city"],
    "movielenslatest_x1.yaml": ["user_id", "item_id", "tag_id"],
}


def write_bars(directory: Path, columns: list[str], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    for split, rows in (("train", 800), ("valid", 200), ("test", 200)):
        data = {}
        for name in columns:  # BARS ships ids as integers, Criteo's I fields as scaled floats
            data[name] = (rng.random(rows).round(4) if name.startswith("I")
                          else rng.integers(0, 30, rows))
        score = (data[columns[-1]] % 3 == 0) + 0.5 * rng.normal(size=rows)
        pacsv.write_csv(pa.table({"label": (score > 0.5).astype(np.int64), **data}),
                        directory / f"{split}.csv")


@pytest.mark.parametrize("config", sorted(BARS))
def test_bars_releases_run_end_to_end_with_their_configs(config, tmp_path, tiny_lm,
                                                          monkeypatch):
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home"))
    write_bars(tmp_path / "bars", BARS[config])
    summary = _run(config, tmp_path / "bars", tiny_lm, tmp_path / "run")
    assert summary["config"]["data"]["split"] == "files"  # the release's own splits
