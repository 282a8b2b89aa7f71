"""The method table: every network ``elec run`` can train, as data.

ELEC itself is three rows (``lm_only``: stage 1, ``gain``: stage 2, ``vanilla``:
stage 3); the controls and ablations that make its figures honest are rows too,
differing only in their teacher, their distillation settings and whether the
teacher's score is blended with the backbone's. The pipeline, ``elec bench``,
``elec export`` and config validation all read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from torch import nn

from elec import builders, stages
from elec.config import DEFAULT_METHODS
from elec.distill.networks import folded
from elec.errors import ConfigError

Build = Literal["stage1", "plain", "gain", "item", "words", "generated", "field", "student"]


@dataclass(frozen=True)
class Kind:
    """What every method of one kind of network shares: what it reads beside the tabular
    fields, what it needs trained first, and how its network is put together. The one
    place a kind is described."""

    name: Build
    reads: str  # beside the tabular fields (``elec run --plan``)
    network: Callable[[builders.Builds, Method], nn.Module]  # its untrained network
    train: Callable[[stages.Trains, Method], stages.Trained] = stages.fitted  # how it trains
    adapted: bool = False  # reads stage 1's adapted vectors: lm_only trains first
    taught: bool = False  # learns from a trained ``teacher`` (which trains first)
    distilled: bool = False  # on its teacher's scores: it reads the LM if its teacher does
    scores_rows: bool = True  # a network that scores rows (stage 1: the adapter, no rows)
    reads_lm: bool = False  # its network reads LM vectors itself
    # its network projects a vector (LM, or words) into the embedding space: a projection
    # trained with its own weight decay, gain.projection_weight_decay
    projects: bool = False
    wraps: bool = False  # its trained network wraps the backbone that is served
    folds_items: bool = False  # its items' rows are made from their texts, into the table
    bags: bool = False  # reads its item text's bag of plain words (the words control)
    # adds the LM vector of each categorical value's sentence to the value's embedding
    # (folded into the embedding table when exported)
    values: bool = False
    # trained once for every run that differs only downstream of it (a cache in elec's home)
    shared: bool = False
    # what its network reads (elec.inputs.LMInputs, the method -> split -> rows): the rows,
    # with their item vectors where the method looks items up
    columns: Callable[[Any, Method], dict] = lambda lm, m: lm.plain_columns(m)
    # what it reads of the tail students' synthetic rows when it teaches them (the LM
    # inputs, the rows, their texts -> the rows it reads)
    tail_view: Callable[[Any, Any, list[str]], Any] = lambda lm, rows, texts: rows
    # what its bundle looks items up in (the LM inputs -> the item table's tensors)
    item_table: Callable[[Any], dict] = lambda lm: lm.vector_table()
    served_state: Callable[[dict], dict] = lambda state: state  # its weights as exported


KINDS = {k.name: k for k in [
    Kind("stage1", "every row's text through the LM; trains the adapter", builders.stage1,
         stages.stage1, reads_lm=True, scores_rows=False, shared=True),
    Kind("plain", "the tabular fields only", builders.plain),
    Kind("gain", "the adapted LM vector of every row (cross-fitted by lm_only)", builders.gain,
         adapted=True, reads_lm=True, projects=True,
         columns=lambda lm, m: lm.gain_columns(),
         tail_view=lambda lm, rows, texts: lm.adapted_view(rows, texts)),
    Kind("item", "the LM vector of its item's text", builders.item, reads_lm=True,
         projects=True),
    Kind("words", "the plain words of its item's text (no LM)", builders.words,
         projects=True, bags=True, columns=lambda lm, m: lm.word_columns(),
         item_table=lambda lm: lm.word_table()),
    Kind("generated", "the LM vector of each item's text, to generate item embeddings",
         builders.generated, stages.generated, taught=True, reads_lm=True, folds_items=True),
    Kind("field", "the LM vector of each categorical value's sentence", builders.field,
         reads_lm=True, projects=True, wraps=True, values=True, served_state=folded),
    Kind("student", "the tabular fields, and its teacher's scores and representations",
         builders.student, stages.distilled, taught=True, distilled=True, wraps=True),
]}


@dataclass(frozen=True)
class Method:
    name: str
    what: str
    # stage1: the adapted LM; plain: a backbone on labels alone; gain: the backbone with
    # the LM vector as one more field; item: the backbone with the LM vector of the item's
    # own text as one more field; words: as item, with the item text's plain words in
    # place of the LM's vector (no LM); generated: ``teacher``'s trained network with its
    # item id embedding blended with one generated from the LM vector of the item's text;
    # field: the backbone with the LM vector of each value's sentence added to the value's
    # embedding; student: a backbone distilled from ``teacher`` (``KINDS``)
    build: Build
    teacher: str | None = None
    # student: the score target is distill.teacher_mix * teacher + (1 - teacher_mix) *
    # backbone (the teacher's representation is the target of the representation term)
    blend: bool = False
    distill: dict[str, float] = field(default_factory=dict)  # overrides of DistillConfig
    cross: bool = False  # plain: the cross teacher's backbone instead of the run's
    serves_llm: bool = False
    tail: bool = False  # student: also distilled on synthetic rows of the rare items
    lookup: bool = False  # reads its item text's vector: the bundle carries the item table (or,
    # folds_items, the items' rows in its embedding table)

    @property
    def kind(self) -> Kind:
        return KINDS[self.build]

    @property
    def taught_by(self) -> Method:
        """Its teacher's row of the table."""
        return METHODS[self.teacher]

    @property
    def servable(self) -> bool:
        """What ``elec export`` accepts: a network that needs no LM at serving."""
        return not self.serves_llm

    @property
    def projects_lm(self) -> bool:
        """Its network projects LM vectors (words: the bag of its item text's words) into
        the embedding space (a projection trained with its own weight decay,
        gain.projection_weight_decay)."""
        return self.kind.projects or (self.kind.distilled and self.lookup)

    @property
    def folds_items(self) -> bool:
        """Its items' embedding rows are made from their texts: written into the served
        table, new items' ids into the vocabulary (``elec.distill.item_rows``)."""
        return self.kind.folds_items

    @property
    def wrapped(self) -> bool:
        """Its trained network wraps the backbone that is served (a student's; field_lm's,
        into whose embeddings the LM sums fold): the served parameters are that one's."""
        return self.kind.wraps


TABLE = [
    Method("lm_only", "adapted LM: transformation + prediction layer", "stage1",
           serves_llm=True),
    Method("backbone", "the CTR backbone alone", "plain"),
    Method("gain", "backbone + injected LM vector (teacher)", "gain", serves_llm=True),
    Method("vanilla", "ELEC student: backbone distilled from the gain network (score target "
           "blended with the backbone's by distill.teacher_mix)", "student", "gain", blend=True),
    Method("vanilla_item", "ELEC student that also reads its item's LM vector (item_lm's "
           "field), distilled from the gain network as vanilla is; served with the item "
           "table", "student", "gain", blend=True, lookup=True),
    Method("vanilla_score", "ELEC student, score-level distillation only", "student", "gain",
           blend=True, distill={"beta": 0.0}),
    Method("vanilla_repr", "ELEC student, representation-level distillation only", "student",
           "gain", blend=True, distill={"alpha": 0.0}),
    Method("item_lm", "backbone + the LM vector of the item's own text (text.item_fields), "
           "one per item, known for a new item before its first row", "item", lookup=True),
    Method("words", "no-LM control of item_lm: backbone + the item text's plain words as "
           "one more field (the mean of the learnt vectors of the words the training items' "
           "texts hold); served with the item table", "words", lookup=True),
    Method("item_gen", "the backbone with each item's id embedding blended with one generated "
           "from the LM vector of its text, by the item's training rows (a new item's is all "
           "generated); served as the backbone, the rows in its embedding table", "generated",
           "backbone", lookup=True),
    Method("vanilla_gen", "ELEC's vanilla network with item_gen's generated item embeddings; "
           "served as the backbone, the rows in its embedding table", "generated", "vanilla",
           lookup=True),
    Method("vanilla_tail", "ELEC student distilled as vanilla is, also on synthetic unlabeled "
           "rows of the items with few training rows (their fields, with the contexts of "
           "training rows drawn at random: distill.tail_below, distill.tail_budget), scored "
           "by the gain network; served as the backbone", "student", "gain", blend=True,
           tail=True),
    Method("tail_gen", "vanilla_tail with item_gen's generated item embeddings; served as "
           "the backbone, the rows in its embedding table", "generated", "vanilla_tail",
           lookup=True),
    Method("field_lm", "backbone whose embedding of each value in the text (\"Occupation "
           "is writer.\") adds the projected LM vector of that sentence; served as a backbone "
           "(the sums folded into the embedding table)", "field"),
    Method("self_distilled", "backbone distilled from a backbone teacher (no LM), same losses",
           "student", "backbone"),
    Method("cross_teacher", "a different backbone, no LM: the cross_distilled teacher", "plain",
           cross=True),
    Method("cross_distilled", "backbone distilled from a different backbone (no LM)", "student",
           "cross_teacher"),
    Method("ensemble_distilled", "backbone distilled from the cross teacher blended with the "
           "backbone by distill.teacher_mix (no LM)", "student", "cross_teacher", blend=True),
    Method("ensemble_tail", "no-LM control of vanilla_tail: ensemble_distilled, also on "
           "vanilla_tail's synthetic rows (scored by the cross teacher blended with the "
           "backbone)", "student", "cross_teacher", blend=True, tail=True),
]
METHODS = {m.name: m for m in TABLE}
DEFAULT = DEFAULT_METHODS


def check_names(names: list[str]) -> None:
    """Refuse method names that are no row of the table (the config's ``methods``)."""
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ConfigError(f"config key 'methods': methods {unknown} are not known; choose "
                          f"from {', '.join(METHODS)}")


def item_methods(methods: list[str]) -> list[str]:
    """The methods that read the items themselves (their texts, served with a table or
    generated rows; or, the tail students, their training rows): on data in memory, in
    one process, with an item column."""
    return [m for m in methods if METHODS[m].lookup or METHODS[m].tail]


def dependencies(method: Method, teacher_mix: float) -> list[str]:
    """The methods whose trained networks ``method`` needs: lm_only (the adapted kinds),
    its teacher, and the backbone its teacher's score is blended with."""
    kind = method.kind
    return [*(["lm_only"] if kind.adapted else []), *([method.teacher] if kind.taught else []),
            *(["backbone"] if method.blend and teacher_mix < 1.0 else [])]


def variant_of(of: str, name: str, **distill: float) -> Method:
    """A method of the table under another name, with other distillation settings."""
    base = METHODS[of]
    return replace(base, name=name, distill={**base.distill, **distill})


def reads_llm(method: Method) -> bool:
    """Whether ``method`` or a network it learns from reads LM vectors."""
    if method.kind.reads_lm:
        return True
    return method.kind.distilled and reads_llm(METHODS[method.teacher])
