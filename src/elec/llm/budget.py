"""The LM budget (``llm.budget``): which training rows get an LM vector.

Every training row's text costs an LM pass. With a budget under all of them, only that
many training rows are encoded (valid, test and pool rows always are): every item's
rows in turn, one row of each item, then a second of each, ..., so a rare item's few
rows are all covered before a frequent item gets its hundredth. The other training rows
read no LM field (``distill.networks.LLM_ABSENT``), as the rows whose field the gain
network's field dropout drops, which is what teaches it to score without one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from elec.config import RunConfig
from elec.data.batches import Columns
from elec.data.prepare import Prepared

ABSENT = "absent"  # beside the splits' vectors: 1 for a training row without one


def budget_rows(data: Prepared, cfg: RunConfig) -> Tensor | None:
    """The training rows that get an LM vector, in order (None: all of them)."""
    rows = len(data.columns["train"])
    budget = cfg.llm.budget
    keep = min(rows, round(budget * rows) if budget <= 1 else int(budget))
    if keep >= rows:
        return None
    rng = np.random.default_rng(cfg.seed)
    names = [f.name for f in data.schema.single]
    if cfg.data.item_column in names:  # each item's rows in turn, rare items first covered
        items = data.columns["train"].single[:, names.index(cfg.data.item_column)].cpu().numpy()
        shuffled = rng.permutation(rows)
        order = shuffled[np.argsort(items[shuffled], kind="stable")]
        starts = np.searchsorted(items[order], items[order])
        turn = np.empty(rows, dtype=np.int64)
        turn[order] = np.arange(rows) - starts  # the row's place among its item's rows
        chosen = np.lexsort((rng.random(rows), turn))[:keep]
    else:
        chosen = rng.permutation(rows)[:keep]
    return torch.from_numpy(np.sort(chosen)).to(data.columns["train"].label.device)


def within_budget(data: Prepared, cfg: RunConfig, log: Callable[[str], None]
                  ) -> tuple[Tensor | None, dict[str, list[str]], dict[str, Columns]]:
    """The rows stage 1 reads and their texts: every split's, the training rows cut to the
    budget; and which training rows those are (None: all)."""
    chosen = budget_rows(data, cfg)
    texts = {s: data.texts[s] for s in data.splits}
    columns = dict(data.columns)
    if chosen is not None:
        texts["train"] = [texts["train"][i] for i in chosen.tolist()]
        columns["train"] = columns["train"].take(chosen)
        log(f"llm.budget {cfg.llm.budget:g}: {len(chosen):,} of the "
            f"{len(data.columns['train']):,} training rows get an LM vector")
    return chosen, texts, columns


def spread(vectors: Tensor, chosen: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """The chosen rows' vectors placed among all ``rows`` (zeros elsewhere), and the
    absent mask (1 where a row has no vector)."""
    full = vectors.new_zeros(rows, vectors.shape[1])
    full[chosen] = vectors
    absent = vectors.new_ones(rows)
    absent[chosen] = 0.0
    return full, absent
