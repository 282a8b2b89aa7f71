"""HTTP service: ``POST /predict``, ``GET /healthz``, ``GET /metadata``, and for a bundle
with an item table served with an LM at hand, ``POST /items``.

Bad input always gets a 4xx whose message says what was wrong (and quotes at most a
few dozen characters of it); a 5xx would be a bug. The body limit holds however the
body is sent (with a length or chunked), and scoring runs in a worker thread, so a
large request does not hold up the event loop that answers the small ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from elec import __version__
from elec.data.schema import shifted
from elec.data.values import RowError
from elec.errors import clip
from elec.serve.batching import MicroBatcher
from elec.serve.predictor import Predictor
from elec.serve.requests import (
    Batch,
    RequestError,
    RowsRequest,
    columns_of,
    only_the_meant_shape,
    openapi_body,
    parse,
    size,
)

# larger requests are parsed and scored in a worker thread, so the event loop keeps
# answering small ones
INLINE_ROWS = 64
INLINE_BYTES = 64 * 1024


class PredictResponse(BaseModel):
    probabilities: list[float]
    ignored_fields: list[str] | None = None  # names in the rows that the model does not read
    missing_fields: list[str] | None = None  # fields the model reads that a row lacks (read
    # as missing values)


class ErrorAnswer(BaseModel):
    detail: str | list[dict[str, Any]]  # what was wrong, naming the row or field


ERRORS = {413: {"model": ErrorAnswer, "description": "more rows or bytes than one request "
                                                     "may hold"},
          422: {"model": ErrorAnswer, "description": "a request, row or value the model "
                                                     "cannot read, named"}}


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets a 413 before the app
    sees any of it, whether its length was announced or it came in chunks."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        announced = dict(scope.get("headers") or []).get(b"content-length", b"0")
        too_large = not announced.isdigit() or int(announced) > self.limit
        body, more = bytearray(), not too_large
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            too_large = len(body) > self.limit
            more = more and not too_large
        if too_large:
            response = JSONResponse(status_code=413, content={
                "detail": f"request body over {self.limit:,} bytes; send fewer rows"})
            return await response(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        return await self.app(scope, replay, send)


def invalid(errors: list[dict]) -> JSONResponse:
    """A 422 that names what was wrong where; FastAPI's own answer would quote the whole
    offending input back."""
    detail = [{"loc": [clip(str(part)) for part in e.get("loc", ())],
               "msg": clip(str(e.get("msg", "")), 200)} for e in errors[:10]]
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(predictor: Predictor, max_rows: int = 4096,
               max_body_bytes: int = 8 * 1024 * 1024,
               add_items: Callable[[list[dict]], dict] | None = None,
               batch_rows: int = 0) -> FastAPI:
    """``add_items`` (an ``elec.serve.items.ItemAdder``): rows of new items in, counts out;
    given, ``POST /items`` takes new items into the table. ``batch_rows``: concurrent
    requests' rows are scored together up to that many (``MicroBatcher``; 0: each
    request alone)."""
    batcher = MicroBatcher(predictor.score, batch_rows) if batch_rows else None
    app = FastAPI(title="elec", version=__version__,
                  description="Click probabilities from the ELEC vanilla network.")
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    known = set(predictor.schema.names) | (  # and the fields an item's text is read from
        {f.name for f in predictor.items.fields} if predictor.items else set())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_, error: RequestValidationError):
        return invalid(error.errors())

    request_schema = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": RowsRequest.model_json_schema()}}}}
    generated = predictor.manifest.get("item_rows") or {}  # the item's fields, for examples
    item_fields = ([f.name for f in predictor.items.fields] if predictor.items else
                   [generated["field"], *(f["name"] for f in generated["fields"])]
                   if generated else [])

    async def encode(columns: dict, rows: int):
        if rows <= INLINE_ROWS:  # a thread hop would cost more than encoding a few rows
            return predictor.encode_columns(columns, rows)
        return await run_in_threadpool(predictor.encode_columns, columns, rows)

    async def score(batch: Batch) -> np.ndarray:
        """Probabilities of a request's rows. Micro-batched, a large request is encoded
        and scored a slice at a time, so requests that come meanwhile pass between its
        slices (a bad value is named by its row in the request)."""
        if batcher is None:
            encoded = await encode(batch.columns, batch.rows)
            return (predictor.score(encoded) if batch.rows <= INLINE_ROWS
                    else await run_in_threadpool(predictor.score, encoded))
        scores = []
        for first in range(0, batch.rows, batch_rows):
            rows = min(batch_rows, batch.rows - first)
            part = ({k: v[first:first + rows] for k, v in batch.columns.items()}
                    if rows < batch.rows else batch.columns)
            try:
                scores.append(await batcher(await encode(part, rows)))
            except RowError as error:
                raise shifted(error, first) from None
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)

    @app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True,
              openapi_extra=openapi_body(predictor.schema, item_fields, sorted(
                  known - set(predictor.schema.names)), max_rows), responses=ERRORS)
    async def predict(request: Request):
        """Click probabilities of rows, of columns, or of candidate items in one context
        (``elec.serve.requests``), in the order sent."""
        raw = await request.body()
        try:  # a large body is parsed in a worker thread too: parsing 4,096 rows takes ms
            body = parse(raw) if len(raw) <= INLINE_BYTES else await run_in_threadpool(
                parse, raw)
        except ValidationError as error:
            return invalid(only_the_meant_shape(error.errors(), raw))
        if (rows := size(body)) > max_rows:
            return JSONResponse(status_code=413, content={
                "detail": f"{rows:,} rows in one request; the maximum is {max_rows:,}"})
        try:
            batch = columns_of(body, known)
        except RequestError as error:
            return JSONResponse(status_code=422, content={"detail": str(error)})
        if batch.empty is not None:
            return JSONResponse(status_code=422, content={
                "detail": f"{batch.empty} has none of the fields the model reads "
                          f"({', '.join(sorted(known)[:20])}): nothing to score"})
        try:
            probabilities = await score(batch)
        except RowError as error:
            return JSONResponse(status_code=422, content={"detail": str(error)})
        sent, in_every = batch.sent, batch.in_every
        ignored = sorted(sent - known)
        missing = sorted(known - in_every)
        return {"probabilities": probabilities.tolist(),
                "ignored_fields": [clip(name) for name in ignored[:50]] or None,
                "missing_fields": missing or None}

    if add_items is not None:
        @app.post("/items", openapi_extra=request_schema)
        async def items(request: Request):
            """New items (rows with the item fields): their texts through the LM once, into
            the table and the bundle; scored from the next request on."""
            try:
                body = RowsRequest.model_validate_json(await request.body())
            except ValidationError as error:
                return invalid(error.errors())
            if len(body.rows) > max_rows:
                return JSONResponse(status_code=413, content={
                    "detail": f"{len(body.rows):,} items in one request; the maximum is "
                              f"{max_rows:,}"})
            try:  # the LM runs in a worker thread: /predict keeps answering meanwhile
                return await run_in_threadpool(add_items, body.rows)
            except RowError as error:
                return JSONResponse(status_code=422, content={"detail": str(error)})

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/metadata")
    async def metadata():
        manifest = predictor.manifest
        return {"method": manifest["method"], "model": manifest["model"],
                "fields": [{"name": f.name, "kind": f.kind} for f in predictor.schema.fields],
                "test_metrics": manifest.get("test_metrics"), "versions": manifest["versions"],
                "max_rows": max_rows, **({"items": {
                    "in_table": len(predictor.items.index),
                    "rows_with_an_item_not_in_the_table": predictor.items.unknown,
                    "post_items": add_items is not None}}
                    if predictor.items else {})}

    return app

