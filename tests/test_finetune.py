"""lora and full adaptation: one training step changes the right parameters, and the
whole pipeline runs with the LM in the loop."""

import pytest
import torch
from conftest import FIELDS, synthetic_table

from elec.config import AdapterConfig, LLMConfig, TextConfig
from elec.data.batches import Columns
from elec.data.encoder import RowEncoder
from elec.data.schema import FeatureSchema
from elec.llm.encoder import TextEncoder
from elec.llm.finetune import MASK, TOKENS, build, load_tokenizer, tokenize
from elec.pipeline import run
from elec.text.render import render_table


def one_step(tiny_lm, mode):
    llm = LLMConfig(name=str(tiny_lm))
    adapter_cfg = AdapterConfig(mode=mode, hidden=[8], dim=4, lm_lr=1e-2, lr=1e-2)
    torch.manual_seed(0)
    model = build(llm, adapter_cfg)
    table = synthetic_table(rows=16)
    ids, mask = tokenize(load_tokenizer(llm), render_table(table, FIELDS, TextConfig()), 64)
    schema = FeatureSchema.fit(table, FIELDS)
    encoded = RowEncoder(schema).encode_table(table)
    batch = Columns.from_encoded(encoded, table["click"].to_numpy()).with_extra(
        **{TOKENS: ids, MASK: mask})
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameter_groups(adapter_cfg))
    model.train()
    model.loss(batch).backward()
    optimizer.step()
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}


def test_lora_step_changes_only_lora_matrices_and_the_adapter(tiny_lm):
    changed = one_step(tiny_lm, "lora")
    lm_changed = {n for n in changed if n.startswith("lm.")}
    assert lm_changed and all("lora_" in n for n in lm_changed)
    assert any(n.startswith("adapter.") for n in changed)


def test_full_step_changes_the_lm_weights(tiny_lm):
    changed = one_step(tiny_lm, "full")
    assert any("attention.self.query.weight" in n for n in changed)
    assert not any("lora_" in n for n in changed)


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_pipeline_runs_with_the_lm_in_the_loop(mode, tiny_config, elec_home, tmp_path):
    cfg = tiny_config.model_copy(update={
        "methods": ["lm_only", "gain"],
        "adapter": tiny_config.adapter.model_copy(update={"mode": mode, "lm_epochs": 1,
                                                          "lm_batch_size": 64})})
    results = run(cfg, tmp_path / "run")
    assert 0 <= results["methods"]["lm_only"]["test"]["auc"] <= 1
    for fold in range(cfg.adapter.folds):  # the adapted LMs are saved, LoRA merged
        saved = tmp_path / "run" / "checkpoints" / f"lm-fold-{fold}"
        assert (saved / "config.json").is_file() and (saved / "tokenizer.json").is_file()
    # an adapted LM is an ordinary model directory: llm.name can point at it
    vectors = TextEncoder(LLMConfig(name=str(saved), precision="fp32")).encode(["Age is 3."])
    assert vectors.shape == (1, 32)
