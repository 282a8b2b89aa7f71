"""`elec init`: a config proposed from the user's table, and `elec run` on it."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml
from conftest import synthetic_table
from typer.testing import CliRunner

from elec.cli import app
from elec.config import load_config
from elec.data.propose import propose, small_batch
from elec.errors import ConfigError
from elec.runnable import check_run

runner = CliRunner()


def _kinds(text: str) -> dict[str, tuple]:
    fields = yaml.safe_load(text)["fields"]
    return {f["name"]: (f["kind"], f.get("in_text", True), f.get("split")) for f in fields}


def test_a_movielens_like_table_gets_the_kinds_of_the_hand_written_config(tmp_path):
    path = tmp_path / "ratings.parquet"
    table = synthetic_table(2000)
    pq_table = table.append_column("rating", pa.array(np.arange(2000) % 5 + 1))
    import pyarrow.parquet as pq
    pq.write_table(pq_table.drop_columns(["click"]), path)
    text = propose(path, "rating")
    assert _kinds(text) == {"user_id": ("categorical", False, None),
                            "item_id": ("categorical", False, None),
                            "age": ("numeric", True, None),
                            "occupation": ("categorical", True, None),
                            "title": ("text", True, None),
                            "genres": ("multi", True, None)}
    data = yaml.safe_load(text)["data"]
    assert data["label_threshold"] == 4 and data["user_column"] == "user_id"
    assert data["item_column"] == "item_id" and data["time_column"] == "timestamp"
    train = yaml.safe_load(text)["train"]
    assert train["batch_size"] == 64  # the whole table is 2,000 rows
    assert train["item_dropout"] == 0.2  # the item column is a vocabulary field


def test_small_tables_get_batches_of_50_to_100_steps_an_epoch():
    for rows in (4_000, 20_000, 60_000):
        steps = 0.8 * rows / small_batch(rows)
        assert 50 <= steps <= 100
    assert small_batch(500) == 64 and small_batch(10_000_000) == 1024


def test_an_amazon_style_csv_is_proposed_and_runs_end_to_end(tmp_path, tiny_lm, monkeypatch):
    monkeypatch.setenv("ELEC_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    rows = 1500
    items = rng.integers(0, 60, rows)
    words = ["wireless", "headphones", "cotton", "shirt", "steel", "bottle", "kids", "lamp"]
    titles = [" ".join(rng.choice(words, 4)) + f" model {i}" for i in range(60)]
    categories = ["Electronics|Audio", "Clothing|Men|Shirts", "Home|Kitchen", "Toys"]
    rating = np.clip(np.round(3 + (items % 7) / 3 + rng.normal(size=rows)), 1, 5).astype(int)
    table = pa.table({
        "reviewer_id": [f"A{u:05d}" for u in rng.integers(0, 300, rows)],
        "parent_asin": [f"B{i:09d}" for i in items],
        "title": [titles[i] for i in items],
        "categories": [categories[i % 4] for i in items],
        "price": np.round(5 + items * 1.5, 2),
        "rating": rating,
        "timestamp": np.arange(rows) * 1000,
    })
    pacsv.write_csv(table, tmp_path / "reviews.csv")
    config = tmp_path / "reviews.yaml"
    done = runner.invoke(app, ["init", str(tmp_path / "reviews.csv"), "--label", "rating",
                               "--out", str(config)])
    assert done.exit_code == 0, done.output
    assert _kinds(config.read_text()) == {
        "reviewer_id": ("categorical", False, None), "parent_asin": ("categorical", False, None),
        "title": ("text", True, None), "categories": ("multi", True, "|"),
        "price": ("numeric", True, None)}
    again = runner.invoke(app, ["init", str(tmp_path / "reviews.csv"), "--label", "rating",
                                "--out", str(config)])
    assert again.exit_code != 0 and "exists" in again.output  # never overwritten silently
    cfg = load_config(config, [f"llm.name={tiny_lm}", "llm.precision=fp32",
                               "adapter.max_epochs=1", "adapter.folds=2", "train.max_epochs=1",
                               "model.params.hidden=[16]", "methods=[backbone,gain,vanilla]"])
    assert cfg.data.user_column == "reviewer_id" and cfg.data.item_column == "parent_asin"
    from elec.pipeline import run
    summary = run(cfg, tmp_path / "run")
    assert all(0 < m["test"]["auc"] <= 1 for m in summary["methods"].values())


def test_a_criteo_style_table_keeps_opaque_codes_out_of_the_text(tmp_path):
    rng = np.random.default_rng(1)
    rows = 3000
    columns = {"label": rng.integers(0, 2, rows)}
    columns.update({f"I{k}": rng.geometric(0.01 * k, rows) for k in range(1, 4)})  # counts
    columns.update({f"C{k}": [f"{v:08x}" for v in rng.integers(0, 16**6, rows) % (50 * k)]
                    for k in range(1, 4)})
    pacsv.write_csv(pa.table(columns), tmp_path / "criteo.tsv",
                    pacsv.WriteOptions(delimiter="\t"))
    text = propose(tmp_path / "criteo.tsv", "label")
    assert yaml.safe_load(text)["data"]["label_threshold"] is None
    assert _kinds(text) == {**{f"I{k}": ("numeric", False, None) for k in range(1, 4)},
                            **{f"C{k}": ("categorical", False, None) for k in range(1, 4)}}
    assert "the LM has little to add" in text
    # nothing for the LM to read: the backbone alone is proposed, and the LM's methods
    # are refused before any work, with the way out
    (tmp_path / "criteo.yaml").write_text(text)
    check_run(load_config(tmp_path / "criteo.yaml"), sharded=False, world=1)
    with pytest.raises(ConfigError, match="no field is rendered into it"):
        check_run(load_config(tmp_path / "criteo.yaml", ["methods=[backbone,gain]"]), False, 1)


def test_init_leaves_out_an_index_and_a_leak_and_finds_the_user_and_item_by_shape(
        tmp_path, tiny_lm, elec_home):
    """A shop table written by pandas: its unnamed index, a shopper column of codes, a
    product id whose title depends on it, star ratings that decide the label."""
    rng = np.random.default_rng(1)
    rows = 2000
    items = rng.integers(0, 80, rows)
    words = ["snug", "wool", "jumper", "linen", "dress", "denim", "jacket", "silk", "scarf"]
    titles = [" ".join(rng.choice(words, 3)) + f" no. {i}" for i in range(80)]
    stars = rng.integers(1, 6, rows)
    lines = [",shopper,Clothing ID,Title,Department,Stars,Recommended"]
    lines += [f"{r},U{rng.integers(0, 150)},{items[r]},{titles[items[r]]},"
              f"{['Tops', 'Dresses', 'Jackets'][items[r] % 3]},{stars[r]},{int(stars[r] >= 4)}"
              for r in range(rows)]
    (tmp_path / "shop.csv").write_text("\n".join(lines) + "\n")
    text = propose(tmp_path / "shop.csv", "Recommended")
    cfg = yaml.safe_load(text)
    kinds = _kinds(text)
    assert set(kinds) == {"shopper", "Clothing ID", "Title", "Department"}
    assert kinds["shopper"][:2] == ("categorical", False)  # codes, not words for the LM
    assert kinds["Title"][0] == "text"
    left = [line for line in text.splitlines() if "# left out" in line]
    assert len(left) == 2 and "no name" in left[0]
    assert "'Stars'" in left[1] and "AUC 1.000" in left[1] and "leak" in left[1]
    assert cfg["data"]["user_column"] == "shopper"
    assert cfg["data"]["item_column"] == "Clothing ID"  # the id the title depends on
    assert "cold-item (by Clothing ID)" in text and "max_length: 128" in text
    loaded = load_config(None, [])  # the proposal is a valid config
    loaded = type(loaded).model_validate(cfg)
    check_run(loaded, sharded=False, world=1)
    # and elec run runs on it: the default methods, the item ones on the title included
    config = tmp_path / "shop.yaml"
    config.write_text(text)
    from elec.pipeline import run

    summary = run(load_config(config, [f"llm.name={tiny_lm}", "llm.precision=fp32",
                                       "adapter.max_epochs=1", "adapter.folds=2",
                                       "train.max_epochs=1"]), tmp_path / "run")
    assert {"vanilla", "item_gen", "tail_gen"} <= set(summary["methods"])
    assert all(0 < m["test"]["auc"] <= 1 for m in summary["methods"].values())


def test_init_tells_how_much_long_text_the_lm_cannot_read(tmp_path):
    rng = np.random.default_rng(2)
    rows = 600
    review = [" ".join(rng.choice(["good", "fit", "soft", "small", "colour"], 120))
              for _ in range(rows)]
    table = pa.table({"item_id": rng.integers(0, 30, rows), "review": review,
                      "clicked": rng.integers(0, 2, rows)})
    pacsv.write_csv(table, tmp_path / "reviews.csv")
    text = propose(tmp_path / "reviews.csv", "clicked")
    line = next(x for x in text.splitlines() if "max_length" in x)
    assert "about 100% of the sampled rows' texts are longer" in line and "in_text: false" in line
