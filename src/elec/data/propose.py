"""``elec init``: a first config for a user's table, proposed from a sample of it.

Each column's kind comes from its type, its number of distinct values and how long its
values are: lists are multi-valued, text cut by ``|`` or ``;`` into a few repeated
values is multi-valued too (with that ``split``), long or many-worded strings are text
for the language model only, ids and opaque codes are categorical and kept out of the
text, floats and many-valued integers are numeric. The label rule, and the user, item
and time columns, come from the label's values and the column names. Every choice is
written beside its line, for the user to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from elec.data.files import batches, dataset, input_files
from elec.data.verdicts import (
    LEAK_AUC,
    depends_on,
    key_verdict,
    single_column_auc,
    text_share_cut,
    unnamed,
)
from elec.errors import DataError

SAMPLE_ROWS = 100_000
USER = re.compile(r"^(user|uid|customer|client|member|visitor|reviewer|account|shopper|"
                  r"buyer|person|viewer|reader|listener|player|guest|subscriber)(_?id)?$", re.I)
ITEM = re.compile(r"^(item|iid|product|movie|asin|sku|ad|article|song|book|business|"
                  r"video|news|parent_asin|clothing|listing|offer|track|recipe|hotel|"
                  r"restaurant|course|job|post|game|app)(_?id)?$", re.I)
TIME = re.compile(r"^(timestamp|time|date|datetime|ts|unix_?time|event_?time|created_at)$",
                  re.I)
ID = re.compile(r"(^id$|_id$|^uid$|^iid$)")
ID_VALUE = re.compile(r"^[A-Za-z]{1,3}[-_]?\d+$")  # U123, SKU-9: codes, not words
OPAQUE_NAME = re.compile(r"^[A-Za-z]{0,2}\d+$")  # Criteo's I1, C26: nothing to read
CODE = re.compile(r"^[0-9a-fA-F]{6,}$")  # hashed values: nothing to read either


@dataclass
class Proposal:
    name: str
    kind: str
    why: str
    in_text: bool = True
    split: str | None = None
    max_len: int | None = None
    min_count: int | None = None

    def line(self) -> str:
        display = self.name.replace("_", " ").strip().capitalize()
        parts = [f"name: {self.name}", f"kind: {self.kind}"]
        if self.in_text:
            parts.append(f"display: {display}")
        else:
            parts.append("in_text: false")
        if self.split:
            parts.append(f'split: "{self.split}"')
        if self.max_len:
            parts.append(f"max_len: {self.max_len}")
        if self.min_count:
            parts.append(f"min_count: {self.min_count}")
        return f"  - {{{', '.join(parts)}}}"


def sample(data: str | Path, rows: int = SAMPLE_ROWS) -> pa.Table:
    """The first ``rows`` rows of the file(s) ``data`` names."""
    files = input_files(data)
    taken, seen = [], 0
    for batch in batches(dataset(files), files, batch_size=min(rows, 1 << 16)):
        taken.append(batch)
        seen += batch.num_rows
        if seen >= rows:
            break
    if not seen:
        raise DataError(f"{data}: no rows to look at")
    return pa.Table.from_batches(taken).slice(0, rows)


def _strings(column: pa.ChunkedArray) -> list[str]:
    values = pc.drop_null(column).to_pylist()
    return [v for v in values if v != ""]


def _split_of(values: list[str]) -> str | None:
    """The separator of a multi-valued text column, if its values are cut lists of a few
    repeated short values."""
    for separator in ("|", ";"):
        cut = sum(separator in v for v in values)
        if cut < 0.2 * len(values):
            continue
        parts = [p.strip() for v in values for p in v.split(separator) if p.strip()]
        if parts and len(set(parts)) <= 0.5 * len(parts) and np.mean([len(p) for p in parts]) < 30:
            return separator
    return None


def plain(name: str) -> str:
    """A column name as the name rules read it: "Clothing ID" -> "clothing_id",
    "productId" -> "product_id"."""
    return re.sub(r"\W+", "_", re.sub(r"([a-z])([A-Z])", r"\1_\2", name.strip())).lower()


def id_named(name: str) -> bool:
    return bool(ID.search(plain(name)) or USER.match(plain(name)) or ITEM.match(plain(name)))


def propose_field(name: str, column: pa.ChunkedArray) -> Proposal:
    """One column's kind, with the reason."""
    kind = column.type
    rows = len(column) - column.null_count
    distinct = pc.count_distinct(column).as_py() if not pa.types.is_list(kind) else 0
    opaque = bool(OPAQUE_NAME.match(name))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        lengths = lengths[~np.isnan(lengths.astype(float))] if len(lengths) else lengths
        top = int(np.percentile(lengths, 95)) if len(lengths) else 1
        return Proposal(name, "multi", "a list in each row", max_len=max(top, 1))
    if pa.types.is_floating(kind):
        return Proposal(name, "numeric", "floating-point values", in_text=not opaque)
    if pa.types.is_boolean(kind):
        return Proposal(name, "categorical", "true / false")
    if pa.types.is_integer(kind):
        if id_named(name):
            return Proposal(name, "categorical", f"an id ({distinct:,} values): its number "
                            f"means nothing to an LM", in_text=False)
        if distinct <= 20:
            return Proposal(name, "categorical", f"{distinct} distinct integers",
                            in_text=not opaque)
        return Proposal(name, "numeric", f"{distinct:,} distinct integers", in_text=not opaque)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return Proposal(name, "categorical", f"{kind} values, read as categories")
    values = _strings(column)
    split = _split_of(values[:20_000])
    if split:
        top = int(np.percentile([len(v.split(split)) for v in values], 95)) if values else 1
        return Proposal(name, "multi", f"values cut by {split!r}", split=split, max_len=top)
    unique = list(dict.fromkeys(values))[:20_000]
    words = np.mean([len(v.split()) for v in unique]) if unique else 0
    chars = np.mean([len(v) for v in unique]) if unique else 0
    if len(unique) > 50 and (words >= 2.5 or chars >= 30):
        return Proposal(name, "text", f"{len(unique):,} distinct strings of {words:.1f} words "
                        f"on average: read by the LM only")
    code = bool(unique) and sum(bool(CODE.match(v) or ID_VALUE.match(v))
                                for v in unique) > 0.9 * len(unique)
    id_like = id_named(name)
    min_count = 2 if distinct > 10_000 else None
    if id_like or code or opaque:
        what = "an id" if id_like else "opaque codes"
        return Proposal(name, "categorical", f"{what} ({distinct:,} values in {rows:,} rows)",
                        in_text=False, min_count=min_count)
    return Proposal(name, "categorical", f"{distinct:,} distinct values", min_count=min_count)


def label_rule(column: pa.ChunkedArray, name: str) -> tuple[float | None, str]:
    """data.label_threshold for the label column, and why."""
    if pa.types.is_boolean(column.type):
        return None, "true / false"
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DataError(f"label column {name!r} holds {column.type} values "
                        f"({pc.drop_null(column)[0].as_py()!r}, ...); elec needs 0/1 labels or "
                        f"numbers with a threshold: map the column to 0/1 first")
    values = np.unique(pc.drop_null(column).to_numpy(zero_copy_only=False))
    if set(values.tolist()) <= {0, 1}:
        return None, "the column holds 0/1"
    top = float(values.max())
    if set(values.tolist()) <= set(range(0, 6)) | {float(v) / 2 for v in range(11)}:
        return 4.0, f"ratings up to {top:g}: >= 4 is a click (the usual rule; 5 is stricter)"
    threshold = float(np.quantile(pc.drop_null(column).to_numpy(zero_copy_only=False), 0.6))
    return threshold, f">= {threshold:g} (the top 40% of the sample) is a click: adjust"


def clicks(column: pa.ChunkedArray, threshold: float | None) -> np.ndarray:
    """The sample's 0/1 labels under the proposed rule (a missing label: 0)."""
    values = pc.fill_null(pc.cast(column, pa.float64()), 0).to_numpy(zero_copy_only=False)
    return (values >= threshold if threshold is not None else values > 0).astype(np.float64)


def user_and_item(table: pa.Table, fields: list[Proposal]) -> tuple[str | None, str | None]:
    """The user and item columns: by name, else by shape among the id columns with
    repeats (the item is the one a text column depends on, as a title on its product;
    the user another)."""
    ids = [f.name for f in fields if f.kind == "categorical" and not f.in_text]
    user = next((n for n in ids if USER.match(plain(n))), None)
    item = next((n for n in ids if ITEM.match(plain(n))), None)
    texts = [f.name for f in fields if f.kind == "text"]
    if item is None:
        item = next((n for n in ids if n != user and any(depends_on(table, n, t)
                                                         for t in texts)), None)
    if user is None:
        user = next((n for n in ids if n != item and pc.count_distinct(table[n]).as_py()
                     <= 0.5 * (len(table[n]) - table[n].null_count)), None)
    return user, item


def small_batch(rows: int) -> int:
    """A power of two giving 50 to 100 steps an epoch on the training 80% of ``rows``, kept
    within 64 to 1024: on a table of a few thousand rows the default batch leaves too few."""
    return int(np.clip(2 ** np.floor(np.log2(0.8 * rows / 50)), 64, 1024))


def propose(data: str | Path, label: str) -> str:
    """A commented config for ``data`` with ``label`` as the click label."""
    table = sample(data)
    if label not in table.column_names:
        raise DataError(f"--label {label!r} is not a column of {data}; its columns are "
                        f"{', '.join(table.column_names)}")
    threshold, label_why = label_rule(table[label], label)
    clicked = clicks(table[label], threshold)
    names = [n for n in table.column_names if n != label]
    time = next((n for n in names if TIME.match(plain(n))), None)
    left = {n: "no name (an index written with the table)" for n in names if unnamed(n)}
    fields = [propose_field(n, table[n]) for n in names if n != time and n not in left]
    for f in fields:
        key = key_verdict(table[f.name]) if f.kind in ("categorical", "numeric") else None
        if key:
            left[f.name] = key
        elif (auc := single_column_auc(table[f.name], clicked)) is not None and auc >= LEAK_AUC:
            left[f.name] = (f"alone it ranks the clicks with AUC {auc:.3f}: the label, or "
                            f"decided with it (a leak); put it back only if it is known when "
                            f"a row is scored")
    fields = [f for f in fields if f.name not in left]
    user, item = user_and_item(table, fields)
    texts = [f for f in fields if f.in_text]
    lines = [
        f"# A first config for {data}, proposed by `elec init` from its first "
        f"{table.num_rows:,} rows.",
        "# Check every line (the comments say why), then: elec run -c THIS_FILE",
        "seed: 2024",
        *([] if texts else ["methods: [backbone]       # no column reads as words: there is "
                            "nothing for ELEC's LM to read"]),
        "data:",
        f"  dataset: {data}",
        f"  label: {label}",
        f"  label_threshold: {'null' if threshold is None else f'{threshold:g}'}"
        f"    # {label_why}",
        f"  split: random             # or temporal{' (by ' + time + ')' if time else ''}"
        + (f"; cold-item (by {item}) scores only items no training row holds, where "
           f"reading the item's text pays most" if item else ""),
        f"  user_column: {user or 'null'}" + ("" if user else "    # no user column found: "
                                              "no gAUC"),
    ]
    if item:
        lines.append(f"  item_column: {item}")
    if time:
        lines.append(f"  time_column: {time}    # not a feature: it orders the rows")
    lines += ["fields:",
              "  # kind: categorical | numeric | multi | text (read by the LM only); "
              "in_text: false keeps a",
              "  # column out of the text the LM reads; display: how the text names it"]
    width = max(len(f.line()) for f in fields) if fields else 0
    lines += [f"{f.line():<{width}}  # {f.why}" for f in fields]
    lines += [f"  # left out: {n!r}: {why}" for n, why in left.items()]
    if not texts:
        lines.append("  # no column reads as words: the LM has little to add on this table")
    cut = text_share_cut(table, [f.name for f in texts])
    lines += ["llm:", "  name: minilm              # the bundled MiniLM; or a local path / "
              "Hugging Face id",
              f"  max_length: 128           # tokens the LM reads of a row's text: about "
              f"{cut:.0%} of the sampled rows' texts are longer and lose their last fields"
              + (" (leave long free text out of the text, in_text: false, or raise it)"
                 if cut > 0.1 else ""),
              "model:", "  name: deepfm", "  embedding_dim: 16"]
    train = []
    if table.num_rows < SAMPLE_ROWS:  # the whole table: small data wants small batches
        batch = small_batch(table.num_rows)
        steps = -(-int(0.8 * table.num_rows) // batch)
        train.append(f"  batch_size: {batch}          # {steps} steps an epoch on the "
                     f"training 80% of {table.num_rows:,} rows")
    if item and any(f.name == item and f.kind == "categorical" for f in fields):
        train.append(f"  item_dropout: 0.2        # {item} read as unknown in 20% of training "
                     f"rows: new items get scored by their other fields")
    return "\n".join(lines + (["train:", *train] if train else [])) + "\n"
