from typer.testing import CliRunner

from elec.cli import app

runner = CliRunner()


def test_unknown_config_key_exits_with_a_message(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model: {name: deepfm}\n")
    result = runner.invoke(app, ["run", "--config", str(config), "--set", "train.lrr=1",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "'train.lrr' does not exist" in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_backbone_is_refused_before_any_work(tmp_path, table_path, elec_home):
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{dataset: {table_path}, label: click, label_threshold: null}}\n"
                      "fields: [{name: user_id, kind: categorical}]\n")
    result = runner.invoke(app, ["run", "-c", str(config), "--set", "model.name=gbdt",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "'gbdt' is not a known backbone" in result.output


def test_models_lists_every_backbone_with_defaults():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    for name in ("dnn", "deepfm", "dcnv2"):
        assert name in result.output
    assert "cross_layers=3" in result.output


def test_methods_lists_the_method_table():
    from elec.methods import METHODS

    result = runner.invoke(app, ["methods"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name in METHODS:
        assert name in result.output
    assert "vanilla *" in result.output and "gain blended with backbone" in result.output


def test_error_messages_keep_their_brackets(tmp_path):
    import yaml

    from elec.config import RunConfig

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(RunConfig().to_dict()))
    (tmp_path / "schema.json").write_text('{"fields": []}')
    result = runner.invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "b")],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "--set methods=[vanilla]` first" in result.output  # not eaten as markup


def test_data_synth_writes_the_meaning_variant_and_names_an_unknown_kind_of_titles(tmp_path):
    import json

    result = runner.invoke(app, ["data", "synth", "--rows", "2000", "--shard-rows", "1000",
                                 "--titles", "meaning", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "m" / "synth.json").read_text())
    assert summary["config"]["titles"] == "meaning"
    assert summary["splits"]["test"]["slices"]["rare"]["rows"] > 0
    result = runner.invoke(app, ["data", "synth", "--rows", "2000", "--titles", "sense",
                                 "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "titles 'sense': use words or meaning" in result.output
    assert not (tmp_path / "x").exists()


def test_elec_run_closes_with_what_to_serve_why_its_lift_its_cost_and_the_export_command(
        tmp_path):
    from elec.report.table import closing_lines

    results = {"lm_texts": {"encoded": 1200, "from_cache": 30}, "served": {
        "method": "tail_gen", "valid_auc": 0.7205, "best": "ensemble_tail",
        "best_valid_auc": 0.7210, "lifts": {"backbone": 0.0134, "self_distilled": 0.0084},
        "cost": {"p50_ms": {"tail_gen": {"1": 1.1, "1024": 90.0},
                            "backbone": {"1": 1.0, "1024": 100.0}},
                 "item_table": 0, "item_rows": True}}}
    text = closing_lines(results, tmp_path / "run")
    assert "1,200 encoded, 30 from the cache" in text
    assert "serve tail_gen: validation AUC 0.7205, within 0.002 of the best, ensemble_tail's " \
           "0.7210" in text
    assert "+0.0134 test AUC over backbone, +0.0084 test AUC over self_distilled" in text
    assert "no LM, its items' rows in the embedding table; p50 on one thread 1.10 ms at 1 " \
           "row, 90.00 ms at 1,024 rows (1.10x, 0.90x the backbone's, measured now)" in text
    assert text.endswith(f"elec export {tmp_path / 'run'} --out bundle")
    results["served"] = {"method": None}
    assert "no network of this run serves without the LM" in closing_lines(results, tmp_path)


def test_the_served_network_is_the_benchmarks_first_among_those_within_reach_of_the_best():
    from elec.exporter import chosen

    # one run cannot tell 0.0005 apart: the benchmarks' ranking decides
    assert chosen({"vanilla": 0.780, "tail_gen": 0.7785, "ensemble_tail": 0.7790}) == "tail_gen"
    assert chosen({"vanilla": 0.780, "ensemble_tail": 0.7810}) == "vanilla"
    # further below the best than a run's noise: the best serves, whatever it is
    assert chosen({"tail_gen": 0.775, "ensemble_tail": 0.780}) == "ensemble_tail"
    assert chosen({"backbone": 0.70, "vanilla": 0.69}) == "backbone"


def test_the_verdict_advises_the_representation_term_where_students_fall_below_the_backbone():
    from elec.report.verdict import advice

    def results(vanilla: float, alpha: float = 1.0) -> dict:
        return {"methods": {"backbone": {"valid": {"auc": 0.780}},
                            "vanilla": {"valid": {"auc": vanilla}}},
                "config": {"distill": {"alpha": alpha}}}

    assert "--set distill.alpha=0" in advice(results(0.770))
    assert "0.0100 below" in advice(results(0.770))
    assert advice(results(0.779)) is None  # within a run's noise of it
    assert advice(results(0.770, alpha=0.0)) is None  # the representation term alone already
    assert advice({"methods": {"backbone": {"valid": {"auc": 0.78}}}}) is None  # no student
