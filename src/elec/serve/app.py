"""HTTP service: ``POST /predict``, ``GET /healthz``, ``GET /metadata``.

Bad input always gets a 4xx whose message says what was wrong; a 5xx would be a bug.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from elec import __version__
from elec.data.encoder import RowError
from elec.serve.predictor import Predictor


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]]


class PredictResponse(BaseModel):
    probabilities: list[float]


def create_app(predictor: Predictor, max_rows: int = 4096,
               max_body_bytes: int = 8 * 1024 * 1024) -> FastAPI:
    app = FastAPI(title="elec", version=__version__,
                  description="Click probabilities from the ELEC vanilla network.")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            return JSONResponse(status_code=413, content={
                "detail": f"request body over {max_body_bytes:,} bytes; send fewer rows"})
        return await call_next(request)

    @app.post("/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest):
        if len(body.rows) > max_rows:
            return JSONResponse(status_code=413, content={
                "detail": f"{len(body.rows):,} rows in one request; the maximum is {max_rows:,}"})
        try:
            probabilities = predictor.predict_proba(body.rows)
        except RowError as error:
            return JSONResponse(status_code=422, content={"detail": str(error)})
        return {"probabilities": probabilities.tolist()}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/metadata")
    async def metadata():
        manifest = predictor.manifest
        return {"method": manifest["method"], "model": manifest["model"],
                "fields": [{"name": f.name, "kind": f.kind} for f in predictor.schema.fields],
                "test_metrics": manifest.get("test_metrics"), "versions": manifest["versions"],
                "max_rows": max_rows}

    return app
