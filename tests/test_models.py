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


def test_dropout_keeps_one_minus_p_of_the_values_scaled_and_is_the_identity_in_eval():
    from elec.models.layers import Dropout

    layer = Dropout(0.2)
    torch.manual_seed(0)
    x = torch.ones(1000, 301, requires_grad=True)  # not a multiple of four values
    y = layer(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.8) < 0.005
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.8))
    y.sum().backward()  # the gradient passes through the kept values only, scaled
    assert torch.equal(x.grad, kept * (1 / 0.8))
    torch.manual_seed(1)
    assert not torch.equal(layer(x) != 0, kept)  # a new mask every call
    assert layer.eval()(x) is x and Dropout(0.0).train()(x) is x


def test_the_tables_gradient_is_torchs_embedding_gradient_bit_for_bit():
    from elec.models.layers import FeaturesEmbedding

    torch.manual_seed(0)
    embedding = FeaturesEmbedding([50, 7], [30], 4)
    single = torch.randint(0, 7, (600, 2))  # many rows share a value
    multi = [torch.randint(0, 30, (600, 3))]  # 0 is padding
    weights = torch.randn(600, 3, 4)
    (embedding(single, multi) * weights).sum().backward()
    ours = embedding.table.weight.grad
    reference = embedding.table.weight.detach().clone().requires_grad_()
    looked_up = [torch.nn.functional.embedding(single + embedding.single_offsets, reference)]
    mask = (multi[0] > 0).unsqueeze(-1).float()
    pooled = (torch.nn.functional.embedding(multi[0] + 57, reference) * mask).sum(1)
    looked_up.append((pooled / mask.sum(1).clamp_min(1.0)).unsqueeze(1))
    (torch.cat(looked_up, 1) * weights).sum().backward()
    assert torch.equal(ours, reference.grad) and ours.abs().sum() > 0
    assert torch.equal(embedding(single, multi), torch.cat(looked_up, 1))
    embedding.eval()  # evaluation and export trace torch's own lookup
    assert torch.equal(embedding(single, multi), torch.cat(looked_up, 1))


def test_bf16_training_trains_and_predicts_in_float32():
    from elec.config import TrainConfig
    from elec.data.batches import Columns
    from elec.train.trainer import Trainer, predict_logits

    torch.manual_seed(0)
    x = torch.randint(0, 20, (2048, 3))
    label = ((x[:, 0] < 10) ^ (x[:, 1] < 5)).float()
    rows = Columns(single=x, multi=[], label=label)
    embedding, mlp = torch.nn.Embedding(20, 8), torch.nn.Linear(24, 1)
    model = torch.nn.Sequential(embedding, torch.nn.Flatten(), mlp)

    def loss(batch):
        logit = model(batch.single).squeeze(-1)
        assert logit.dtype == torch.bfloat16  # the matmul ran in bfloat16
        return torch.nn.functional.binary_cross_entropy_with_logits(logit.float(), batch.label)

    def predict(batch):
        logit = model(batch.single).squeeze(-1)
        assert logit.dtype == torch.float32  # validation and predictions: float32
        return logit

    trainer = Trainer(TrainConfig(precision="bf16", max_epochs=3, batch_size=256, lr=0.05),
                      log=lambda _: None)
    history = trainer.fit("bf16", model, loss, predict, rows, rows,
                          torch.Generator().manual_seed(0))
    assert history.best_auc > 0.7 and mlp.weight.dtype == torch.float32
    assert predict_logits(predict, model, rows).shape == (2048,)


def test_validation_checked_within_epochs_keeps_the_best_checks_weights():
    from elec.config import TrainConfig
    from elec.data.batches import Columns
    from elec.train.metrics import evaluate
    from elec.train.trainer import Trainer

    torch.manual_seed(0)
    x = torch.randint(0, 20, (2048, 3))
    label = ((x[:, 0] < 10) ^ (x[:, 1] < 5)).float()
    rows = Columns(single=x, multi=[], label=label)
    model = torch.nn.Sequential(torch.nn.Embedding(20, 8), torch.nn.Flatten(),
                                torch.nn.Linear(24, 1))

    def predict(batch):
        return model(batch.single).squeeze(-1)

    def loss(batch):
        return torch.nn.functional.binary_cross_entropy_with_logits(predict(batch), batch.label)

    trainer = Trainer(TrainConfig(max_epochs=2, batch_size=256, lr=0.05, checks_per_epoch=4,
                                  patience=8), log=lambda _: None)
    history = trainer.fit("checked", model, loss, predict, rows, rows,
                          torch.Generator().manual_seed(0))
    # 8 steps an epoch, checked after steps 2, 4, 6 and 8: a record each, at its place
    assert [r["epoch"] for r in history.epochs] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert [r["train_rows"] for r in history.epochs[:4]] == [512, 1024, 1536, 2048]
    best = max(history.epochs, key=lambda r: r["valid_auc"])
    assert history.best_epoch == best["epoch"] and history.best_auc == best["valid_auc"]
    # the weights returned are the best check's, not the last's
    with torch.no_grad():
        auc = evaluate(label.numpy(), torch.sigmoid(predict(rows)).numpy())["auc"]
    assert auc == pytest.approx(best["valid_auc"], abs=1e-6)
