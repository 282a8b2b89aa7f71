"""An item text's plain words: what the no-LM control (``words``) reads where ``item_lm``
reads the LM's vector of the same text.

    "Movie title is Toy Story (1995)."  ->  [movie, title, is, toy, story, 1995]
    bag(text) = the mean of the one-hot vectors of its words in the vocabulary

The vocabulary is the words of the training rows' item texts only: a word first seen in
a new item's text has no learnt vector, so it is left out, as any unseen word is. A
linear layer of a bag is the mean of its words' learnt vectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``."""
    return _WORD.findall(text.lower())


def vocabulary(texts: Iterable[str]) -> list[str]:
    """The distinct words of ``texts``, sorted."""
    return sorted({word for text in set(texts) for word in words(text)})


def bags(texts: Sequence[str], vocab: Sequence[str]) -> Tensor:
    """(len(texts), len(vocab)) float32: each text's words in ``vocab``, one-hot and
    averaged (a word said twice counts twice); zeros for a text with none of them."""
    column = {word: i for i, word in enumerate(vocab)}
    out = torch.zeros(len(texts), len(vocab))
    for row, text in enumerate(texts):
        known = [column[w] for w in words(text) if w in column]
        for i in known:
            out[row, i] += 1.0 / len(known)
    return out
