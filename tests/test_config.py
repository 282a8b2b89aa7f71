import pytest

from elec.config import load_config
from elec.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_overrides_are_applied_and_typed(tmp_path):
    cfg = load_config(write(tmp_path, "model: {name: dnn}\n"),
                      ["model.embedding_dim=8", "distill.alpha=0.5", "data.max_rows=100"])
    assert (cfg.model.name, cfg.model.embedding_dim, cfg.distill.alpha) == ("dnn", 8, 0.5)
    assert cfg.data.max_rows == 100


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'train.learning_rate' does not exist"):
        load_config(write(tmp_path, "train: {learning_rate: 0.1}\n"))
    with pytest.raises(ConfigError, match=r"'distill.gamma' does not exist"):
        load_config(None, ["distill.gamma=1"])


def test_bad_values_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="data.split"):
        load_config(None, ["data.split=sideways"])
    with pytest.raises(ConfigError, match="fractions"):
        load_config(None, ["data.fractions=[0.5,0.5,0.5]"])
    with pytest.raises(ConfigError, match="distill.teacher_mix"):
        load_config(None, ["distill.teacher_mix=1.5"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["seed"])


@pytest.mark.parametrize("override, key", [
    ("train.batch_size=0", "train.batch_size"), ("train.lr=-0.1", "train.lr"),
    ("train.max_epochs=0", "train.max_epochs"), ("adapter.folds=1", "adapter.folds"),
    ("model.embedding_dim=0", "model.embedding_dim"), ("llm.max_length=0", "llm.max_length"),
    ("adapter.hidden=[0]", "adapter.hidden.0"), ("data.max_rows=-5", "data.max_rows"),
    ("gain.field_dropout=1.5", "gain.field_dropout"), ("distill.alpha=-1", "distill.alpha"),
])
def test_settings_out_of_range_are_named_before_any_work(override, key):
    with pytest.raises(ConfigError, match=rf"config key '{key}':"):
        load_config(None, [override])


def test_backbone_sizes_of_zero_are_refused():
    from elec.models import build_backbone

    with pytest.raises(ConfigError, match=r"'deepfm': hidden must be one or more sizes"):
        build_backbone("deepfm", 3, 4, {"hidden": [64, 0]})
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        build_backbone("dnn", 3, 4, {"dropout": 1.5})
