"""The three shapes of a ``POST /predict`` body, each answered with one probability per row
in the order sent:

- rows: ``{"rows": [{field: value, ...}, ...]}``;
- columns: ``{"columns": {field: [value, ...], ...}}``, every column as long;
- ranking: ``{"context": {field: value, ...}, "candidates": [{field: value, ...}, ...]}``,
  one user and context with many candidate items: the context's fields are sent once and
  read as part of every candidate's row.

All three become the same columns of the model's fields, encoded by the same encoder as
training's (a ranking request's context values given to every candidate).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from elec.data.schema import FeatureSchema
from elec.errors import clip


class RowsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]]


class ColumnsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: dict[str, list[Any]]


class RankingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    context: dict[str, Any]
    candidates: list[dict[str, Any]]


Request = RowsRequest | ColumnsRequest | RankingRequest
REQUEST = TypeAdapter(Request)
KEYS = {"rows": "RowsRequest", "columns": "ColumnsRequest", "candidates": "RankingRequest",
        "context": "RankingRequest"}


class RequestError(ValueError):
    """A body whose shape is right and whose parts do not fit together (a 422)."""


def parse(raw: bytes) -> Request:
    """The body as one of the three shapes (pydantic's ValidationError if it is none)."""
    return REQUEST.validate_json(raw)


def only_the_meant_shape(errors: list[dict], raw: bytes) -> list[dict]:
    """Of a failed parse's errors, those of the shape the body meant (by its first key
    that names one); its name dropped from their places."""
    head = raw[:4096]
    meant = next((shape for key, shape in KEYS.items() if f'"{key}"'.encode() in head), None)
    if meant is None:
        return errors
    kept = [e for e in errors if e.get("loc", ())[:1] == (meant,)]
    return [{**e, "loc": e["loc"][1:]} for e in kept] or errors


def size(request: Request) -> int:
    """The rows a request asks to score."""
    if isinstance(request, RowsRequest):
        return len(request.rows)
    if isinstance(request, RankingRequest):
        return len(request.candidates)
    return max((len(values) for values in request.columns.values()), default=0)


@dataclass
class Batch:
    """A request's rows as columns of the fields the model reads, and what it sent."""

    columns: dict[str, list[Any]]  # field -> one value per row (absent: missing)
    rows: int
    sent: set[str]  # every name the request gave
    in_every: set[str]  # the model's fields that every row gave
    empty: str | None = None  # the first row that gave none of them, named


def columns_of(request: Request, known: set[str]) -> Batch:
    """The rows a request holds, in order, as columns of the fields in ``known``."""
    if isinstance(request, RowsRequest):
        rows, sent, in_every, empty = request.rows, set(), set(known), None
        for i, row in enumerate(rows):  # one pass over the rows' names
            sent.update(row)
            in_every.intersection_update(row)
            if empty is None and known.isdisjoint(row):
                empty = f"row {i}"
        columns = {name: [row.get(name) for row in rows] for name in known & sent}
        return Batch(columns, len(rows), sent, in_every, empty)
    if isinstance(request, RankingRequest):
        context, candidates = request.context, request.candidates
        sent, in_every, empty = set(context), set(known), None
        for i, candidate in enumerate(candidates):
            both = context.keys() & candidate.keys()
            if both:
                raise RequestError(f"candidate {i} repeats the context's field "
                                   f"{clip(sorted(both)[0])!r}: give each field once")
            sent.update(candidate)
            in_every.intersection_update(candidate.keys() | context.keys())
            if empty is None and known.isdisjoint(candidate) and known.isdisjoint(context):
                empty = f"candidate {i}"
        rows = len(candidates)
        columns = {name: [context[name]] * rows if name in context else
                   [candidate.get(name) for candidate in candidates] for name in known & sent}
        return Batch(columns, rows, sent, in_every, empty)
    lengths = {name: len(values) for name, values in request.columns.items()}
    if len(set(lengths.values())) > 1:
        longest = max(lengths, key=lengths.get)
        short = min(lengths, key=lengths.get)
        raise RequestError(f"column {clip(short)!r} has {lengths[short]:,} values and "
                           f"{clip(longest)!r} {lengths[longest]:,}: every column needs one "
                           f"value per row")
    sent = set(request.columns)
    rows = max(lengths.values(), default=0)
    return Batch({name: request.columns[name] for name in known & sent}, rows, sent,
                 known & sent, "the columns" if rows and known.isdisjoint(sent) else None)


def request_rows(schema, count: int, seed: int) -> list[dict]:
    """``count`` request rows of ``schema``'s fields with values the model knows (and a
    few it does not): what load tests and the verdict's timing send."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        row: dict = {}
        for field in schema.fields:
            if field.kind == "numeric":
                edges = field.boundaries or [0.0]
                row[field.name] = rng.uniform(edges[0] - 1, edges[-1] + 1)
            elif field.kind == "multi":
                row[field.name] = rng.sample(field.vocab, min(len(field.vocab), 2))
            else:
                row[field.name] = rng.choice([*field.vocab, "never-seen"])
        out.append(row)
    return out


def _example(field) -> Any:
    if field.kind == "numeric":
        return (field.boundaries or [0.0])[0]
    value = (field.vocab or ["a value"])[0]
    return [value] if field.kind == "multi" else value


def openapi_body(schema: FeatureSchema, item_fields: list[str],
                 text_fields: list[str] = (), max_rows: int = 4096) -> dict:
    """The request body's OpenAPI description: the three shapes, each field typed by its
    kind (``text_fields``: those an item's text is rendered from), with examples made of
    the model's own fields (a ranking example's candidates hold the item's fields)."""
    row = {f.name: _example(f) for f in schema.fields}
    items = [n for n in item_fields if n in row] or list(row)[-1:]
    context = {k: v for k, v in row.items() if k not in items}
    candidate = {k: row[k] for k in items}
    examples = {
        "rows": {"summary": "rows", "value": {"rows": [row, row]}},
        "columns": {"summary": "columns", "value": {"columns": {k: [v, v] for k, v in
                                                                 row.items()}}},
        "ranking": {"summary": "one context, candidate items",
                    "value": {"context": context, "candidates": [candidate, candidate]}},
    }
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"oneOf": _shapes(schema, text_fields, max_rows)},
        "examples": examples}}}}


SCALAR = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]


def _value(kind: str) -> dict:
    """What a field's value may be, as the encoder reads it (a value of the right type
    can still be refused, e.g. a list longer than the field holds is cut, not refused)."""
    if kind == "numeric":
        return {"type": ["number", "null"]}
    if kind == "multi":
        return {"anyOf": [{"type": "array", "items": {"anyOf": SCALAR}}, {"type": "string"},
                          {"type": "null"}]}
    if kind == "text":
        return {"type": ["string", "null"]}
    return {"anyOf": SCALAR}


def _shapes(schema: FeatureSchema, text_fields: list[str], max_rows: int) -> list[dict]:
    """The three request shapes, each field typed by its kind; other names are allowed
    (answered in ignored_fields), a row (and the columns) must hold one of the model's.
    What no schema says: the columns must be as long as each other, and a candidate must
    not repeat a context field (both a 422 naming them)."""
    values = {**{f.name: _value(f.kind) for f in schema.fields},
              **{n: _value("text") for n in text_fields}}
    one_of_them = [{"required": [name]} for name in values]
    row = {"type": "object", "properties": values, "additionalProperties": True}
    columns = {"type": "object", "additionalProperties": {"type": "array"},
               "anyOf": one_of_them, "properties": {
                   name: {"type": "array", "items": value, "maxItems": max_rows}
                   for name, value in values.items()}}
    rows = {"type": "array", "items": {**row, "anyOf": one_of_them}, "maxItems": max_rows}

    def shape(title: str, properties: dict) -> dict:
        return {"title": title, "type": "object", "properties": properties,
                "required": list(properties), "additionalProperties": False}

    return [shape("RowsRequest", {"rows": rows}), shape("ColumnsRequest", {"columns": columns}),
            shape("RankingRequest", {"context": row, "candidates": {
                "type": "array", "items": row, "maxItems": max_rows}})]
