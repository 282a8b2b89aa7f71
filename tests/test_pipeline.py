"""A tiny ELEC run end to end: a few thousand synthetic rows and a tiny random LM."""

import collections
import json

import numpy as np
import pytest
import yaml
from conftest import assert_pinned
from safetensors.torch import load_file

from elec.config import load_config
from elec.data.encoder import OOV, RowEncoder
from elec.data.schema import FeatureSchema
from elec.data.splits import split_indices
from elec.errors import ConfigError, DataError
from elec.methods import DEFAULT
from elec.pipeline import Run, run
from elec.train.trainer import sigmoid
from elec.ui import Reporter


def test_tiny_end_to_end_run_and_resume(tiny_config, elec_home, tmp_path):
    out = tmp_path / "run"
    results = run(tiny_config, out)
    assert list(results["methods"]) == DEFAULT
    assert_pinned("random", results["methods"])  # the same figures as before the refactor
    for name, method in results["methods"].items():
        assert 0.0 <= method["test"]["auc"] <= 1.0, name
        assert method["test"]["logloss"] > 0
    # the model that is served has exactly the backbone's parameters: no LM in it
    methods = results["methods"]
    assert methods["vanilla"]["parameters"] == methods["backbone"]["parameters"]
    assert methods["vanilla_gen"]["parameters"] == methods["backbone"]["parameters"]
    assert methods["gain"]["parameters"] > methods["backbone"]["parameters"]
    from elec.exporter import chosen, served_by_default
    from elec.report.verdict import verdict

    # what `elec export` takes: chosen by the validation AUCs of the servable networks
    servable = {m: r["valid"]["auc"] for m, r in methods.items() if not r["serves_llm"]}
    assert served_by_default(out) == chosen(servable)
    # the verdict measures the served bundle beside the backbone's
    said = verdict(results, out)
    assert said["method"] == chosen(servable) and said["best_valid_auc"] == max(servable.values())
    p50 = said["cost"]["p50_ms"]
    assert set(p50) == {said["method"], "backbone"} and all(
        0 < t < 10_000 for times in p50.values() for t in times.values())
    assert said["cost"]["bytes"][said["method"]] > 0
    assert said["export"] == f"elec export {out} --out bundle"  # what export takes anyway
    # the gain network on raw rows, its LM in the loop, scores as it did in the run (with
    # the adapter of all training rows, where the run spread test rows over the folds' ones)
    from elec.data.sources import load_table
    from elec.teacher import GainScorer

    table = load_table(tiny_config.data)
    test_rows = table.take(split_indices(table, tiny_config.data)["test"][:200]).to_pylist()
    with Reporter(quiet=True) as reporter:
        in_run = sigmoid(Run(tiny_config, out, reporter).logits("gain", "test"))[:200]
    scored = GainScorer(out)(test_rows)
    assert np.abs(scored - in_run).mean() < 0.01 and np.corrcoef(scored, in_run)[0, 1] > 0.99
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
    # what the LM encoded is said before (in the log) and counted after
    assert results["lm_texts"]["encoded"] > 0
    assert "distinct ones not in the vector cache to encode" in (out / "log.txt").read_text()
    assert again["lm_texts"] == {"encoded": 0, "from_cache": 0}

    # another list of methods is the same run: what is finished is reported, not retrained
    log_size = (out / "log.txt").stat().st_size
    fewer = run(tiny_config.model_copy(update={"methods": ["backbone"]}), out)
    assert fewer["methods"] == {"backbone": results["methods"]["backbone"]}
    # the verdict names the network of this invocation's methods, and says so to export
    named = "" if served_by_default(out) == "backbone" else " --method backbone"
    assert verdict(fewer, out)["export"] == f"elec export {out} --out bundle{named}"
    assert "epoch" not in (out / "log.txt").read_text()[log_size:]

    # a run recorded before an option existed is the same run with that option's default
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    del recorded["distill"]["tail_budget"]
    (out / "config.yaml").write_text(yaml.safe_dump(recorded))
    log_size = (out / "log.txt").stat().st_size
    assert run(tiny_config.model_copy(update={"methods": ["backbone"]}), out)["methods"] == \
        fewer["methods"]
    assert "epoch" not in (out / "log.txt").read_text()[log_size:]

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


def test_unknown_method_is_refused(tmp_path):
    cfg = load_config(None, ["methods=[backbone,magic]"])  # the table checks its names
    with pytest.raises(ConfigError, match=r"methods \['magic'\] are not known"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "stages").exists()


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
    import elec.llm.encoder

    lm_only = tiny_config.model_copy(update={"methods": ["lm_only"]})
    run(lm_only, tmp_path / "a")
    monkeypatch.setattr(elec.llm.encoder, "INT8_SCHEME", "another-scheme")
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
    assert_pinned("cold-item-pool", results["methods"])
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


def test_a_damaged_checkpoint_is_named_and_trained_again_never_trusted(tiny_config, elec_home,
                                                                      tmp_path):
    cfg = tiny_config.model_copy(update={"methods": ["backbone"]})
    out = tmp_path / "run"
    first = run(cfg, out)
    checkpoint = out / "checkpoints" / "backbone.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-100])  # truncated, as by a full disk
    size = (out / "log.txt").stat().st_size
    again = run(cfg, out)
    log = (out / "log.txt").read_text()[size:]
    assert f"{checkpoint} is missing or does not match its checksum" in log
    assert "backbone epoch 1" in log
    assert again["methods"]["backbone"]["test"] == first["methods"]["backbone"]["test"]
    (out / "stages" / "backbone.json").write_text("{not json")
    run(cfg, out)
    assert "backbone.json is damaged" in (out / "log.txt").read_text()


def test_a_run_that_finished_no_stage_can_be_rerun_with_a_corrected_config(tiny_config,
                                                                         elec_home, tmp_path):
    out = tmp_path / "run"
    broken = tiny_config.model_copy(update={"methods": ["backbone"], "data": tiny_config.data
                                            .model_copy(update={"label": "no_such_column"})})
    with pytest.raises(DataError, match="no_such_column"):
        run(broken, out)
    corrected = tiny_config.model_copy(update={"methods": ["backbone"]})
    assert run(corrected, out)["methods"]["backbone"]["test"]["auc"] > 0.6
    with pytest.raises(ConfigError, match="different configuration"):
        run(broken, out)  # now a stage is finished: the corrected run is kept


def test_an_out_that_is_a_file_is_refused(tiny_config, elec_home, tmp_path):
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        run(tiny_config, tmp_path / "a-file")
    assert (tmp_path / "a-file").read_text() == "mine"


def test_the_resolved_configuration_goes_to_the_log_not_the_console(tiny_config, elec_home,
                                                                   tmp_path, capsys):
    run(tiny_config.model_copy(update={"methods": ["backbone"]}), tmp_path / "run")
    console = capsys.readouterr().err
    assert "backbone: test AUC" in console and "resolved configuration" not in console
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "resolved configuration:" in log and "teacher_mix" in log


def test_the_default_item_methods_are_left_out_where_the_data_cannot_run_them(
        tiny_config, elec_home, tmp_path):
    from elec.errors import DataError
    from elec.pipeline import Run
    from elec.ui import Reporter

    def methods(cfg, name):
        with Reporter(tmp_path / name / "log.txt", quiet=True) as reporter:
            left = Run(cfg, tmp_path / name, reporter).cfg.methods
        return left, (tmp_path / name / "log.txt").read_text()

    assert methods(tiny_config, "all")[0] == DEFAULT  # item id and item text: all of them
    hashed = tiny_config.model_copy(update={"fields": [
        f.model_copy(update={"encoder": "hash"}) if f.name == "item_id" else f
        for f in tiny_config.fields]})
    items = ("item_gen", "vanilla_gen", "vanilla_tail", "tail_gen")
    left, log = methods(hashed, "hashed")
    assert left == [m for m in DEFAULT if m not in items]
    assert "item_gen, vanilla_gen, vanilla_tail, tail_gen left out of the default methods: " \
        "the item column 'item_id'" in log
    textless = tiny_config.model_copy(update={"fields": [  # no rendered field per item
        f.model_copy(update={"in_text": False}) if f.name in ("title", "genres") else f
        for f in tiny_config.fields]})
    left, log = methods(textless, "textless")
    assert left == [m for m in DEFAULT if m not in items]
    assert "item_gen, vanilla_gen, vanilla_tail, tail_gen left out of the default methods: " \
        "no field describes an item" in log
    named = textless.model_copy(update={"methods": ["backbone", "vanilla_gen"]})
    with pytest.raises(DataError, match="no rendered field holds one value per item"):
        methods(named, "named")  # named in the config: refused, not left out


def test_every_network_is_scored_on_rare_and_new_items_rows(tiny_config, elec_home, tmp_path):
    from elec.data.sources import load_table
    from elec.report.table import markdown

    cfg = tiny_config.model_copy(update={
        "methods": ["backbone"], "distill": tiny_config.distill.model_copy(
            update={"tail_below": 35}),
        "data": tiny_config.data.model_copy(update={"split": "cold-item"})})
    results = run(cfg, tmp_path / "run")
    slices = results["methods"]["backbone"]["test_slices"]
    # counted apart from the run: training rows of each test row's item
    table = load_table(cfg.data)
    parts = split_indices(table, cfg.data)
    items = np.array(table["item_id"].to_pylist())
    train = collections.Counter(items[parts["train"]])
    trained = np.array([train[i] for i in items[parts["test"]]])
    assert slices["new"]["rows"] == int((trained == 0).sum()) > 0  # cold-item: every one
    assert slices["rare"]["rows"] == int((trained < 35).sum())
    assert 0.0 <= slices["new"]["auc"] <= 1.0
    assert "new items' AUC" in markdown(results) and "under 35 training rows" in markdown(results)


def test_reading_a_network_or_its_inputs_never_trains_one(tiny_config, elec_home, tmp_path):
    from elec.pipeline import Run
    from elec.ui import Reporter

    cfg = tiny_config.model_copy(update={"methods": ["backbone", "vanilla"]})
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    with pytest.raises(RuntimeError, match="vanilla has not trained"):
        pipeline.network("vanilla")
    with pytest.raises(RuntimeError, match="lm_only has not trained"):
        pipeline.lm.gain_columns()  # the gain network's inputs: stage 1's vectors
    assert not (tmp_path / "run" / "checkpoints").exists() or \
        not any((tmp_path / "run" / "checkpoints").iterdir())
    pipeline.method("backbone")  # trains, and then reads
    assert pipeline.network("backbone") is pipeline.networks["backbone"]
