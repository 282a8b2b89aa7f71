"""A tiny ELEC run end to end: a few thousand synthetic rows and a tiny random LM."""

import json

import pytest
from pydantic import ValidationError
from safetensors.torch import load_file

from elec.config import DEFAULT_METHODS, ConfigError, RunConfig
from elec.data.encoder import OOV, RowEncoder
from elec.data.schema import FeatureSchema
from elec.data.sources import split_indices
from elec.pipeline import Run, run
from elec.ui import Reporter


def test_tiny_end_to_end_run_and_resume(tiny_config, elec_home, tmp_path):
    out = tmp_path / "run"
    results = run(tiny_config, out)
    assert list(results["methods"]) == DEFAULT_METHODS
    for name, method in results["methods"].items():
        assert 0.0 <= method["test"]["auc"] <= 1.0, name
        assert method["test"]["logloss"] > 0
    # the model that is served has exactly the backbone's parameters: no LM in it
    methods = results["methods"]
    assert methods["vanilla"]["parameters"] == methods["backbone"]["parameters"]
    assert methods["gain"]["parameters"] > methods["backbone"]["parameters"]
    # the collaborative signal of the synthetic data is learnable
    assert methods["backbone"]["test"]["auc"] > 0.6
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["methods"]["vanilla"]["test"] == methods["vanilla"]["test"]
    for name in ("backbone", "self_distilled", "gain", "vanilla", "lm_only"):
        assert (out / "checkpoints" / f"{name}.safetensors").is_file()
    assert (out / "schema.json").is_file() and (out / "config.yaml").is_file()
    vanilla = load_file(str(out / "checkpoints" / "vanilla.safetensors"))
    assert not any(k.startswith("llm") for k in vanilla)

    # rerun: every stage is recorded, so nothing trains and the LM is not even loaded
    log_size = (out / "log.txt").stat().st_size
    again = run(tiny_config, out)
    assert again["methods"] == results["methods"]
    new_log = (out / "log.txt").read_text()[log_size:]
    assert "resuming" in new_log and "epoch" not in new_log and "texts encoded" not in new_log

    # a different config on the same directory is refused
    with pytest.raises(ConfigError, match="different configuration"):
        run(tiny_config.model_copy(update={"seed": 8}), out)


def test_killed_run_continues_from_the_first_unfinished_stage(tiny_config, elec_home, tmp_path):
    out = tmp_path / "run"
    first = run(tiny_config, out)
    for stage in ("gain", "vanilla"):  # as if killed after self_distilled
        (out / "stages" / f"{stage}.json").unlink()
    size = (out / "log.txt").stat().st_size
    second = run(tiny_config, out)
    log = (out / "log.txt").read_text()[size:]
    assert "backbone epoch" not in log and "gain epoch" in log
    assert "texts encoded" not in log  # stage 1 outputs were kept
    # seeded per method, so the retrained stages reproduce the first run exactly
    assert second["methods"]["gain"]["test"] == first["methods"]["gain"]["test"]
    assert second["methods"]["vanilla"]["test"] == first["methods"]["vanilla"]["test"]
    # a run whose encoders were fitted otherwise (an older elec) is not resumed blindly
    schema = json.loads((out / "schema.json").read_text())
    schema["fields"][0]["vocab"] = schema["fields"][0]["vocab"][:-1]
    (out / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(ConfigError, match="feature encoders differ"):
        run(tiny_config, out)


def test_a_method_gives_the_same_result_alone_or_after_others(tiny_config, elec_home, tmp_path):
    after_others = run(tiny_config.model_copy(update={
        "methods": ["cross_distilled", "vanilla_score", "backbone"]}), tmp_path / "a")
    alone = run(tiny_config.model_copy(update={"methods": ["backbone"]}), tmp_path / "b")
    assert alone["methods"]["backbone"]["test"] == after_others["methods"]["backbone"]["test"]
    assert list(after_others["methods"]) == ["cross_distilled", "vanilla_score", "backbone"]
    assert after_others["config"]["distill"]["cross_teacher"] == "dcnv2"


def test_unknown_method_is_refused(tiny_config, elec_home, tmp_path):
    with pytest.raises(ConfigError, match=r"methods \['magic'\] are not known"):
        run(tiny_config.model_copy(update={"methods": ["magic"]}), tmp_path / "run")


def test_stage1_is_shared_by_runs_that_differ_only_downstream(tiny_config, elec_home, tmp_path):
    first = run(tiny_config.model_copy(update={"methods": ["lm_only"]}), tmp_path / "a")
    other = tiny_config.model_copy(update={"methods": ["lm_only", "gain"],
                                           "model": tiny_config.model.model_copy(
                                               update={"name": "dnn"})})
    second = run(other, tmp_path / "b")
    log = (tmp_path / "b" / "log.txt").read_text()
    assert "reusing the trained adapter" in log and "texts encoded" not in log
    assert second["methods"]["lm_only"] == first["methods"]["lm_only"]


def test_caches_and_resume_are_keyed_by_the_data_not_its_path(tiny_config, elec_home,
                                                               tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = tmp_path / "clicks.parquet"
    table = pq.read_table(tiny_config.data.dataset)
    pq.write_table(table, path)
    cfg = tiny_config.model_copy(update={
        "methods": ["lm_only"],
        "data": tiny_config.data.model_copy(update={"dataset": str(path)})})
    first = run(cfg, tmp_path / "a")
    # the same file rewritten with other labels, at the same path, run into a new --out
    flipped = table.set_column(table.column_names.index("click"), "click",
                               pc.subtract(1, table["click"]))
    pq.write_table(flipped, path)
    second = run(cfg, tmp_path / "b")
    assert "reusing the trained adapter" not in (tmp_path / "b" / "log.txt").read_text()
    assert second["methods"]["lm_only"]["test"] != first["methods"]["lm_only"]["test"]
    # resuming the first run on the rewritten file is refused, not mixed
    with pytest.raises(ConfigError, match="data of the run .* changed since it began"):
        run(cfg, tmp_path / "a")
    # the same rows under another path share the cache: content, not names
    pq.write_table(flipped, tmp_path / "copy.parquet")
    run(cfg.model_copy(update={"data": cfg.data.model_copy(
        update={"dataset": str(tmp_path / "copy.parquet")})}), tmp_path / "c")
    assert "reusing the trained adapter" in (tmp_path / "c" / "log.txt").read_text()


def test_the_lm_is_keyed_by_its_files_not_its_name(tiny_lm, tmp_path):
    import shutil

    from elec.llm.encoder import model_digest

    copy = tmp_path / "renamed-lm"
    shutil.copytree(tiny_lm, copy)
    assert model_digest(str(copy)) == model_digest(str(tiny_lm))
    config = copy / "config.json"
    config.write_text(config.read_text().replace('"hidden_act": "gelu"', '"hidden_act": "relu"'))
    assert model_digest(str(copy)) != model_digest(str(tiny_lm))


def test_a_change_to_encoding_misses_the_stage1_cache(tiny_config, elec_home, tmp_path,
                                                      monkeypatch):
    import elec.pipeline

    lm_only = tiny_config.model_copy(update={"methods": ["lm_only"]})
    run(lm_only, tmp_path / "a")
    monkeypatch.setattr(elec.pipeline, "INT8_SCHEME", "another-scheme")
    run(lm_only, tmp_path / "b")
    assert "reusing the trained adapter" not in (tmp_path / "b" / "log.txt").read_text()


def test_cold_item_pool_and_an_unlabeled_table_feed_distillation(tiny_config, elec_home,
                                                                 tmp_path, table_path):
    import pyarrow.parquet as pq

    pooled = tiny_config.model_copy(update={
        "methods": ["self_distilled", "vanilla"],
        "data": tiny_config.data.model_copy(update={"split": "cold-item-pool"})})
    results = run(pooled, tmp_path / "pool")
    log = (tmp_path / "pool" / "log.txt").read_text()
    assert "unlabeled rows" in log
    assert 0 <= results["methods"]["vanilla"]["test"]["auc"] <= 1
    # the new items the pool shows have embedding rows of their own, not the OOV bucket
    schema = FeatureSchema.load(tmp_path / "pool" / "schema.json")
    table = pq.read_table(table_path)
    parts = split_indices(table, pooled.data)
    items = RowEncoder(schema).encode_table(table).single[:, schema.names.index("item_id")]
    assert (items[parts["pool"]] != OOV).all() and (items[parts["train"]] != OOV).all()
    assert not set(items[parts["train"]]) & set(items[parts["pool"]])

    fresh = pq.read_table(table_path).slice(0, 200).drop_columns(["click"])
    pq.write_table(fresh, tmp_path / "fresh.parquet")
    external = tiny_config.model_copy(update={
        "methods": ["self_distilled"],
        "data": tiny_config.data.model_copy(update={"unlabeled": str(tmp_path / "fresh.parquet")})})
    run(external, tmp_path / "external")
    assert "200 unlabeled rows" in (tmp_path / "external" / "log.txt").read_text()


def test_teacher_mix_blends_the_gain_network_with_the_backbone(tiny_config, elec_home, tmp_path):
    def students(mix):
        cfg = tiny_config.model_copy(update={
            "methods": ["self_distilled", "cross_distilled", "ensemble_distilled", "vanilla"],
            "distill": tiny_config.distill.model_copy(update={"beta": 0.0, "teacher_mix": mix})})
        return run(cfg, tmp_path / f"mix-{mix}")["methods"]

    # mix 0: the score target is the backbone's alone, so the vanilla network and the
    # no-LM ensemble control train exactly as the self-distilled control does
    none = students(0.0)
    assert none["vanilla"]["test"] == none["self_distilled"]["test"]
    assert none["ensemble_distilled"]["test"] == none["self_distilled"]["test"]
    # mix 1 (the paper's teacher): the ensemble control is the cross-distilled one
    full = students(1.0)
    assert full["ensemble_distilled"]["test"] == full["cross_distilled"]["test"]
    half = students(0.5)
    assert half["vanilla"]["test"] != none["vanilla"]["test"]
    assert half["ensemble_distilled"]["test"] not in (none["self_distilled"]["test"],
                                                      full["cross_distilled"]["test"])


def test_fold_by_item_gives_every_item_one_cross_fitting_fold(tiny_config, elec_home, tmp_path):
    def folds_per_item(fold_by):
        cfg = tiny_config.model_copy(update={
            "adapter": tiny_config.adapter.model_copy(update={"fold_by": fold_by, "folds": 3})})
        run_ = Run(cfg, tmp_path / str(fold_by), Reporter(tmp_path / "log.txt", quiet=True))
        position = run_.data.schema.names.index("item_id")
        seen: dict[int, set[int]] = {}
        for split, fold in run_._folds().items():
            for item, k in zip(run_.data.columns[split].single[:, position].tolist(),
                               fold.tolist(), strict=True):
                seen.setdefault(item, set()).add(k)
        return seen

    by_item = folds_per_item("item_id")
    assert all(len(folds) == 1 for folds in by_item.values())
    assert len(set().union(*by_item.values())) == 3  # the items are spread over the folds
    assert any(len(folds) > 1 for folds in folds_per_item(None).values())  # by row
    with pytest.raises(ValidationError, match="fold_by"):
        RunConfig.model_validate({**tiny_config.to_dict(), "adapter": {"fold_by": "genres"}})
