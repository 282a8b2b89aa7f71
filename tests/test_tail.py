"""Distillation rows for the tail: synthetic rows of the rare items, scored by the teacher."""

import numpy as np
import pyarrow as pa
import pytest

from elec.data.schema import FIRST, MISSING, OOV
from elec.distill.tail import draw_tail, tail_table
from elec.errors import ConfigError
from elec.pipeline import Run, run
from elec.runnable import check_run
from elec.ui import Reporter


def test_rare_items_get_rows_up_to_the_threshold_rarest_first_within_the_budget():
    # item 2: 1 training row, 3: 2 rows, 4: 12 rows, 5: only in the pool; 0 and 1 (missing,
    # out of vocabulary) have no embedding of their own to learn
    train = np.array([2, 3, 3] + [4] * 12 + [MISSING, OOV])
    pool = np.array([5, 5, 2, OOV])
    draw = draw_tail(train, pool, below=4, budget=100, rng=np.random.default_rng(0))
    source = np.concatenate([train, pool])
    made = np.bincount(source[draw.template], minlength=6)
    assert made.tolist() == [0, 0, 3, 2, 0, 4]  # each topped up to 4 rows
    assert draw.items == 3 and draw.wanted == 9 and len(draw.context) == 9
    assert (draw.context < len(train)).all()  # contexts are training rows
    assert set(draw.template[source[draw.template] != 5]) <= set(range(len(train)))

    capped = draw_tail(train, pool, below=4, budget=6, rng=np.random.default_rng(0))
    # the budget goes to the rarest first: the pool-only item (0 rows), then item 2 (1 row)
    assert np.bincount(source[capped.template], minlength=6).tolist() == [0, 0, 2, 0, 0, 4]
    assert capped.items == 2 and capped.wanted == 9
    assert len(draw_tail(train, None, below=1, budget=10,
                         rng=np.random.default_rng(0)).template) == 0
    assert FIRST == 2


def test_a_synthetic_row_takes_the_item_fields_from_its_template_and_the_rest_from_context():
    train = pa.table({"user": ["u0", "u1", "u2"], "item": ["a", "b", "c"],
                      "title": ["A", "B", "C"], "hour": [0, 1, 2]})
    pool = pa.table({"user": ["u9"], "item": ["new"], "title": ["New"], "hour": [9]})
    draw = draw_tail(np.array([2, 3, 4]), np.array([5]), below=2, budget=1,
                     rng=np.random.default_rng(0))
    table = tail_table(train, pool, {"item", "title"}, draw)
    assert table.num_rows == 1 and table["item"].to_pylist() == ["new"]
    assert table["title"].to_pylist() == ["New"]
    context = int(draw.context[0])
    assert table["user"].to_pylist() == [f"u{context}"]
    assert table["hour"].to_pylist() == [context]


def test_vanilla_tail_distils_on_the_synthetic_rows_and_says_what_they_cost(
        tiny_config, elec_home, tmp_path):
    # every item of the tiny table has about 30 training rows: below 40, all are topped up
    cfg = tiny_config.model_copy(update={
        "methods": ["vanilla", "vanilla_tail", "ensemble_tail", "tail_gen"],
        "distill": tiny_config.distill.model_copy(update={"tail_below": 40,
                                                          "tail_budget": 300})})
    summary = run(cfg, tmp_path / "run")
    tail = summary["methods"]["vanilla_tail"]["tail"]
    assert tail["rows"] == 300 and tail["wanted"] > 300 and tail["items"] >= 1
    # the synthetic rows' distinct texts were read by the LM (the gain network's view):
    # encoded, or from the cache; the no-LM control spends none
    assert tail["lm_texts"]["encoded"] > 0 and 0 < sum(tail["lm_texts"].values()) <= 300
    control = summary["methods"]["ensemble_tail"]["tail"]
    assert control["rows"] == 300 and sum(control["lm_texts"].values()) == 0
    # the students trained on the training rows and the 300 synthetic ones
    train = summary["methods"]["vanilla"]["history"][0]["train_rows"]
    for name in ("vanilla_tail", "ensemble_tail"):
        assert summary["methods"][name]["history"][0]["train_rows"] == train + 300
    assert "vanilla_tail: 300 synthetic rows of" in (tmp_path / "run" / "log.txt").read_text()
    # served as the backbone, as vanilla is
    for name in ("vanilla_tail", "ensemble_tail", "tail_gen"):
        record = summary["methods"][name]
        assert not record["serves_llm"]
        assert record["parameters"] == summary["methods"]["vanilla"]["parameters"]
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    assert pipeline.method("vanilla_tail")["tail"] == tail  # read back, not trained again
    # exported, each scores the raw test rows as the run did
    from elec.data.sources import load_table
    from elec.data.splits import split_indices
    from elec.exporter import export
    from elec.serve.predictor import Predictor
    from elec.train.trainer import sigmoid

    raw = load_table(cfg.data)
    test = raw.take(split_indices(raw, cfg.data)["test"])
    for name in ("vanilla_tail", "tail_gen"):
        bundle = export(tmp_path / "run", tmp_path / name, method=name)
        np.testing.assert_allclose(Predictor.from_bundle(bundle).predict_table(test),
                                   sigmoid(pipeline.logits(name, "test")), rtol=1e-5, atol=1e-6)


def test_tail_students_are_refused_where_they_cannot_run(tiny_config):
    cfg = tiny_config.model_copy(update={"methods": ["vanilla_tail"]})
    check_run(cfg, sharded=False, world=1)
    with pytest.raises(ConfigError, match="vanilla_tail run on data in memory"):
        check_run(cfg, sharded=True, world=1)
    lora = cfg.model_copy(update={"adapter": cfg.adapter.model_copy(update={"mode": "lora"})})
    with pytest.raises(ConfigError, match="adapter.mode frozen"):
        check_run(lora, sharded=False, world=1)


def test_the_item_columns_are_those_with_one_value_per_item(tiny_config):
    from conftest import synthetic_table

    from elec.distill.tail import item_columns

    train = synthetic_table(500)
    # title and genres are the item's; user, age, occupation are not; rendered or not
    assert item_columns(train, tiny_config) == {"item_id", "title", "genres"}
    named = tiny_config.model_copy(update={"text": tiny_config.text.model_copy(
        update={"item_fields": ["title"]})})
    assert item_columns(train, named) == {"item_id", "title"}


def test_with_no_rare_item_a_tail_student_learns_as_its_plain_twin(tiny_config, elec_home,
                                                                   tmp_path):
    cfg = tiny_config.model_copy(update={
        "methods": ["ensemble_distilled", "ensemble_tail"],
        "distill": tiny_config.distill.model_copy(update={"tail_below": 1})})
    summary = run(cfg, tmp_path / "run")["methods"]
    assert summary["ensemble_tail"]["tail"]["rows"] == 0
    assert summary["ensemble_tail"]["test"] == summary["ensemble_distilled"]["test"]
