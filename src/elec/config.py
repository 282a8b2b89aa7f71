"""Typed run configuration: loaded from YAML, overridable with ``--set key=value``.

Every section forbids unknown keys, so a typo in a config file or on the command
line stops the run with the offending key named instead of being ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from elec.errors import ConfigError

Probability = Annotated[float, Field(ge=0.0, lt=1.0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(Section):
    """One input field: where it comes from, how it is encoded, how it reads as text."""

    name: str
    kind: Literal["categorical", "numeric", "multi", "text"]
    display: str | None = None  # name used in the rendered text; defaults to the field name
    # categorical / multi: "vocab" gives every value seen in training (min_count times)
    # an id of its own; "hash" maps values to `buckets` hashed ids (huge id spaces: no
    # vocabulary to fit or to ship, collisions share an embedding)
    encoder: Literal["vocab", "hash"] = "vocab"
    buckets: PositiveInt = 1 << 20
    min_count: PositiveInt = 1  # vocab: rarer values go to the OOV bucket
    boundaries: list[float] | None = None  # numeric: explicit bucket edges
    n_buckets: PositiveInt = 10  # numeric without boundaries: quantile buckets fitted on train
    max_len: PositiveInt = 8  # multi: values kept per row
    tabular: bool = True  # False: the field only appears in the rendered text
    in_text: bool = True  # False: the field is not rendered (ids mean nothing to an LM)
    separator: str = ", "  # multi: between values in the text
    split: str | None = None  # multi given as text (a CSV cell "red|wool"): cut at this
    template: str | None = None  # e.g. "{label}: {value}."; default "<label> is/are <value>."

    @property
    def label(self) -> str:
        return self.display or self.name.replace("_", " ").capitalize()

    @model_validator(mode="after")
    def _split_is_for_multi(self) -> FieldSpec:
        if self.split is not None and (self.kind != "multi" or not self.split):
            raise ValueError(f"field {self.name!r}: split cuts a multi-valued field's text "
                             f"into values; it needs kind: multi and a non-empty separator")
        return self


class DataConfig(Section):
    dataset: str = "ml-100k"  # "ml-100k" or the path of a Parquet / CSV table
    # how data.dataset is read: table (a Parquet / CSV file, folder or glob), or a standard
    # dataset in the files it is published as: ml-1m (the unpacked ml-1m.zip),
    # amazon-reviews-2023 (a category's reviews JSONL beside its meta_ file)
    loader: Literal["table", "ml-1m", "amazon-reviews-2023"] = "table"
    label: str = "rating"  # label column
    label_threshold: float | None = 4.0  # label = column >= threshold; None: column is 0/1
    time_column: str = "timestamp"  # used by the temporal split
    item_column: str = "item_id"  # used by the cold-item split
    user_column: str | None = "user_id"  # groups for gAUC; None: no gAUC
    # random: shuffled rows; temporal: by time; cold-item: valid and test rows belong to
    # items that never appear in training (user overlap allowed)
    # cold-item-pool: cold-item, and half of the valid and test items' rows become an
    # unlabeled pool (features only) that distillation uses: new items are shown before
    # their clicks come in; temporal-pool: temporal, and half of the later rows become
    # the pool (on MovieLens most later rows are new users': they too are shown first)
    # files: data.dataset is a directory holding train, valid and test (each a Parquet /
    # CSV file or a directory of them), e.g. what `elec data synth` writes
    split: Literal["random", "temporal", "cold-item", "cold-item-pool", "temporal-pool",
                   "files"] = "random"
    split_seed: int = 2024
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    max_rows: PositiveInt | None = None  # keep a random subset (quick runs, tests)
    # MovieLens: add a "history" column, the user's N most recent earlier ratings, for the
    # text (declare it as a field: {name: history, kind: multi, tabular: false, ...})
    history: int = 0
    # a Parquet / CSV table of feature rows without labels (e.g. fresh impressions):
    # distillation learns from the teacher's scores on them
    unlabeled: str | None = None
    # memory: every split as tensors on the device; shards: split files read in record
    # batches, encoded into shards in the run directory and streamed from there (memory
    # does not grow with the rows); auto: shards for split files of over 2M training rows
    storage: Literal["auto", "memory", "shards"] = "auto"
    # shards: DataLoader worker processes that read and shuffle the training shards
    # (each its share of them) while the model trains; 0: read in the training process
    workers: NonNegativeInt = 0

    @model_validator(mode="after")
    def _loaders_give_one_table(self) -> DataConfig:
        if self.loader != "table" and self.split == "files":
            raise ValueError(f"data.loader {self.loader!r} reads one table, which elec splits: "
                             f"data.split must be random, temporal or cold-item(-pool), not "
                             f"'files'")
        return self

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> DataConfig:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) <= 0:
            raise ValueError(f"data.fractions must be three positive numbers summing to 1, "
                             f"got {list(self.fractions)}")
        return self


class TextConfig(Section):
    fields: list[str] | None = None  # order of sentences; default: fields with in_text
    max_chars: int = 200  # per-field budget for the default truncating summariser
    # the item's own text (item-level methods): these fields rendered alone; default:
    # the rendered fields that hold one value per item in the training rows
    item_fields: list[str] | None = None


class LLMConfig(Section):
    name: str = "minilm"  # "minilm" (bundled), a local path or a Hugging Face id
    pooling: Literal["mean", "last"] = "mean"
    # auto: bf16 autocast where supported; int8: dynamic quantisation (CPU, frozen only)
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    # onnx: frozen encoding through ONNX Runtime on the CPU, fused (fp32 or int8; needs
    # pip install 'elec[onnx]'; elec.llm.onnx_lm)
    runtime: Literal["torch", "onnx"] = "torch"
    max_length: PositiveInt = 128
    batch_size: PositiveInt = 128
    shard_size: PositiveInt = 4096  # texts per cache shard: the unit of resumable encoding
    # training rows that get an LM vector: a share (up to 1) or a count (above 1), every
    # item's rows in turn (elec.llm.budget); the others read no LM field
    budget: PositiveFloat = 1.0


class AdapterConfig(Section):
    """Stage 1: transformation layer (MLP h -> v) and prediction layer (v -> logit)."""

    # frozen: LM fixed, pooled vectors cached (the paper's default); lora / full: the LM
    # is fine-tuned together with the two layers (lora needs peft: pip install 'elec[lora]')
    mode: Literal["frozen", "lora", "full"] = "frozen"
    hidden: list[PositiveInt] = Field(default_factory=lambda: [256])
    dim: PositiveInt = 64
    dropout: Probability = 0.1
    # Leak guard: "crossfit" gives every row a vector from an adapter that never
    # trained on it; "none" uses one adapter trained on all training rows.
    leak_guard: Literal["crossfit", "none"] = "crossfit"
    folds: int = Field(5, ge=2)  # with leak_guard crossfit
    lr: PositiveFloat = 1e-3
    batch_size: PositiveInt = 1024
    max_epochs: PositiveInt = 20
    # lora / full fine-tuning (the LM itself is cross-fitted: one model per fold, each
    # trained on the other folds, so no row's vector comes from an LM that saw its label)
    lm_lr: PositiveFloat = 5e-5  # learning rate of the LM's weights (LoRA matrices or all)
    lm_batch_size: PositiveInt = 32
    lm_epochs: PositiveInt = 1
    lora_rank: PositiveInt = 8
    lora_alpha: PositiveInt = 16
    lora_dropout: Probability = 0.05
    lora_targets: list[str] | None = None  # module names; None: peft's default for the model


class ModelConfig(Section):
    name: str = "deepfm"
    embedding_dim: PositiveInt = 16
    params: dict[str, Any] = Field(default_factory=dict)  # validated by the backbone


class GainConfig(Section):
    """Stage 2: how the LM vector enters the backbone as one extra field."""

    field_dropout: float = Field(0.5, ge=0.0, le=1.0)  # drop the LM field of a training row
    projection_weight_decay: NonNegativeFloat = 1e-4


class DistillConfig(Section):
    alpha: NonNegativeFloat = 1.0  # score-level distillation weight
    beta: NonNegativeFloat = 1.0  # representation-level distillation weight
    temperature: PositiveFloat = 1.0
    # Backbone (no LM) that teaches the cross_distilled control; if it is the run's own
    # backbone, dnn is used instead.
    cross_teacher: str = "dcnv2"
    unlabeled_weight: NonNegativeFloat = 1.0  # weight of the distillation terms on unlabeled rows
    # Score-level target of the gain network's students: teacher_mix * gain logit +
    # (1 - teacher_mix) * backbone logit. 1.0 is the paper's teacher (the gain network);
    # 0.5 is the default for the reasons in docs/recipe-search.md. ensemble_distilled blends the
    # cross teacher the same way: the no-LM control of this choice.
    teacher_mix: float = Field(0.5, ge=0.0, le=1.0)
    # the tail students (vanilla_tail, ensemble_tail): items with fewer training rows get
    # synthetic rows up to this many; at most tail_budget rows (LM texts) in all
    tail_below: PositiveInt = 10
    tail_budget: NonNegativeInt = 50_000


class TrainConfig(Section):
    lr: PositiveFloat = 1e-3
    batch_size: PositiveInt = 1024
    max_epochs: PositiveInt = 30
    patience: PositiveInt = 2  # validation checks without improvement before stopping
    lr_decay_patience: PositiveInt = 1  # checks without improvement before LR x0.1
    # validation checks an epoch, evenly spaced in its steps (the best weights of any check
    # are kept): for tables where networks peak and overfit within an epoch or two
    checks_per_epoch: PositiveInt = 1
    weight_decay: NonNegativeFloat = 0.0
    grad_clip: NonNegativeFloat = 10.0  # 0: no clipping
    device: str = "auto"  # auto (cuda when present), cpu, cuda, cuda:1, ...
    # bf16: the training step's matmuls in bfloat16 (autocast); weights, embeddings, the
    # loss and every prediction stay float32
    precision: Literal["fp32", "bf16"] = "fp32"
    # The fraction of training rows (drawn anew every batch) whose item id every network
    # reads as an unseen item's, the out-of-vocabulary id: so that the networks learn to
    # score a new item from its other fields (DropoutNet); validation and test rows are
    # read as they are. Needs data.item_column as a vocab-encoded field.
    item_dropout: Probability = 0.0


# what `elec run` trains when the config names no methods: rows of the method table
# (elec.methods, which checks every name a config gives)
DEFAULT_METHODS = ["lm_only", "backbone", "self_distilled", "gain", "vanilla", "item_gen",
                   "vanilla_gen", "vanilla_tail", "tail_gen"]


class RunConfig(Section):
    seed: int = 2024
    # Methods to train and report (rows of elec.methods.TABLE; `elec methods` lists
    # them); what they depend on is trained too.
    methods: list[str] = Field(default_factory=lambda: list(DEFAULT_METHODS))
    data: DataConfig = Field(default_factory=DataConfig)
    fields: list[FieldSpec] = Field(default_factory=list)
    text: TextConfig = Field(default_factory=TextConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    adapter: AdapterConfig = Field(default_factory=AdapterConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    gain: GainConfig = Field(default_factory=GainConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _apply_override(tree: dict[str, Any], assignment: str) -> None:
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    dotted, raw = assignment.split("=", 1)
    keys = dotted.strip().split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key {dotted!r}: {key!r} is not a section")
    node[keys[-1]] = yaml.safe_load(raw)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"config key {where!r} does not exist; check its spelling "
                         f"(run `elec run --help` for the sections)")
        else:
            lines.append(f"config key {where!r}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
                ) -> RunConfig:
    """Read a YAML config (or the defaults), apply ``key=value`` overrides, validate."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} not found")
        tree = yaml.safe_load(path.read_text()) or {}
        if not isinstance(tree, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    for assignment in overrides:
        _apply_override(tree, assignment)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
