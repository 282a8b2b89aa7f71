"""``elec serve``: one process, or ``workers`` processes on one port, each with the
bundle loaded, its share of the cores as torch threads, and micro-batching."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import uvicorn
from fastapi import FastAPI

from elec.errors import ConfigError
from elec.serve.app import create_app
from elec.serve.predictor import Predictor

OPTIONS = "ELEC_SERVE"  # a worker process's options (JSON), from the process that starts it


@dataclass
class ServeOptions:
    bundle: str
    runtime: str = "auto"
    max_rows: int = 4096
    batch_rows: int = 256  # concurrent requests' rows scored together, up to this many
    workers: int = 1
    threads: int = 0  # torch threads per worker (0: the cores shared among the workers)
    add_items: bool = False
    access_log: bool = False  # a line per request (uvicorn's access log)

    def per_worker_threads(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)


def app(options: ServeOptions, predictor: Predictor | None = None,
        add_items: Callable[[list[dict]], dict] | None = None) -> FastAPI:
    """The service of one process (``predictor``: the bundle, already loaded)."""
    torch.set_num_threads(options.per_worker_threads())
    predictor = predictor or Predictor.from_bundle(options.bundle, options.runtime)
    return create_app(predictor, options.max_rows, add_items=add_items,
                      batch_rows=options.batch_rows)


def worker_app() -> FastAPI:
    """A worker process's app (``uvicorn --factory``): its options from ``ELEC_SERVE``."""
    return app(ServeOptions(**json.loads(os.environ[OPTIONS])))


def serve(options: ServeOptions, host: str, port: int, say: Callable[[str], None],
          predictor: Predictor, add_items: Callable[[list[dict]], dict] | None = None
          ) -> None:
    """Serve until Ctrl-C: in this process, or in ``options.workers`` processes."""
    if options.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if options.workers > 1 and add_items is not None:
        raise ConfigError("--add-items grows one process's item table: serve it with "
                          "--workers 1")
    sys.setswitchinterval(0.001)  # a large request scored in a thread must not stall small ones
    batching = (f"micro-batches up to {options.batch_rows} rows" if options.batch_rows
                else "each request scored alone")
    say(f"serving {predictor.manifest['method']} from {options.bundle} ({predictor.runtime}, "
        f"{options.workers} worker{'s' if options.workers > 1 else ''} x "
        f"{options.per_worker_threads()} threads, {batching}) on http://{host}:{port} "
        f"(POST /predict; the API at /docs); Ctrl-C stops")
    level = "info" if options.access_log else "warning"
    if options.workers == 1:
        uvicorn.run(app(options, predictor, add_items), host=host, port=port,
                    log_level=level, access_log=options.access_log)
        return
    os.environ[OPTIONS] = json.dumps({**asdict(options), "bundle": str(Path(options.bundle)),
                                      "runtime": predictor.runtime})
    uvicorn.run("elec.serve.server:worker_app", factory=True, workers=options.workers,
                host=host, port=port, log_level=level, access_log=options.access_log)
