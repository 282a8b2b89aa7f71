"""The pseudo-siamese pair: the gain network (backbone + LM field, the teacher) and the
vanilla network (the same backbone on tabular fields only, the student that is served);
and the plain backbone, trained on labels alone.

    gain:    logit_g, r_g = backbone_g([e_1, ..., e_F, W v])      v = adapted LM vector
    vanilla: logit_v, r_v = backbone_v([e_1, ..., e_F])
    loss_v = BCE(y, p_v) + alpha * KL(p_g || p_v) + beta * MSE(A r_v, r_g)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elec.config import DistillConfig, GainConfig, ModelConfig
from elec.data.batches import Columns
from elec.data.schema import FeatureSchema
from elec.distill.losses import RepresentationDistillation, score_distillation
from elec.models import CTRNetwork

LLM_VECTOR = "llm_vector"  # Columns.extra key: adapted LM vector v
LLM_ABSENT = "llm_absent"  # Columns.extra key: 1 for a training row without v (llm.budget)
ITEM_TEXT = "item_text"  # Columns.extra key: the row's item text, a row of WordsNetwork.bags
TEACHER_LOGIT = "teacher_logit"
TEACHER_REPR = "teacher_repr"
LABELED = "labeled"  # Columns.extra key: 1 for rows with a label, 0 for unlabeled rows


class PlainNetwork(nn.Module):
    """A backbone trained on labels alone (binary cross-entropy): the baseline, and the
    teacher of the controls."""

    def __init__(self, schema: FeatureSchema, model: ModelConfig):
        super().__init__()
        self.network = CTRNetwork(schema, model)

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        return self.network(batch)

    def loss(self, batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.network(batch)[0], batch.label)

    def logit(self, batch: Columns) -> Tensor:
        return self.network(batch)[0]


class FieldNetwork(nn.Module):
    """The backbone whose embedding of every value the LM reads ("Occupation is writer.")
    is the value's own learnt vector plus the projected LM vector of that sentence:

        e(value) = E[value] + W h(sentence(value))

    It needs no LM at serving: ``folded`` writes the sums into the embedding table."""

    def __init__(self, schema: FeatureSchema, model: ModelConfig, rows: Tensor,
                 vectors: Tensor):
        super().__init__()
        self.network = CTRNetwork(schema, model)
        # table row -> row of value_vectors; rows without a sentence point past the end
        index = torch.full((self.network.embedding.table.num_embeddings,), len(rows))
        index[rows] = torch.arange(len(rows))
        self.register_buffer("value_index", index)
        self.register_buffer("value_vectors", vectors.float())
        self.llm_projection = nn.Linear(vectors.shape[1], model.embedding_dim)

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        residual = _padded(self.llm_projection(self.value_vectors))
        return self.network(batch, residual=lambda rows: residual[self.value_index[rows]])

    def loss(self, batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(self(batch)[0], batch.label)

    def logit(self, batch: Columns) -> Tensor:
        return self(batch)[0]


def projection_apart(network: nn.Module, weight_decay: float) -> list[dict]:
    """The optimiser's parameter groups of a network that reads LM vectors: its
    ``llm_projection`` with ``weight_decay`` of its own, apart from the rest."""
    projection = list(network.llm_projection.parameters())
    rest = [p for p in network.parameters() if all(p is not q for q in projection)]
    return [{"params": rest}, {"params": projection, "weight_decay": weight_decay}]


def _padded(projected: Tensor) -> Tensor:
    """The projected vectors and one zero row: the residual of table rows without one."""
    return torch.cat([projected, projected.new_zeros(1, projected.shape[1])])


def folded(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A FieldNetwork's checkpoint as its backbone's (``network.*``), the projected LM
    vectors added into the embedding table: the same scores, served as a backbone."""
    table = "network.embedding.table.weight"
    projected = F.linear(state["value_vectors"], state["llm_projection.weight"],
                         state["llm_projection.bias"])
    served = {k: v for k, v in state.items() if k.startswith("network.")}
    served[table] = served[table] + _padded(projected)[state["value_index"]]
    return served


def lm_field(network: nn.Module, batch: Columns) -> Tensor:
    """The projected LM vector of every row, (batch, 1, dim): the extra field. In training
    the whole field is zero for a ``field_dropout`` fraction of rows, so the backbone
    cannot lean on the vector alone and keeps learning from the tabular fields (and an
    item served without a vector reads a field it has seen)."""
    field = network.llm_projection(batch.extra[LLM_VECTOR])
    if LLM_ABSENT in batch.extra:  # rows that have no vector read a dropped field
        field = field * (1 - batch.extra[LLM_ABSENT]).unsqueeze(1)
    if network.training and network.field_dropout > 0:
        keep = torch.rand(field.shape[0], 1, device=field.device) >= network.field_dropout
        field = field * keep
    return field.unsqueeze(1)


class GainNetwork(nn.Module):
    """A backbone whose input has one more field: the projected LM vector."""

    def __init__(self, schema: FeatureSchema, model: ModelConfig, llm_dim: int, cfg: GainConfig):
        super().__init__()
        self.network = CTRNetwork(schema, model, extra_fields=1)
        self.llm_projection = nn.Linear(llm_dim, model.embedding_dim)
        self.field_dropout = cfg.field_dropout

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        return self.network(batch, extra=lm_field(self, batch))

    def loss(self, batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(self(batch)[0], batch.label)

    def logit(self, batch: Columns) -> Tensor:
        return self(batch)[0]

    @property
    def repr_dim(self) -> int:
        return self.network.repr_dim


class WordsNetwork(GainNetwork):
    """``item_lm``'s network with the item text's plain words in place of the LM's vector
    of it: the no-LM control. The extra field is the projection of the text's bag of
    words (``elec.text.words``): the mean of its words' learnt vectors."""

    def __init__(self, schema: FeatureSchema, model: ModelConfig, bags: Tensor,
                 cfg: GainConfig):
        super().__init__(schema, model, bags.shape[1], cfg)
        self.register_buffer("bags", bags.float(), persistent=False)  # item text -> bag

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        bag = self.bags[batch.extra[ITEM_TEXT]]
        return super().forward(batch.with_extra(**{LLM_VECTOR: bag}))


class VanillaNetwork(nn.Module):
    """The backbone on tabular fields, trained on labels and the teacher's outputs.

    ``distillation`` holds only the representation alignment map, used during
    training; serving keeps ``network`` alone, so it costs exactly the backbone.
    """

    def __init__(self, schema: FeatureSchema, model: ModelConfig, teacher_repr_dim: int,
                 cfg: DistillConfig, item: tuple[int, GainConfig] | None = None):
        """``item``: (the item vectors' size, the gain settings): the student also reads
        its item's LM vector as one more field, as item_lm does (served by lookup)."""
        super().__init__()
        self.network = CTRNetwork(schema, model, extra_fields=int(item is not None))
        # The alignment map's size depends on the teacher; drawing its initial weights from
        # a forked random stream leaves the global one (dropout, later on) where the
        # network left it, so students of different teachers stay paired.
        with torch.random.fork_rng(devices=[]):
            self.distillation = RepresentationDistillation(self.network.repr_dim,
                                                           teacher_repr_dim)
        if not cfg.beta:  # unused: nothing to train (and DDP wants every trained weight used)
            self.distillation.requires_grad_(False)
        self.cfg = cfg
        if item is not None:
            self.llm_projection = nn.Linear(item[0], model.embedding_dim)
            self.field_dropout = item[1].field_dropout

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        if hasattr(self, "llm_projection"):
            return self.network(batch, extra=lm_field(self, batch))
        return self.network(batch)

    def loss(self, batch: Columns) -> Tensor:
        """Labelled rows: BCE + alpha * score KD + beta * representation KD. Unlabeled rows
        (LABELED = 0): the two distillation terms only, weighted by unlabeled_weight."""
        logit, representation = self(batch)
        labeled = batch.extra.get(LABELED)
        if labeled is None:
            labeled = torch.ones_like(batch.label)
        row_weight = labeled + (1 - labeled) * self.cfg.unlabeled_weight
        bce = F.binary_cross_entropy_with_logits(logit, batch.label, reduction="none")
        loss = (bce * labeled).sum() / labeled.sum().clamp_min(1.0)
        if self.cfg.alpha:
            loss = loss + self.cfg.alpha * (row_weight * score_distillation(
                logit, batch.extra[TEACHER_LOGIT], self.cfg.temperature, reduce=False)).mean()
        if self.cfg.beta:
            loss = loss + self.cfg.beta * (row_weight * self.distillation(
                representation, batch.extra[TEACHER_REPR], reduce=False)).mean()
        return loss

    def logit(self, batch: Columns) -> Tensor:
        return self(batch)[0]
