"""``elec export``: a run's network written as a serving bundle (``elec.serve.bundle``,
the format; this module reads the run directory and the method table, which serving
never imports)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from pydantic import ValidationError
from safetensors.torch import save_file

from elec import __version__
from elec.builders import method_model
from elec.config import ModelConfig, RunConfig
from elec.data.schema import FeatureSchema
from elec.data.store import atomic_dir, holds_only, sha256_file, write_json
from elec.methods import METHODS
from elec.models import CTRNetwork
from elec.models.item_rows import grown, read_generated_checkpoint
from elec.rundir import RunDir
from elec.serve.bundle import (
    FORMAT,
    GENERATOR_FILE,
    ITEMS_FILE,
    BundleError,
    is_bundle,
    write_network,
)
from elec.text.items import ITEMS, item_table_llm, item_table_words, read_item_checkpoint

PREFIX = "network."  # of the served backbone's weights in every exportable checkpoint


def _network(run_dir: Path, method: str
             ) -> tuple[CTRNetwork, FeatureSchema, ModelConfig, RunConfig, dict | None,
                        tuple[dict, dict] | None]:
    """The served network of ``method``, its encoders, model and run configuration; for a
    method that looks up item vectors its item table (``item_checkpoint``'s tensors, the
    vectors projected, with the projection to add new items); for one whose item rows are
    generated, the manifest's account of them and the generator."""
    servable = [name for name, m in METHODS.items() if m.servable]
    if method not in servable:
        raise BundleError(f"method {method!r} cannot be served without a language model; "
                          f"export one of: {', '.join(servable)}")
    for path in (run_dir / "config.yaml", run_dir / "schema.json"):
        if not path.is_file():
            raise BundleError(f"{path} is missing: is {run_dir} an `elec run` directory?")
    try:
        cfg = RunConfig.model_validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
    except ValidationError:
        raise BundleError(f"{run_dir}/config.yaml is not a configuration of this elec "
                          f"({__version__}); export it with the elec that ran it") from None
    reasons: list[str] = []
    run = RunDir(run_dir, reasons.append)
    if run.finished(method) is None:
        why = f" ({reasons[0]})" if reasons else ""
        quiet = RunDir(run_dir, lambda _: None)
        done = [m for m in servable if m != method and quiet.finished(m) is not None]
        other = (f", or export one it finished with --method ({', '.join(done)})" if done
                 else "")
        raise BundleError(f"{run_dir} has no finished {method!r} method{why}; run it with "
                          f"`elec run ... --set methods=[{method}]` first{other}")
    model = method_model(cfg, METHODS[method])
    schema = FeatureSchema.load(run_dir / "schema.json")
    state = run.load(method)
    folds = METHODS[method].folds_items
    state = METHODS[method].kind.served_state(state)  # field_lm: the LM's part folded in
    items, saved = None, None
    if METHODS[method].lookup:
        path = run.checkpoint(ITEMS.format(method))
        saved = run.load(ITEMS.format(method)) if path.is_file() else {}
        if ("rows" if folds else "vectors") not in saved:
            raise BundleError(f"{run_dir} holds a {method} trained by an elec that did not "
                              f"record its item {'rows' if folds else 'table'}; "
                              f"train it again (delete {run.stage_path(method)} and rerun, or "
                              f"run into a new --out)")
    if saved is not None and not folds:
        items = saved
        projection = {k: state[f"llm_projection.{k}"] for k in ("weight", "bias")}
        items["vectors"] = F.linear(items["vectors"].float(), projection["weight"],
                                    projection["bias"])  # the trained nn.Linear's own op
        items.update({f"projection.{k}": v for k, v in projection.items()})
    weights = {k.removeprefix(PREFIX): v for k, v in state.items() if k.startswith(PREFIX)}
    network = CTRNetwork(schema, model, extra_fields=int(items is not None))
    network.load_state_dict(weights)
    generated = None
    if folds:  # the items' rows into the table, new ids into the vocabulary
        rows, about, generator = read_generated_checkpoint(saved)
        network, schema = grown(network, schema, model, cfg.data.item_column, rows,
                                about["keys"])
        specs = {f.name: f for f in cfg.fields}
        generated = ({"field": cfg.data.item_column, "new_items": len(about["keys"]),
                      "fields": [specs[f].model_dump(mode="json") for f in about["fields"]],
                      "text": cfg.text.model_dump(mode="json"), "llm": about["llm"]},
                     generator)
    return network.eval(), schema, model, cfg, items, generated


def _check_out(out: Path, force: bool) -> None:
    """Refuse, before any work, an ``--out`` whose contents elec would have to delete."""
    if not out.exists() or holds_only(out, ()):
        return
    if not is_bundle(out):
        raise BundleError(f"{out} exists and is not an elec bundle; elec will not replace "
                          f"it. Choose a new --out directory")
    if not force:
        raise BundleError(f"{out} holds a bundle already; pass --force to replace it, or "
                          f"choose a new --out directory")


# The servable networks in the order the benchmarks rank them where the run trains them
# (README, Results): on MovieLens-100K and the synthetic tables, over seeds, each above the
# next on rare items' rows and no worse on all rows.
SERVED_FIRST = ("tail_gen", "vanilla_gen", "vanilla_tail", "vanilla")
NEAR = 0.002  # validation AUCs closer than this are a tie for one run (the seed moves more)


def served_by_default(run_dir: Path) -> str:
    """The method ``elec export`` takes when none is named: of the servable networks the
    run finished, the first of ``SERVED_FIRST`` whose validation AUC is within ``NEAR`` of
    the best, else the best (the first in the method table on a tie; vanilla where the
    run finished none). One run's validation AUC cannot tell networks that close apart,
    and the benchmarks' ranking over seeds can."""
    run = RunDir(run_dir, lambda _: None)
    valid = {}
    for name, method in METHODS.items():
        record = run.finished(name) if method.servable else None
        if record is not None and record.get("valid"):
            valid[name] = record["valid"]["auc"]
    return chosen(valid) if valid else "vanilla"


def chosen(valid: dict[str, float]) -> str:
    """Of networks' validation AUCs, the first of ``SERVED_FIRST`` within ``NEAR`` of the
    best, else the best (the first given on a tie)."""
    best = max(valid, key=valid.__getitem__)
    return next((m for m in SERVED_FIRST if m in valid and valid[m] >= valid[best] - NEAR),
                best)


def export(run_dir: str | Path, out: str | Path, method: str | None = None,
           formats: tuple[str, ...] = (), force: bool = False) -> Path:
    """Write the bundle of ``method`` (default: ``served_by_default``) to ``out``. An
    existing ``out`` is replaced only if it is an empty directory or, with ``force``, a
    previous bundle: never a directory of other files (the run directory, ``.``, a user's
    folder)."""
    run_dir, out = Path(run_dir), Path(out)
    method = method or served_by_default(run_dir)
    unknown = set(formats) - {"torchscript", "onnx"}
    if unknown:
        raise BundleError(f"unknown export format(s) {sorted(unknown)}; use torchscript, onnx")
    _check_out(out, force)
    network, schema, model, cfg, items, generated = _network(run_dir, method)
    with atomic_dir(out, is_bundle) as staging:
        lookup = None
        if items is not None:
            save_file({k: v.contiguous() for k, v in items.items()},
                      str(staging / ITEMS_FILE))
            _, fields, _ = read_item_checkpoint(items)
            specs = {f.name: f for f in cfg.fields}
            words = item_table_words(items) is not None  # the no-LM control's table
            lookup = {"items": len(items["vectors"]),
                      "fields": [specs[f].model_dump(mode="json") for f in fields],
                      "text": cfg.text.model_dump(mode="json"),
                      "encoder": "words" if words else "llm",
                      # the LM as it encoded the table (earlier runs: as configured)
                      "llm": None if words else (item_table_llm(items)
                                                 or cfg.llm.model_dump(mode="json"))}
        if generated is not None:
            save_file({k: v.contiguous() for k, v in generated[1].items()},
                      str(staging / GENERATOR_FILE))
        write_network(staging, network, schema,
                      0 if items is None else model.embedding_dim, formats)
        results = run_dir / "results.json"
        metrics = (json.loads(results.read_text())["methods"].get(method, {}).get("test")
                   if results.is_file() else None)
        write_json(staging / "manifest.json", {
            "format": FORMAT, "method": method, "model": model.model_dump(mode="json"),
            "fields": schema.names, "test_metrics": metrics, "item_lookup": lookup,
            "item_rows": None if generated is None else generated[0],
            "versions": {"elec": __version__, "torch": torch.__version__},
            "sha256": {p.name: sha256_file(p) for p in sorted(staging.iterdir())},
        })
    return out
