import json

import pytest

from elec.bench import quality, summarise
from elec.report.plots import quality_figure
from elec.report.quality import markdown


def methods(backbone, vanilla):
    return {"backbone": {"test": {"auc": backbone, "logloss": 0.5},
                         "valid": {"auc": backbone, "logloss": 0.5}},
            "vanilla": {"test": {"auc": vanilla, "logloss": 0.5},
                        "valid": {"auc": vanilla, "logloss": 0.5}}}


def test_deltas_are_paired_by_seed():
    per_seed = {0: methods(0.78, 0.79), 1: methods(0.80, 0.799), 2: methods(0.77, 0.775)}
    summary = summarise(per_seed)
    delta = summary["deltas"]["vanilla - backbone"]
    assert delta["values"] == pytest.approx([0.01, -0.001, 0.005])
    assert delta["mean"] == pytest.approx(0.014 / 3)
    assert (delta["positive"], delta["seeds"]) == (2, 3)
    assert summary["methods"]["backbone"]["test"]["auc"]["mean"] == pytest.approx(2.35 / 3)
    assert summary["methods"]["vanilla"]["serves_llm"] is False


def test_quality_runs_every_seed_and_writes_json_markdown_and_plot(tiny_config, elec_home,
                                                                   tmp_path):
    summary = quality(tiny_config, [0, 1], ["random", "cold-item"], tmp_path,
                      methods=["backbone", "self_distilled"], log=lambda m: None)
    for protocol in ("random", "cold-item"):
        part = summary["protocols"][protocol]
        assert part["seeds"] == [0, 1]
        assert len(part["methods"]["backbone"]["test"]["auc"]["values"]) == 2
        assert (tmp_path / "deepfm" / protocol / "seed-1" / "curves.png").is_file()
    on_disk = json.loads((tmp_path / "quality_deepfm.json").read_text())
    assert on_disk["protocols"]["random"]["methods"].keys() == {"backbone", "self_distilled"}
    assert "| backbone | no |" in markdown(summary)
    assert quality_figure({"deepfm": summary}, tmp_path / "q.png").stat().st_size > 1000


def test_quality_figure_takes_protocols_benchmarked_with_different_methods(tmp_path):
    full = summarise({0: methods(0.78, 0.79), 1: methods(0.79, 0.80)})
    fewer = {**full, "methods": {"vanilla": full["methods"]["vanilla"]}}
    summary = {"protocols": {"random": fewer, "temporal-pool": full}}
    assert quality_figure({"deepfm": summary}, tmp_path / "q.png").stat().st_size > 1000
