"""The LM budget: which training rows get an LM vector, and what the others read."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from elec.data.batches import Columns
from elec.errors import ConfigError
from elec.llm.budget import budget_rows
from elec.pipeline import Run, run
from elec.runnable import check_run
from elec.ui import Reporter


def fake(items: list[int], budget: float, item_column: str = "item_id"):
    single = torch.tensor(items).reshape(-1, 1)
    data = SimpleNamespace(columns={"train": Columns(single=single, multi=[],
                                                     label=torch.zeros(len(items)))},
                           schema=SimpleNamespace(single=[SimpleNamespace(name="item_id")]))
    cfg = SimpleNamespace(llm=SimpleNamespace(budget=budget), seed=0,
                          data=SimpleNamespace(item_column=item_column))
    return data, cfg


def test_every_item_is_covered_in_turn_before_a_frequent_one_gets_more():
    items = [2] * 40 + [3] * 2 + [4] * 1 + [5] * 7  # 50 rows
    data, cfg = fake(items, budget=0.2)  # 10 rows
    chosen = budget_rows(data, cfg).numpy()
    assert len(chosen) == 10 and len(set(chosen)) == 10
    got = np.bincount(np.array(items)[chosen], minlength=6)[2:]
    # one row of each, then a second of each (item 4 has no second), then a third ...
    assert got.tolist() == [3, 2, 1, 4] or got.tolist() == [4, 2, 1, 3]
    assert budget_rows(*fake(items, budget=1.0)) is None  # all of them
    assert len(budget_rows(*fake(items, budget=7))) == 7  # a count
    assert budget_rows(*fake(items, budget=500)) is None
    no_item = budget_rows(*fake(items, budget=0.5, item_column="other"))
    assert len(no_item) == 25  # drawn at random


def test_a_budgeted_run_encodes_fewer_texts_and_the_other_rows_read_no_lm_field(
        tiny_config, elec_home, tmp_path):
    cfg = tiny_config.model_copy(update={
        "methods": ["gain", "vanilla"],
        "llm": tiny_config.llm.model_copy(update={"budget": 0.25})})
    summary = run(cfg, tmp_path / "run")
    train = len(Run(cfg, tmp_path / "run", Reporter(quiet=True)).data.columns["train"])
    log = (tmp_path / "run" / "log.txt").read_text()
    assert f"llm.budget 0.25: {round(train / 4):,} of the {train:,} training rows" in log
    record = summary["methods"]["gain"]
    assert record["test"]["auc"] > 0.6
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    assert pipeline.method("lm_only")["lm_budget"] == {"rows": round(train / 4), "of": train}
    rows = pipeline.lm.gain_columns()["train"]
    absent = rows.extra["llm_absent"]
    assert int((absent == 0).sum()) == round(train / 4)
    assert (rows.extra["llm_vector"][absent == 1] == 0).all()
    # a row without a vector reads the field the gain network's field dropout drops: zero
    from elec.distill.networks import lm_field

    network = pipeline.network("gain").eval()
    field = lm_field(network, rows.take(torch.nonzero(absent).squeeze(1)[:5]))
    assert (field == 0).all()
    # the valid and test rows all have their vectors
    assert "llm_absent" not in pipeline.lm.gain_columns()["test"].extra
    # LM texts: the budgeted training rows' and every valid and test row's (distinct ones)
    full = len(set(pipeline.data.texts["valid"]) | set(pipeline.data.texts["test"])
               | set(pipeline.data.texts["train"]))
    assert 0 < summary["lm_texts"]["encoded"] < full


def test_a_budget_is_refused_where_it_cannot_run(tiny_config):
    cfg = tiny_config.model_copy(update={
        "llm": tiny_config.llm.model_copy(update={"budget": 0.5})})
    check_run(cfg, sharded=False, world=1)
    with pytest.raises(ConfigError, match="llm.budget 0.5 runs with adapter.mode frozen"):
        check_run(cfg, sharded=True, world=1)
