"""Sample -> text: one sentence per field, ``<Field> is <value>.``.

    Age is 24. Gender is female. Occupation is technician. Movie title is Toy
    Story (1995). Genres are Animation, Comedy.

Multi-valued fields read "are" and join their values with ", "; missing values
are skipped. Long values pass through a summariser (default: truncation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from elec.config import FieldSpec, TextConfig
from elec.data.values import is_missing
from elec.errors import DataError

Summariser = Callable[[str], str]


def truncate(max_chars: int) -> Summariser:
    """Keep at most ``max_chars`` characters, cutting at a word boundary."""
    def summarise(value: str) -> str:
        if len(value) <= max_chars:
            return value
        cut = value[:max_chars + 1].rsplit(" ", 1)[0]
        return (cut or value[:max_chars]) + "..."
    return summarise


def _format(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sentence(spec: FieldSpec, value: object, summarise: Summariser) -> str | None:
    """One field's sentence; None when the value is missing (by the row encoder's rule:
    None, "" or NaN)."""
    if is_missing(value):
        return None
    if spec.kind == "multi" and spec.split and isinstance(value, str):
        value = value.split(spec.split)
    verb = "is"
    if isinstance(value, (list, tuple)):
        items = [_format(v) for v in value if not is_missing(v)]
        if not items:
            return None
        verb = "are" if len(items) > 1 else "is"
        text = summarise(spec.separator.join(items))
    else:
        text = summarise(_format(value))
    if spec.template:
        return spec.template.format(label=spec.label, value=text)
    return f"{spec.label} {verb} {text}."


def text_fields(specs: Sequence[FieldSpec], cfg: TextConfig) -> list[FieldSpec]:
    """The fields rendered, in order: ``text.fields`` if given, else those with ``in_text``."""
    by_name = {s.name: s for s in specs}
    if cfg.fields is None:
        return [s for s in specs if s.in_text]
    missing = [name for name in cfg.fields if name not in by_name]
    if missing:
        raise DataError(f"text.fields names {missing}, which are not in the config's fields")
    return [by_name[name] for name in cfg.fields]


def render_rows(rows: Sequence[dict], specs: Sequence[FieldSpec],
                summarise: Summariser) -> list[str]:
    out = []
    for row in rows:
        parts = (sentence(s, row.get(s.name), summarise) for s in specs)
        out.append(" ".join(p for p in parts if p))
    return out


def render_table(table: pa.Table, specs: Sequence[FieldSpec], cfg: TextConfig,
                 summarise: Summariser | None = None) -> list[str]:
    chosen = text_fields(specs, cfg)
    rows = table.select([s.name for s in chosen]).to_pylist()
    return render_rows(rows, chosen, summarise or truncate(cfg.max_chars))
