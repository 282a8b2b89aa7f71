"""Semantic-ID item embeddings (item_sid): codes from text vectors, trained beside the
item id, served as the plain backbone."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from elec.distill.semantic import residual_kmeans
from elec.models.item_rows import generated_rows, prefix_count, prefix_rows, semantic_ids
from elec.pipeline import Run, run
from elec.serve.bundle import export
from elec.serve.predictor import Predictor
from elec.train.trainer import sigmoid
from elec.ui import Reporter


def test_residual_kmeans_gives_texts_that_read_alike_the_same_first_code():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=generator) * 5
    vectors = centres.repeat_interleave(25, 0) + 0.05 * torch.randn(100, 16, generator=generator)
    books = residual_kmeans(vectors, levels=2, codes=4, seed=3)
    assert books.shape == (2, 4, 16)
    codes = semantic_ids(books, vectors)
    first = codes[:, 0].view(4, 25)
    assert (first == first[:, :1]).all() and len(set(first[:, 0].tolist())) == 4
    # the same fit from the same seed; the second level splits what the first joined
    torch.testing.assert_close(residual_kmeans(vectors, 2, 4, seed=3), books)
    assert len(set(map(tuple, codes.tolist()))) > 4
    # every prefix of every ID has a row of its own
    rows = prefix_rows(codes, 4)
    assert rows[:, 0].max() < 4 <= rows[:, 1].min() and rows.max() < prefix_count(2, 4)
    ids = {tuple(c) for c in codes.tolist()}
    assert len(set(rows[:, 1].tolist())) == len(ids)
    # fewer vectors than codes: as many codes as vectors
    assert residual_kmeans(vectors[:3], 2, 4, seed=0).shape == (2, 3, 16)


def test_item_sid_trains_code_rows_beside_the_item_id_and_serves_as_the_backbone(
        tiny_config, elec_home, tmp_path):
    from typer.testing import CliRunner

    from elec.cli import app
    from elec.data.sources import load_table
    from elec.data.splits import split_indices
    from elec.distill.networks import LLM_VECTOR
    from elec.llm.stage1 import encode_texts
    from elec.text.items import render_items
    from tests.conftest import FIELDS

    cfg = tiny_config.model_copy(update={
        "methods": ["backbone", "item_sid"],
        "data": tiny_config.data.model_copy(update={"split": "cold-item"})})
    summary = run(cfg, tmp_path / "run")
    record = summary["methods"]["item_sid"]
    assert not record["serves_llm"]
    assert record["parameters"] == summary["methods"]["backbone"]["parameters"]
    pipeline = Run(cfg, tmp_path / "run", Reporter(quiet=True))
    network = pipeline.network("item_sid")
    item = network.item_slot
    test = pipeline.lm.item_columns()["test"]
    # a test item is new (cold-item): its embedding is the unseen id's row plus its codes'
    with torch.no_grad():
        fields = network.network.embedding(test.single, test.multi)
        assert (test.single[:, item] == 1).all()
        codes = prefix_rows(semantic_ids(network.codebooks, test.extra[LLM_VECTOR]),
                            network.codebooks.shape[1])
        fields[:, item] += network.prefixes.weight[codes].sum(1)
        expected = network.network.backbone(fields)[0]
    trained = pipeline.logits("item_sid", "test")
    torch.testing.assert_close(torch.from_numpy(trained), expected)
    # the code rows were trained: the new items' scores differ from the backbone's
    assert not np.allclose(trained, pipeline.logits("backbone", "test"))

    bundle = export(tmp_path / "run", tmp_path / "bundle", method="item_sid",
                    formats=("torchscript",))
    raw = load_table(cfg.data)
    rows_test = raw.take(split_indices(raw, cfg.data)["test"])
    served = Predictor.from_bundle(bundle)
    assert served.manifest["item_rows"]["field"] == "item_id"
    np.testing.assert_allclose(served.predict_table(rows_test), sigmoid(trained),
                               rtol=1e-5, atol=1e-6)

    # a new item added later gets the unseen id's row plus its codes' rows
    row = rows_test.slice(0, 1).to_pylist()[0]
    new = {**row, "item_id": "i-new", "title": "A film nobody has seen"}
    pq.write_table(pa.Table.from_pylist([new]), tmp_path / "items.parquet")
    added = CliRunner().invoke(app, ["items", "add", str(bundle), str(tmp_path / "items.parquet")])
    assert added.exit_code == 0 and "1 items added" in added.output, added.output
    grown = Predictor.from_bundle(bundle)
    text = render_items(pa.Table.from_pylist([new]), [
        f for f in FIELDS if f.name in pipeline.data.item_texts.fields], cfg.text)[0]
    hidden = encode_texts({"new": [text]}, cfg.llm, torch.device("cpu"), Reporter(quiet=True))
    with torch.no_grad():
        expected = network.item_row(torch.tensor([1]), hidden["new"][:1])[0]
    offset = sum(grown.schema.single_sizes[:item])
    table = grown.module.embedding.table.weight
    torch.testing.assert_close(table[offset + grown.schema.index["item_id"]["i-new"]], expected)
    assert Predictor.from_bundle(bundle, runtime="torchscript").predict_proba([new])[0] \
        == pytest.approx(grown.predict_proba([new])[0], abs=1e-6)
    generator = {k: v for k, v in network.generator().items()}
    torch.testing.assert_close(generated_rows(hidden["new"][:1], generator)[0], expected)
