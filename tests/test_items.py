"""The item-level method: one LM vector per item, from the item's own text."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import FIELDS, synthetic_table

from elec.config import TextConfig
from elec.errors import DataError
from elec.exporter import export
from elec.pipeline import Run, run
from elec.serve import Predictor
from elec.text.items import item_fields, render_items
from elec.train.trainer import sigmoid
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
        "methods": ["backbone", "item_lm", "vanilla_item"],
        "data": tiny_config.data.model_copy(update={"split": "cold-item"})})
    summary = run(cfg, tmp_path / "run")
    assert 0 < summary["methods"]["item_lm"]["test"]["auc"] <= 1
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    assert pipeline.method("item_lm")["test"] == summary["methods"]["item_lm"]["test"]
    columns = pipeline.lm.item_columns()
    texts, vectors = pipeline.data.item_texts.texts, {}
    for split in ("train", "test"):  # test items never appear in training (cold-item)
        for text, vector in zip(texts[split], columns[split].extra["llm_vector"], strict=True):
            vectors.setdefault(text, []).append(vector.cpu().numpy())
    assert all(np.array_equal(v[0], w) for v in vectors.values() for w in v)
    assert len(vectors) == len(set(texts["train"]) | set(texts["test"]))

    # the bundle carries the table of every item text the run saw, new items' included
    bundle = export(tmp_path / "run", tmp_path / "bundle", method="item_lm",
                    formats=("torchscript", "onnx"))
    trained = sigmoid(pipeline.logits("item_lm", "test"))
    for runtime in ("eager", "torchscript", "onnx"):
        served = Predictor.from_bundle(bundle, runtime=runtime)
        assert set(served.items.index) == {t for split in texts.values() for t in split}
        test = pipeline.data.columns["test"]
        rows = served.items.lookup(texts["test"])
        with torch.no_grad():
            probabilities = served.module(test.single, torch.cat(test.multi, dim=1), rows)
        np.testing.assert_allclose(probabilities.numpy(), trained, rtol=1e-5, atol=1e-6)
    import onnxruntime

    (graph,) = onnxruntime.InferenceSession(str(bundle / "model.onnx")).run(None, {
        "single": test.single.numpy(), "multi": torch.cat(test.multi, dim=1).numpy(),
        "item": rows.numpy()})
    np.testing.assert_allclose(graph, trained, rtol=1e-5, atol=1e-6)
    # raw rows find their item by its text, rendered from the same fields as in training
    assert served.manifest["item_lookup"]["items"] == len(served.items.index)
    assert served.manifest["item_lookup"]["llm"] == cfg.llm.model_dump(mode="json")
    row = pq.read_table(cfg.data.dataset).slice(0, 1).to_pylist()[0]
    fields = [f for f in FIELDS if f.name in pipeline.data.item_texts.fields]
    assert [f.name for f in fields] == ["title", "genres"]
    text = render_items(pa.Table.from_pylist([row]), fields, cfg.text)[0]
    assert torch.equal(served.items.rows([row])[0], served.items.lookup([text])[0])
    assert text in served.items.index
    new = {**row, "title": "A film nobody has seen"}
    assert served.items.unknown == 0
    known, unseen = served.predict_proba([row, new])
    assert served.items.unknown == 1  # not in the table: the new title's LM field is zero
    assert known != unseen
    assert known == pytest.approx(served.predict_table(pa.Table.from_pylist([row]))[0])

    from fastapi.testclient import TestClient

    from elec.serve.app import create_app

    with TestClient(create_app(Predictor.from_bundle(bundle))) as client:
        answer = client.post("/predict", json={"rows": [row, new]}).json()
        assert answer["probabilities"] == pytest.approx([known, unseen], abs=1e-6)
        assert answer["ignored_fields"] == ["click", "timestamp"]  # the title is read
        assert client.get("/metadata").json()["items"] == {
            "in_table": len(served.items.index), "rows_with_an_item_not_in_the_table": 1,
            "post_items": False}

    # a new item joins the table without retraining: its text through the LM, projected
    from typer.testing import CliRunner

    from elec.cli import app
    from elec.llm.stage1 import encode_texts

    graph = (bundle / "model.torchscript").read_bytes()
    pq.write_table(pa.Table.from_pylist([new, row]), tmp_path / "items.parquet")
    added = CliRunner().invoke(app, ["items", "add", str(bundle), str(tmp_path / "items.parquet")])
    assert added.exit_code == 0 and "1 items added" in added.output
    again = CliRunner().invoke(app, ["items", "add", str(bundle), str(tmp_path / "items.parquet")])
    assert "0 items added" in again.output and "2 were in it already" in " ".join(
        again.output.split())
    assert (bundle / "model.torchscript").read_bytes() == graph
    grown = Predictor.from_bundle(bundle)
    new_text = render_items(pa.Table.from_pylist([new]), fields, cfg.text)[0]
    hidden = encode_texts({"new": [new_text]}, cfg.llm, torch.device("cpu"),
                          Reporter(quiet=True))["new"]
    state = pipeline.dir.load("item_lm")
    expected = hidden @ state["llm_projection.weight"].T + state["llm_projection.bias"]
    torch.testing.assert_close(grown.items.lookup([new_text])[0], expected[0])
    assert grown.predict_proba([row])[0] == pytest.approx(known)
    scored = grown.predict_proba([new])[0]
    assert grown.items.unknown == 0 and scored != pytest.approx(unseen)
    scripted = Predictor.from_bundle(bundle, runtime="torchscript").predict_proba([new])[0]
    assert scripted == pytest.approx(scored, abs=1e-6)
    wrong = CliRunner().invoke(app, ["items", "add", str(bundle), str(tmp_path / "x.parquet")])
    assert wrong.exit_code != 0

    # or over HTTP (elec serve --add-items): into the serving table and the bundle at once
    from elec import item_adder

    serving = Predictor.from_bundle(bundle)
    adder = item_adder(bundle, serving)
    later = {**row, "title": "A film released later"}
    with TestClient(create_app(serving, add_items=adder)) as client:
        before = client.post("/predict", json={"rows": [later]}).json()["probabilities"][0]
        assert client.post("/items", json={"rows": [later, later, new]}).json() == {
            "added": 1, "in_table_already": 1, "in_table": len(grown.items.index) + 1}
        after = client.post("/predict", json={"rows": [later]}).json()["probabilities"][0]
        assert client.get("/metadata").json()["items"]["post_items"]
        fields_read = [f.name for f in serving.items.fields]
        lacking = client.post("/items", json={"rows": [{"title": "No genres"}]})
        assert lacking.status_code == 422 and "genres" in lacking.json()["detail"]
        empty = client.post("/items", json={"rows": [later, {f: None for f in fields_read}]})
        assert empty.status_code == 422 and "row 1: every item field" in empty.json()["detail"]
    assert after != pytest.approx(before, abs=1e-6)
    reread = Predictor.from_bundle(bundle)  # the bundle holds it: kept across restarts
    assert reread.predict_proba([later])[0] == pytest.approx(after, abs=1e-6)
    assert reread.items.unknown == 0
    with TestClient(create_app(reread)) as client:  # without --add-items: no such endpoint
        assert client.post("/items", json={"rows": [later]}).status_code in (404, 405)

    # ELEC's student with the item field: distilled from the gain network, served the same way
    student = summary["methods"]["vanilla_item"]
    assert 0 < student["test"]["auc"] <= 1 and not student["serves_llm"]
    assert student["parameters"] == summary["methods"]["item_lm"]["parameters"] - sum(
        p.numel() for p in pipeline.network("item_lm").llm_projection.parameters())
    served = Predictor.from_bundle(export(tmp_path / "run", tmp_path / "student",
                                          method="vanilla_item"))
    rows = served.items.lookup(texts["test"])
    with torch.no_grad():
        probabilities = served.module(test.single, torch.cat(test.multi, dim=1), rows)
    np.testing.assert_allclose(probabilities.numpy(), sigmoid(pipeline.logits(
        "vanilla_item", "test")), rtol=1e-5, atol=1e-6)


def test_item_dropout_reads_a_fraction_of_training_ids_as_unseen():
    import torch

    from elec.data.batches import Columns
    from elec.data.encoder import MISSING, OOV
    from elec.train.trainer import id_dropout

    single = torch.stack([torch.arange(20_000) % 7, torch.arange(20_000) % 50 + 2], dim=1)
    single[::10, 1] = MISSING
    batch = Columns(single=single, multi=[], label=torch.zeros(20_000))
    dropped = id_dropout(1, 0.25, seed=3)(batch)
    assert torch.equal(batch.single, single)  # the batch itself is not changed
    assert torch.equal(dropped.single[:, 0], single[:, 0])  # other fields are untouched
    changed = dropped.single[:, 1] != single[:, 1]
    assert (dropped.single[changed, 1] == OOV).all()
    assert (dropped.single[::10, 1] == MISSING).all()  # missing stays missing
    present = single[:, 1] != MISSING
    assert abs(changed[present].float().mean().item() - 0.25) < 0.02
    again = id_dropout(1, 0.25, seed=3)
    assert torch.equal(again(batch).single, dropped.single)  # seeded: paired across methods
    assert not torch.equal(again(batch).single, dropped.single)  # new rows every batch


def test_item_dropout_needs_the_item_column_as_a_vocabulary_field(tiny_config):
    from elec.errors import ConfigError
    from elec.runnable import check_run

    fields = [f.model_copy(update={"encoder": "hash"}) if f.name == "item_id" else f
              for f in tiny_config.fields]
    cfg = tiny_config.model_copy(update={
        "fields": fields, "train": tiny_config.train.model_copy(update={"item_dropout": 0.2})})
    with pytest.raises(ConfigError, match="train.item_dropout reads the item column"):
        check_run(cfg, sharded=False, world=1)
    check_run(tiny_config.model_copy(update={"train": cfg.train}), sharded=False, world=1)
    generated = cfg.model_copy(update={"methods": ["item_gen"]})
    with pytest.raises(ConfigError, match="train.item_dropout and item_gen read the item"):
        check_run(generated, sharded=False, world=1)


def test_the_trainer_augments_training_batches_and_never_evaluation(tiny_config):
    import torch

    from elec.data.batches import Columns
    from elec.data.encoder import OOV
    from elec.train.trainer import Trainer, id_dropout

    ids = torch.arange(512).reshape(-1, 1) % 30 + 2
    rows = Columns(single=ids, multi=[], label=(ids[:, 0] % 2).float())
    model = torch.nn.Sequential(torch.nn.Embedding(32, 4), torch.nn.Flatten(),
                                torch.nn.Linear(4, 1))
    seen = {"train": [], "valid": []}

    def loss(batch):
        seen["train"].append(batch.single)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            model(batch.single).squeeze(-1), batch.label)

    def predict(batch):
        seen["valid"].append(batch.single)
        return model(batch.single).squeeze(-1)

    trainer = Trainer(tiny_config.train.model_copy(update={"max_epochs": 2, "batch_size": 64}),
                      log=lambda _: None, augment=id_dropout(0, 0.5, seed=0))
    trainer.fit("dropout", model, loss, predict, rows, rows, torch.Generator().manual_seed(0))
    assert (torch.cat(seen["train"]) == OOV).float().mean() > 0.4
    assert not (torch.cat(seen["valid"]) == OOV).any()


def test_field_lm_reads_each_value_sentence_and_serves_as_a_backbone(tiny_config, elec_home,
                                                                     tmp_path):
    import torch

    from elec.data.encoder import FIRST
    from elec.exporter import export
    from elec.serve import Predictor
    from elec.text.items import value_texts
    from elec.train.trainer import sigmoid

    cfg = tiny_config.model_copy(update={"methods": ["backbone", "field_lm"]})
    summary = run(cfg, tmp_path / "run")
    field = summary["methods"]["field_lm"]
    assert 0.5 < field["test"]["auc"] <= 1
    assert field["parameters"] == summary["methods"]["backbone"]["parameters"]
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    schema = pipeline.data.schema
    rows, texts = value_texts(schema, cfg.fields, cfg.text)
    occupation = next(f for f in schema.single if f.name == "occupation")
    assert f"Occupation is {occupation.vocab[0]}." in texts  # ids and numbers are not read
    assert not any(t.startswith(("Age", "Movie title")) or "u1" in t for t in texts)
    assert "Genres is Comedy." in texts and len(set(rows)) == len(rows)
    offset = sum(f.size for f in schema.single[:schema.single.index(occupation)])
    assert texts[rows.index(offset + FIRST)] == f"Occupation is {occupation.vocab[0]}."

    # the bundle is a plain backbone with the LM's part folded in: the same scores
    bundle = export(tmp_path / "run", tmp_path / "bundle", method="field_lm")
    trained = sigmoid(pipeline.logits("field_lm", "test"))
    served = Predictor.from_bundle(bundle)
    columns = pipeline.data.columns["test"]
    with torch.no_grad():
        probabilities = served.module(columns.single, torch.cat(columns.multi, dim=1)).numpy()
    np.testing.assert_allclose(probabilities, trained, rtol=1e-5, atol=1e-6)

    # its control: each value given another value's vector (the same vectors, permuted)
    before_rows, before = (t.clone() for t in pipeline.lm.values())
    pipeline.lm.permute_values(torch.Generator().manual_seed(0))
    after_rows, after = pipeline.lm.values()
    assert torch.equal(after_rows, before_rows) and not torch.equal(after, before)
    assert torch.allclose(after.sum(0), before.sum(0), atol=1e-4)


def test_field_lm_needs_a_categorical_field_in_the_text(tiny_config):
    from elec.errors import ConfigError
    from elec.runnable import check_run

    fields = [f.model_copy(update={"in_text": False}) if f.kind in ("categorical", "multi")
              else f for f in tiny_config.fields]
    cfg = tiny_config.model_copy(update={"fields": fields, "methods": ["field_lm"]})
    with pytest.raises(ConfigError, match="field_lm reads the values of the categorical"):
        check_run(cfg, sharded=False, world=1)
    check_run(tiny_config.model_copy(update={"methods": ["field_lm"]}), sharded=False, world=1)


def test_the_words_control_reads_the_item_texts_plain_words_and_serves_without_an_lm(
        tiny_config, elec_home, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import elec.llm.stage1
    from elec.cli import app
    from elec.distill.networks import ITEM_TEXT
    from elec.methods import METHODS
    from elec.text.words import bags, words

    cfg = tiny_config.model_copy(update={
        "methods": ["backbone", "words"],
        "data": tiny_config.data.model_copy(update={"split": "cold-item"})})
    summary = run(cfg, tmp_path / "run")
    assert 0.5 < summary["methods"]["words"]["test"]["auc"] <= 1
    assert "texts encoded" not in (tmp_path / "run" / "log.txt").read_text()  # no LM
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    texts, vocab, table = pipeline.lm.item_words()
    item_texts = pipeline.data.item_texts.texts
    # the vocabulary is the training texts' words: a new item's own number is not in it
    assert set(vocab) == {w for t in item_texts["train"] for w in words(t)}
    unseen = {w for t in item_texts["test"] for w in words(t)} - set(vocab)
    assert unseen and unseen <= {w for w in unseen if w.isdigit()}
    method = METHODS["words"]
    columns = pipeline.lm.rows(method)
    for split in ("train", "test"):
        assert [texts[i] for i in columns[split].extra[ITEM_TEXT].tolist()] == item_texts[split]
    torch.testing.assert_close(table, bags(texts, vocab))
    assert method.servable and not method.serves_llm

    # served with its table of every text's projected bag, no LM anywhere
    def no_lm(*_, **__):
        raise AssertionError("the words control loaded an LM")

    monkeypatch.setattr(elec.llm.stage1, "text_encoder", no_lm)
    bundle = export(tmp_path / "run", tmp_path / "bundle", method="words")
    served = Predictor.from_bundle(bundle)
    assert served.manifest["item_lookup"]["encoder"] == "words"
    assert served.manifest["item_lookup"]["llm"] is None
    test = pipeline.data.columns["test"]
    with torch.no_grad():
        probabilities = served.module(test.single, torch.cat(test.multi, dim=1),
                                      served.items.lookup(item_texts["test"]))
    np.testing.assert_allclose(probabilities.numpy(), sigmoid(pipeline.logits("words", "test")),
                               rtol=1e-5, atol=1e-6)
    row = pq.read_table(cfg.data.dataset).slice(0, 1).to_pylist()[0]
    new = {**row, "title": "Movie number 7777"}  # known words but its number
    before = served.predict_proba([new])[0]
    pq.write_table(pa.Table.from_pylist([new]), tmp_path / "items.parquet")
    added = CliRunner().invoke(app, ["items", "add", str(bundle), str(tmp_path / "items.parquet")])
    assert added.exit_code == 0 and "1 items added" in added.output, added.output
    grown = Predictor.from_bundle(bundle)
    new_text = render_items(pa.Table.from_pylist([new]), [
        f for f in FIELDS if f.name in pipeline.data.item_texts.fields], cfg.text)[0]
    state = pipeline.dir.load("words")
    expected = (bags([new_text], vocab) @ state["llm_projection.weight"].T
                + state["llm_projection.bias"])
    torch.testing.assert_close(grown.items.lookup([new_text])[0], expected[0])
    assert grown.predict_proba([new])[0] != pytest.approx(before)  # its words are read now


def test_item_gen_blends_each_item_embedding_with_one_generated_from_its_text(
        tiny_config, elec_home, tmp_path):
    from typer.testing import CliRunner

    from elec.cli import app
    from elec.distill.generated import GeneratedNetwork
    from elec.distill.networks import LLM_VECTOR
    from elec.llm.stage1 import encode_texts

    cfg = tiny_config.model_copy(update={
        "methods": ["backbone", "item_gen"],
        "data": tiny_config.data.model_copy(update={"split": "cold-item"})})
    summary = run(cfg, tmp_path / "run")
    record = summary["methods"]["item_gen"]
    assert not record["serves_llm"]
    # the backbone served, nothing more: its parameters; the settings chosen on valid
    assert record["parameters"] == summary["methods"]["backbone"]["parameters"]
    scores = record["valid_auc_by_setting"]
    assert len(scores) == len(GeneratedNetwork.PENALTIES) * len(GeneratedNetwork.PRIORS)
    assert record["valid"]["auc"] == pytest.approx(max(scores.values()))
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    network = pipeline.network("item_gen")
    backbone = pipeline.network("backbone").network
    assert all(not p.requires_grad for p in network.parameters())
    torch.testing.assert_close(network.network.state_dict(), backbone.state_dict())

    # every test item is new (cold-item): it is scored with its generated embedding alone
    item = network.item_slot
    columns = pipeline.lm.item_columns()
    test = columns["test"]
    assert (network.learnt_share()[test.single[:, item]] == 0).all()
    with torch.no_grad():
        generated = network.llm_projection(test.extra[LLM_VECTOR])
        fields = backbone.embedding(test.single, test.multi)
        fields[:, item] = generated
        expected = backbone.backbone(fields)[0]
    torch.testing.assert_close(torch.from_numpy(pipeline.logits("item_gen", "test")), expected)

    # served as the plain backbone: every item's row in the embedding table, the new
    # (test) items' ids in the vocabulary; raw test rows score as the network did
    from elec.data.sources import load_table
    from elec.data.splits import split_indices

    bundle = export(tmp_path / "run", tmp_path / "bundle", method="item_gen",
                    formats=("torchscript", "onnx"))
    raw = load_table(cfg.data)
    splits = split_indices(raw, cfg.data)
    rows_test = raw.take(splits["test"])
    trained = sigmoid(pipeline.logits("item_gen", "test"))
    served = Predictor.from_bundle(bundle)
    assert served.items is None and served.manifest["item_lookup"] is None
    about = served.manifest["item_rows"]
    assert about["field"] == "item_id" and about["llm"] == cfg.llm.model_dump(mode="json")
    new_ids = {i for s in ("valid", "test") for i in raw.take(splits[s])["item_id"].to_pylist()}
    assert about["new_items"] == len(new_ids) and new_ids <= set(served.schema.index["item_id"])
    assert len(served.schema.index["item_id"]) == len(pipeline.data.schema.index["item_id"]) \
        + len(new_ids)
    np.testing.assert_allclose(served.predict_table(rows_test), trained, rtol=1e-5, atol=1e-6)
    scripted = Predictor.from_bundle(bundle, runtime="torchscript")
    np.testing.assert_allclose(scripted.predict_table(rows_test), trained, rtol=1e-5, atol=1e-6)
    import onnxruntime

    features = served.encoder.encode_table(rows_test)
    (graph,) = onnxruntime.InferenceSession(str(bundle / "model.onnx")).run(None, {
        "single": features.single, "multi": features.multi_matrix()})
    np.testing.assert_allclose(graph, trained, rtol=1e-5, atol=1e-6)

    # a new item gets its generated row from its text, without retraining; its graphs too
    row = rows_test.slice(0, 1).to_pylist()[0]
    new = {**row, "item_id": "i-new", "title": "A film nobody has seen"}
    before = served.predict_proba([new])[0]
    pq.write_table(pa.Table.from_pylist([new, row]), tmp_path / "items.parquet")
    added = CliRunner().invoke(app, ["items", "add", str(bundle), str(tmp_path / "items.parquet")])
    assert added.exit_code == 0 and "1 items added" in added.output, added.output
    assert "1 were in it already" in " ".join(added.output.split())
    grown = Predictor.from_bundle(bundle)
    fields_read = [f for f in FIELDS if f.name in pipeline.data.item_texts.fields]
    text = render_items(pa.Table.from_pylist([new]), fields_read, cfg.text)[0]
    hidden = encode_texts({"new": [text]}, cfg.llm, torch.device("cpu"), Reporter(quiet=True))
    state = pipeline.dir.load("item_gen")
    expected = hidden["new"][0] @ state["llm_projection.weight"].T + state["llm_projection.bias"]
    new_id = grown.schema.index["item_id"]["i-new"]
    table = grown.module.embedding.table.weight
    offset = sum(grown.schema.single_sizes[:item])
    torch.testing.assert_close(table[offset + new_id], expected)
    scored = grown.predict_proba([new])[0]
    assert scored != pytest.approx(before)
    assert grown.predict_proba([row])[0] == pytest.approx(served.predict_proba([row])[0])
    assert Predictor.from_bundle(bundle, runtime="torchscript").predict_proba([new])[0] \
        == pytest.approx(scored, abs=1e-6)
    from elec import item_adder
    from elec.serve.bundle import BundleError

    with pytest.raises(BundleError, match="elec items add"):  # not over HTTP: restart after
        item_adder(bundle, grown)
    other = {**new, "item_id": "i-other", "title": "Another film nobody has seen"}
    assert item_adder(bundle)([other, new]) == {"added": 1, "in_table_already": 1}
    assert "i-other" in Predictor.from_bundle(bundle).schema.index["item_id"]

    # the generator is a regression of learnt embeddings on text vectors: embeddings that
    # are a linear function of the vectors are generated exactly for items never fitted
    train = columns["train"]
    vectors, ids = train.extra[LLM_VECTOR], train.single[:, item]
    known = (network.item_rows >= network.FIT_ROWS).nonzero().squeeze(1)
    assert len(known) > 10
    mapping = torch.randn(vectors.shape[1], backbone.embedding_dim) * 0.01
    row = {int(i): r for r, i in enumerate(ids.tolist())}
    offset = network.network.embedding.single_offsets[item]
    with torch.no_grad():
        network.network.embedding.table.weight[known + offset] = (
            vectors[[row[int(i)] for i in known]] @ mapping + 0.3)
        network.fit(train, lambda: 0.0)
        torch.testing.assert_close(network.llm_projection(test.extra[LLM_VECTOR]),
                                   test.extra[LLM_VECTOR] @ mapping + 0.3, atol=2e-3, rtol=0)
