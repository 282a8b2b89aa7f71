"""elec: LLM-empowered CTR prediction with LLM-free serving (ELEC, SIGIR 2025).

The public API, imported on first use (``import elec`` stays light, and serving never
loads the training code):

    config    RunConfig, load_config
    running   run (a whole run: results), Run (its networks, on demand), plan
    methods   METHODS, TABLE, Method, variant_of (the method table)
    models    BACKBONES
    data      load_table, subsample, split_indices, synthesize, SynthConfig, fetch
    text      render_table, render_rows (a row as the LM reads it), TextEncoder (the LM)
    serving   export, Predictor, create_app, FeatureSchema (a bundle's fields and
              vocabularies: schema.json), request_rows (rows of a schema, to send),
              item_adder (new items into a bundle), GainScorer (the gain network with
              its LM in the loop: what serving the teacher would cost)
    training  prepare_shards (a table's splits, encoded into shards), Columns (a batch),
              PlainNetwork (a backbone to train), Trainer, predict_logits
    measuring quality, paired, stats, evaluate, sigmoid, Reporter, RunDir (a run's
              directory: its finished networks and records), environment (the machine,
              for a results file), write_json (atomically)
    reporting methods_table, deltas_table, zoo_table, cell, quality_figure, auc_vs_latency,
              verdict_lines (what `elec run` says to serve, from results.json's "served")
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "RunConfig": "elec.config", "load_config": "elec.config",
    "run": "elec.pipeline", "Run": "elec.pipeline", "plan": "elec.planner",
    "METHODS": "elec.methods", "TABLE": "elec.methods", "Method": "elec.methods",
    "variant_of": "elec.methods",
    "BACKBONES": "elec.models",
    "load_table": "elec.data.sources", "fetch": "elec.data.sources",
    "subsample": "elec.data.sources",
    "render_table": "elec.text.render", "render_rows": "elec.text.render",
    "TextEncoder": "elec.llm.encoder",
    "split_indices": "elec.data.splits",
    "synthesize": "elec.data.synth", "SynthConfig": "elec.data.synth",
    "export": "elec.exporter", "Predictor": "elec.serve.predictor",
    "create_app": "elec.serve.app", "FeatureSchema": "elec.data.schema",
    "request_rows": "elec.serve.requests",
    "quality": "elec.bench", "paired": "elec.bench", "stats": "elec.bench",
    "evaluate": "elec.train.metrics", "sigmoid": "elec.train.trainer",
    "Reporter": "elec.ui", "RunDir": "elec.rundir", "environment": "elec.machine",
    "write_json": "elec.data.store",
    "methods_table": "elec.report.quality", "deltas_table": "elec.report.quality",
    "zoo_table": "elec.report.quality", "cell": "elec.report.quality",
    "quality_figure": "elec.plots", "auc_vs_latency": "elec.plots",
    "verdict_lines": "elec.report.verdict",
    "GainScorer": "elec.teacher", "item_adder": "elec.serve.items",
    "prepare_shards": "elec.data.shards", "Columns": "elec.data.batches",
    "PlainNetwork": "elec.distill.networks", "Trainer": "elec.train.trainer",
    "predict_logits": "elec.train.trainer",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    if name not in _API:
        raise AttributeError(f"module 'elec' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
