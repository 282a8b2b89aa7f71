"""The gain / vanilla pair works with every backbone, without per-model code."""

import pytest
import torch
from conftest import FIELDS, synthetic_table
from test_models import SMALL

from elec.config import DistillConfig, GainConfig, ModelConfig
from elec.data.batches import Columns
from elec.data.encoder import RowEncoder
from elec.data.schema import FeatureSchema
from elec.distill.networks import (
    LLM_VECTOR,
    TEACHER_LOGIT,
    TEACHER_REPR,
    GainNetwork,
    VanillaNetwork,
)
from elec.models import BACKBONES, CTRNetwork

LLM_DIM = 12


@pytest.fixture(scope="module")
def batch():
    table = synthetic_table(rows=64)
    schema = FeatureSchema.fit(table, FIELDS)
    encoded = RowEncoder(schema).encode_table(table)
    columns = Columns.from_encoded(encoded, table["click"].to_numpy())
    return schema, columns.with_extra(**{LLM_VECTOR: torch.randn(64, LLM_DIM)})


def params(n):
    return sum(p.numel() for p in n.parameters())


@pytest.mark.parametrize("name", list(BACKBONES))
def test_gain_and_vanilla_networks_train_with_every_backbone(name, batch):
    schema, columns = batch
    model = ModelConfig(name=name, embedding_dim=8, params=SMALL.get(name, {"hidden": [16, 8]}))
    torch.manual_seed(0)
    gain = GainNetwork(schema, model, LLM_DIM, GainConfig(field_dropout=0.0))
    gain.train()
    gain.loss(columns).backward()
    assert gain.llm_projection.weight.grad.abs().sum() > 0  # the LM field reaches the loss

    gain.eval()
    with torch.no_grad():
        teacher_logit, teacher_repr = gain(columns)
    student_columns = columns.with_extra(**{TEACHER_LOGIT: teacher_logit,
                                            TEACHER_REPR: teacher_repr})
    vanilla = VanillaNetwork(schema, model, gain.repr_dim, DistillConfig())
    vanilla.train()
    loss = vanilla.loss(student_columns)
    loss.backward()
    assert torch.isfinite(loss)
    # what is served is exactly a plain backbone
    assert params(vanilla.network) == params(CTRNetwork(schema, model))


def test_field_dropout_only_acts_in_training(batch):
    schema, columns = batch
    model = ModelConfig(name="dnn", embedding_dim=8, params={"hidden": [8]})
    gain = GainNetwork(schema, model, LLM_DIM, GainConfig(field_dropout=1.0))
    gain.eval()
    with_lm = gain(columns)[0]
    gain.train()
    gain.network.eval()  # keep batch norm and dropout fixed, only the field dropout trains
    without_lm = gain(columns)[0]
    zeroed = columns.with_extra(**{LLM_VECTOR: torch.zeros(64, LLM_DIM)})
    gain.eval()
    gain.llm_projection.bias.data.zero_()
    torch.testing.assert_close(without_lm, gain(zeroed)[0])
    assert not torch.allclose(with_lm, without_lm)


def test_vanilla_equal_to_teacher_has_only_the_label_loss(batch):
    schema, columns = batch
    model = ModelConfig(name="deepfm", embedding_dim=8, params={"hidden": [8]})
    vanilla = VanillaNetwork(schema, model, teacher_repr_dim=8 + 8, cfg=DistillConfig())
    vanilla.eval()
    with torch.no_grad():
        logit, representation = vanilla(columns)
        own = columns.with_extra(**{TEACHER_LOGIT: logit, TEACHER_REPR: representation})
        label_only = torch.nn.functional.binary_cross_entropy_with_logits(logit, columns.label)
        torch.testing.assert_close(vanilla.loss(own), label_only)


def test_unlabeled_rows_only_feel_the_distillation_terms(batch):
    from elec.distill.networks import LABELED

    schema, columns = batch
    model = ModelConfig(name="dnn", embedding_dim=8, params={"hidden": [8]})
    torch.manual_seed(0)
    student = VanillaNetwork(schema, model, teacher_repr_dim=8, cfg=DistillConfig())
    student.eval()
    labeled = torch.tensor([1.0] * 32 + [0.0] * 32)
    teacher = {TEACHER_LOGIT: torch.randn(64), TEACHER_REPR: torch.randn(64, 8),
               LABELED: labeled}
    flipped = columns.with_extra(**teacher)
    flipped.label = torch.where(labeled > 0, columns.label, 1 - columns.label)
    with torch.no_grad():
        assert student.loss(columns.with_extra(**teacher)) == student.loss(flipped)


@pytest.mark.parametrize("name", ["deepfm", "dcnv2", "autoint"])
def test_backbone_linear_layers_start_as_fuxictr_starts_them(name, batch):
    """Xavier-normal weights and zero biases, as FuxiCTR's models start (the reference
    our backbones are compared with, benchmarks/fuxictr_compare.py)."""
    schema, _ = batch
    torch.manual_seed(0)
    network = CTRNetwork(schema, ModelConfig(name=name, embedding_dim=8,
                                             params=SMALL.get(name, {"hidden": [16, 8]})))
    linears = [m for m in network.backbone.modules() if isinstance(m, torch.nn.Linear)]
    assert linears
    for layer in linears:
        assert layer.bias is None or torch.count_nonzero(layer.bias) == 0
        fan_out, fan_in = layer.weight.shape
        if layer.weight.numel() >= 64:  # enough weights for their spread to say something
            assert layer.weight.std().item() == pytest.approx(
                (2 / (fan_in + fan_out)) ** 0.5, rel=0.3)
