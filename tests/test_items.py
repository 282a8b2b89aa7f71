"""The item-level method: one LM vector per item, from the item's own text."""

import numpy as np
import pytest
from conftest import FIELDS, synthetic_table

from elec.config import TextConfig
from elec.errors import DataError
from elec.methods import METHODS
from elec.pipeline import Run, run
from elec.text.items import item_fields, render_items
from elec.ui import Reporter


def test_the_fields_that_describe_an_item_are_found_in_the_training_rows():
    table = synthetic_table(600)
    found = item_fields(table, FIELDS, TextConfig(), "item_id")
    assert [f.name for f in found] == ["title", "genres"]  # not age, not occupation
    texts = render_items(table, found, TextConfig())
    assert texts[0] == f"Movie title is Movie number {table['item_id'][0].as_py()[1:]}." \
        f" Genres are {', '.join(table['genres'][0].as_py())}."
    chosen = item_fields(table, FIELDS, TextConfig(item_fields=["genres"]), "item_id")
    assert [f.name for f in chosen] == ["genres"]
    with pytest.raises(DataError, match="text.item_fields names \\['colour'\\]"):
        item_fields(table, FIELDS, TextConfig(item_fields=["colour"]), "item_id")


def test_item_lm_reads_one_vector_per_item_known_for_new_items(tiny_config, elec_home,
                                                               tmp_path):
    cfg = tiny_config.model_copy(update={
        "methods": ["backbone", "item_lm"],
        "data": tiny_config.data.model_copy(update={"split": "cold-item"})})
    summary = run(cfg, tmp_path / "run")
    assert 0 < summary["methods"]["item_lm"]["test"]["auc"] <= 1
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    assert pipeline.method("item_lm")["test"] == summary["methods"]["item_lm"]["test"]
    columns = pipeline.item_columns()
    texts, vectors = pipeline.data.item_texts, {}
    for split in ("train", "test"):  # test items never appear in training (cold-item)
        for text, vector in zip(texts[split], columns[split].extra["llm_vector"], strict=True):
            vectors.setdefault(text, []).append(vector.cpu().numpy())
    assert all(np.array_equal(v[0], w) for v in vectors.values() for w in v)
    assert len(vectors) == len(set(texts["train"]) | set(texts["test"]))
    assert not METHODS["item_lm"].servable  # until bundles carry the item vectors
