"""What the networks that read LM vectors find beside the tabular rows: stage 1's adapted
vector v of every row (the gain network), the LM vector of every row's item text
(``item_lm``) and of every field value's sentence (``field_lm``); and, for the no-LM
control ``words``, the item text's plain words. Each is computed once per run, when a
network first needs it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from elec.config import RunConfig
from elec.data.batches import Columns, Rows
from elec.data.prepare import Prepared
from elec.data.splits import TAIL
from elec.distill.networks import ITEM_TEXT, LLM_ABSENT, LLM_VECTOR
from elec.llm.adapter import Adapter
from elec.llm.budget import ABSENT
from elec.llm.encoder import encoding_device, resolve_precision
from elec.llm.stage1 import encode_texts, value_vectors
from elec.methods import Method
from elec.rundir import RunDir
from elec.text.items import item_checkpoint
from elec.text.words import bags, vocabulary
from elec.ui import Reporter


class LMInputs:
    def __init__(self, cfg: RunConfig, data: Prepared, run_dir: RunDir, device: torch.device,
                 reporter: Reporter, stage1: Callable[[], object], sharded: bool):
        self.cfg, self.data, self.dir, self.device = cfg, data, run_dir, device
        self.reporter, self.stage1, self.sharded = reporter, stage1, sharded
        self._gain: dict[str, Tensor | Path] | None = None
        self._items: dict[str, Tensor] | None = None
        self._values: tuple[Tensor, Tensor] | None = None
        self._words: tuple[list[str], list[str], Tensor] | None = None
        self._word_rows: dict[str, Tensor] | None = None

    @property
    def vectors_dir(self) -> Path:
        """Where stage 1 writes v on shards: ``llm_vectors/<split>/part-NNNNN.npy``."""
        return self.dir.path / "llm_vectors"

    def rows(self, method: Method) -> dict[str, Rows]:
        """What ``method``'s network reads: every split's rows, with v beside them (the
        gain network), the item vectors (the methods served with an item lookup) or the
        item text's row in ``item_words`` (the words control)."""
        return method.kind.columns(self, method)

    def plain_columns(self, method: Method) -> dict[str, Rows]:
        """The rows alone, or with their item vectors for a method served with an item
        lookup."""
        return self.item_columns() if method.lookup else self.data.columns

    def gain_columns(self) -> dict[str, Columns]:
        """Every split with its rows' LM vectors v: what the gain network reads."""
        self.stage1()
        if self._gain is None:  # on shards: where stage 1 wrote them
            self._gain = ({s: self.vectors_dir / s for s in self.data.splits} if self.sharded
                          else self.dir.load("llm_vectors", str(self.device)))
        columns = self._beside(LLM_VECTOR, self._gain)
        if ABSENT in self._gain:  # llm.budget: the training rows without a vector say so
            columns["train"] = columns["train"].with_extra(**{LLM_ABSENT: self._gain[ABSENT]})
        return columns

    def tail_view(self, teacher: Method, rows: Columns, texts: list[str]) -> Columns:
        """What ``teacher`` reads of the tail's synthetic rows (``elec.distill.tail``), as
        its kind says (``Kind.tail_view``): the rows, or ``adapted_view``'s."""
        return teacher.kind.tail_view(self, rows, texts)

    def adapted_view(self, rows: Columns, texts: list[str]) -> Columns:
        """The gain network's view of synthetic rows: their v from lm_only's adapter
        (trained on all the training rows: a synthetic row is in no fold, and has no label
        to leak)."""
        self.stage1()
        hidden = encode_texts({TAIL: texts}, self.cfg.llm, self.device, self.reporter)[TAIL]
        adapter = Adapter(hidden.shape[1], self.cfg.adapter).to(self.device)
        adapter.load_state_dict(self.dir.load("lm_only", str(self.device)))
        return rows.with_extra(**{LLM_VECTOR: adapter.vectors(hidden)})

    def item_columns(self) -> dict[str, Columns]:
        """Every split with its rows' item vectors: the LM's pooled vector of the item's
        own text (one per distinct text, through the vector cache)."""
        if self._items is None:
            self._items = encode_texts(self.data.item_texts.texts, self.cfg.llm, self.device,
                                       self.reporter)
        return self._beside(LLM_VECTOR, self._items)

    @property
    def item_dim(self) -> int:
        """The width of the item vectors."""
        return self.item_columns()["train"].extra[LLM_VECTOR].shape[1]

    def item_checkpoint(self, method: Method) -> dict[str, Tensor]:
        """What a bundle looks up (``item_checkpoint``): every distinct item text of the
        run's rows (every split: an item's text is known before its first label) and its
        vector: the LM's, with the LM settings that encoded them (``llm.precision`` as it
        ran here), or for the words control its bag of words, with the vocabulary
        (``Kind.item_table``: ``vector_table`` or ``word_table``)."""
        return method.kind.item_table(self)

    def word_table(self) -> dict[str, Tensor]:
        """The words control's item table: every item text's bag of words."""
        texts, vocab, bags = self.item_words()
        return item_checkpoint(texts, self.data.item_texts.fields, bags, words=vocab)

    def vector_table(self) -> dict[str, Tensor]:
        """The item table of LM vectors, with the settings that encoded them."""
        self.item_columns()
        first = self._first_rows()
        vectors = torch.stack([self._items[s][r] for s, r in first.values()])
        return item_checkpoint(list(first), self.data.item_texts.fields, vectors,
                               self.llm_settings())

    def llm_settings(self) -> dict:
        """The LM settings that encoded the item vectors (``llm.precision`` as it ran
        here, never "auto": a new item's text must be encoded as the others were)."""
        return self.cfg.llm.model_copy(update={"precision": resolve_precision(
            self.cfg.llm.precision, encoding_device(self.device),
            self.cfg.llm.runtime)}).model_dump(mode="json")

    def _first_rows(self) -> dict[str, tuple[str, int]]:
        """Every distinct item text of the run's rows (every split), in order of first
        appearance, with the (split, row) where it first appears."""
        first: dict[str, tuple[str, int]] = {}
        for split, texts in self.data.item_texts.texts.items():
            for row, text in enumerate(texts):
                first.setdefault(text, (split, row))
        return first

    def item_words(self) -> tuple[list[str], list[str], Tensor]:
        """Every distinct item text of the run's rows, the vocabulary of the training rows'
        item texts, and each text's bag of those words (``elec.text.words``)."""
        if self._words is None:
            distinct = list(self._first_rows())
            vocab = vocabulary(self.data.item_texts.texts["train"])
            self._words = distinct, vocab, bags(distinct, vocab).to(self.device)
        return self._words

    def word_columns(self) -> dict[str, Columns]:
        """Every split with each row's item text as its row of ``item_words``' bags."""
        if self._word_rows is None:
            position = {text: i for i, text in enumerate(self.item_words()[0])}
            self._word_rows = {s: torch.tensor([position[t] for t in texts],
                                               device=self.data.columns[s].label.device)
                               for s, texts in self.data.item_texts.texts.items()}
        return self._beside(ITEM_TEXT, self._word_rows)

    def values(self) -> tuple[Tensor, Tensor]:
        """The embedding-table rows of the values the LM reads, and the LM's pooled vector
        of each value's sentence (through the vector cache)."""
        if self._values is None:
            self._values = value_vectors(self.data.schema, self.cfg, self.device, self.reporter)
        return self._values

    def permute_values(self, generator: torch.Generator) -> None:
        """Give each value another value's LM vector (a permutation drawn from
        ``generator``): the control that tells the LM's meaning from a vector per value."""
        rows, vectors = self.values()
        self._values = rows, vectors[torch.randperm(len(rows), generator=generator)]

    def _beside(self, name: str, columns: dict[str, Tensor | Path]) -> dict[str, Columns]:
        """Every split's rows with ``columns`` (split -> one per row) as extra column
        ``name`` (the LM field, or the words control's item text)."""
        return {s: self.data.columns[s].with_extra(**{name: columns[s]})
                for s in self.data.splits}
