import pytest
import torch

from elec.errors import ConfigError
from elec.models import BACKBONES, build_backbone

FIELDS, DIM, BATCH = 6, 8, 5
SMALL = {  # small hyper-parameters so the tests run in milliseconds
    "lr": {}, "fm": {}, "fwfm": {},
    "xdeepfm": {"hidden": [16, 8], "cin_layers": [8, 8]},
    "autoint": {"hidden": [16, 8], "attention_dim": 8, "heads": 2, "attention_layers": 2},
    "finalmlp": {"hidden1": [16, 8], "hidden2": [16], "selection_hidden": 8, "heads": 2},
}


def build(name, fields=FIELDS):
    torch.manual_seed(0)
    return build_backbone(name, fields, DIM, SMALL.get(name, {"hidden": [16, 8]})).eval()


def test_the_zoo_is_complete():
    assert len(BACKBONES) >= 14


@pytest.mark.parametrize("name", list(BACKBONES))
@pytest.mark.parametrize("fields", [FIELDS, FIELDS + 1])  # vanilla, and gain (one LM field)
def test_backbone_contract_shapes(name, fields):
    model = build(name, fields)
    logit, representation = model(torch.randn(BATCH, fields, DIM))
    assert logit.shape == (BATCH,)
    assert representation.shape == (BATCH, model.repr_dim)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_every_parameter_gets_a_gradient(name):
    model = build(name).train()
    logit, representation = model(torch.randn(BATCH, FIELDS, DIM))
    (logit.sum() + representation.sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


@pytest.mark.parametrize("name", list(BACKBONES))
def test_the_extra_field_changes_the_output(name):
    model = build(name, FIELDS + 1)
    x = torch.randn(BATCH, FIELDS + 1, DIM)
    changed = x.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(model(x)[0], model(changed)[0])


@pytest.mark.parametrize("name", list(BACKBONES))
def test_same_seed_same_model(name):
    x = torch.randn(BATCH, FIELDS, DIM)
    assert torch.equal(build(name)(x)[0], build(name)(x)[0])


def test_unknown_backbone_and_unknown_hyper_parameter_are_named():
    with pytest.raises(ConfigError, match="'nope' is not a known backbone"):
        build_backbone("nope", FIELDS, DIM, {})
    with pytest.raises(ConfigError, match="deepfm.*hiden"):
        build_backbone("deepfm", FIELDS, DIM, {"hiden": [1]})
