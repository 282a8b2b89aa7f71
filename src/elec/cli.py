"""The ``elec`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from elec.config import load_config
from elec.errors import ConfigError, DataError, ModelNotFound

app = typer.Typer(help="LLM-empowered CTR prediction with LLM-free serving (ELEC).",
                  no_args_is_help=True, add_completion=False)
data_app, bench_app, items_app = (typer.Typer(help=h, no_args_is_help=True) for h in (
    "Datasets: download, verify, cache.", "Benchmarks that write JSON, Markdown and plots.",
    "The items of a bundle of an item method (item_lm, item_gen, ...)."))
for sub, name in ((data_app, "data"), (bench_app, "bench"), (items_app, "items")):
    app.add_typer(sub, name=name)
console = Console()
RUNTIME = typer.Option(help="auto (onnx where the bundle has it), eager, torchscript or onnx")


def _fail(error: Exception) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(code=2)


@data_app.command("fetch")
def data_fetch(name: Annotated[str, typer.Argument(help="dataset name")] = "ml-100k",
               force: Annotated[bool, typer.Option(help="download again")] = False) -> None:
    """Download and verify a built-in dataset into $ELEC_HOME (default ~/.cache/elec)."""
    from elec.data.sources import fetch

    try:
        fetch(name, force, console.print)
    except DataError as error:
        _fail(error)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="directory to write (train/, valid/, test/)")],
    rows: Annotated[int, typer.Option(min=1000, help="rows in all splits")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    shard_rows: Annotated[int, typer.Option(min=1000, help="rows per Parquet file")] = 250_000,
    titles: Annotated[str, typer.Option(help="words (the words set the appeal) or meaning "
                                        "(attributes in varied wordings)")] = "words",
) -> None:
    """Write a Criteo-like synthetic table with a known achievable AUC, and its elec.yaml."""
    from elec.data.synth import SynthConfig, synthesize
    from elec.ui import Reporter

    try:
        summary = synthesize(SynthConfig(rows=rows, seed=seed, shard_rows=shard_rows,
                                         titles=titles), out, Reporter().every())
    except (FileExistsError, ConfigError) as error:
        _fail(error)
    best = ", ".join(f"{s} {v['achievable_auc']:.4f}" for s, v in summary["splits"].items())
    console.print(f"wrote {rows:,} rows to {out} (achievable AUC: {best}); run it with "
                  f"`elec run -c {out / 'elec.yaml'} --set methods=[backbone]`",
                  highlight=False, markup=False)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML run configuration")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override a config key, e.g. --set model.name=dcnv2")] = None,
    out: Annotated[Path, typer.Option(help="run directory (rerun to resume)")] = Path("runs/last"),
    nproc: Annotated[int, typer.Option(
        min=1, help="processes on this machine: >1 runs it under torchrun (DDP)")] = 1,
    plan_: Annotated[bool, typer.Option("--plan", help="print the plan, run nothing")] = False,
) -> None:
    """Run ELEC end to end: LM adapter, backbone, controls, gain and vanilla networks."""
    from elec.data.shards import sharded
    from elec.data.store import write_json
    from elec.pipeline import run as run_pipeline
    from elec.planner import describe, plan
    from elec.report.table import closing_lines, rich_table
    from elec.report.verdict import verdict
    from elec.train import distributed

    if nproc > 1 and not plan_:  # the same command, once per process, under torchrun
        overrides = [a for o in set_ or [] for a in ("--set", o)]
        raise typer.Exit(code=distributed.relaunch(
            nproc, ["run", "-c", str(config), "--out", str(out), *overrides]))
    try:
        cfg = load_config(config, set_ or [])
        if plan_:
            return console.print(describe(*plan(cfg, sharded(cfg), nproc)), soft_wrap=True)
        results = run_pipeline(cfg, out)
    except (ConfigError, DataError, ModelNotFound) as error:
        _fail(error)
    if not distributed.is_main():
        return
    console.print(rich_table(results, title=f"ELEC on {cfg.data.dataset} "
                                            f"({cfg.model.name}, test split)"))
    results["served"] = verdict(results, out)  # what to serve, its serving cost measured
    write_json(out / "results.json", results)
    console.print(closing_lines(results, out), highlight=False)


@bench_app.command("quality")
def bench_quality(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML run configuration")],
    seeds: Annotated[int, typer.Option(help="number of seeds (0, 1, ...)")] = 5,
    protocols: Annotated[str, typer.Option(
        help="comma-separated splits: random, temporal, cold-item")] = "random",
    methods: Annotated[str | None, typer.Option(
        help="comma-separated methods; default: every one the config has the inputs for "
             "(elec methods lists them)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key")] = None,
    jobs: Annotated[int, typer.Option(help="runs in parallel")] = 1,
    warm: Annotated[bool, typer.Option(
        help="with --jobs > 1, run the first run alone to fill the LM vector cache")] = True,
    out: Annotated[Path, typer.Option(help="benchmark directory")] = Path("runs/bench"),
) -> None:
    """Every method over several seeds and protocols: mean ± std and paired deltas."""
    from elec.bench import quality
    from elec.plots import quality_figure
    from elec.report.quality import markdown
    from elec.runnable import trainable

    try:
        cfg = load_config(config, set_ or [])
        chosen = methods.split(",") if methods else trainable(cfg)
        summary = quality(cfg, list(range(seeds)), protocols.split(","), out, chosen, jobs,
                          warm, log=console.print)
    except (ConfigError, DataError, ModelNotFound) as error:
        _fail(error)
    text = markdown(summary)
    (out / f"quality_{cfg.model.name}.md").write_text(text)
    quality_figure({cfg.model.name: summary}, out / f"quality_{cfg.model.name}.png")
    console.print(text)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="a finished `elec run` directory")],
    out: Annotated[Path, typer.Option(help="bundle directory to write")],
    method: Annotated[str | None, typer.Option(
        help="network to export (default: the one `elec run` names to serve)")] = None,
    format_: Annotated[list[str] | None, typer.Option(
        "--format", help="also write a graph: torchscript, onnx")] = None,
    force: Annotated[bool, typer.Option(
        help="replace a previous bundle at --out (never a directory of other files)")] = False,
) -> None:
    """Write a self-contained serving bundle (weights, encoders, manifest; no pickle)."""
    from elec import exporter
    from elec.serve.bundle import BundleError

    try:
        chosen = method or exporter.served_by_default(run_dir)
        path = exporter.export(run_dir, out, chosen, tuple(format_ or ()), force)
    except BundleError as error:
        _fail(error)
    console.print(f"bundle of {chosen} written to {path}")


@app.command()
def serve(
    bundle: Annotated[Path, typer.Argument(help="a bundle from `elec export`")],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    max_rows: Annotated[int, typer.Option(help="most rows in one request")] = 4096,
    runtime: Annotated[str, RUNTIME] = "auto",
    add_items: Annotated[bool, typer.Option(help="POST /items: new items through the LM")] = False,
    workers: Annotated[int, typer.Option(help="processes on the port")] = 1,
    batch_rows: Annotated[int, typer.Option(help="concurrent requests' rows scored together "
                                            "up to this many (0: each alone)")] = 256,
    access_log: Annotated[bool, typer.Option(help="a line per request on stderr")] = False,
) -> None:
    """Serve click probabilities over HTTP (POST /predict, GET /healthz, GET /metadata)."""
    from elec.serve.bundle import BundleError
    from elec.serve.items import item_adder
    from elec.serve.predictor import Predictor
    from elec.serve.server import ServeOptions
    from elec.serve.server import serve as run_server

    options = ServeOptions(str(bundle), runtime, max_rows, batch_rows, workers,
                           add_items=add_items, access_log=access_log)
    try:
        predictor = Predictor.from_bundle(bundle, runtime)
        adder = item_adder(bundle, predictor) if add_items else None  # the LM for this only
        run_server(options, host, port, lambda m: console.print(m, highlight=False), predictor,
                   adder)
    except (BundleError, ModelNotFound, ConfigError) as error:
        _fail(error)


@app.command()
def init(
    data: Annotated[str, typer.Argument(help="your table: Parquet / CSV file, directory or glob")],
    label: Annotated[str, typer.Option(help="the column that says whether a row was clicked")],
    out: Annotated[Path, typer.Option(help="config file to write")] = Path("elec.yaml"),
    force: Annotated[bool, typer.Option(help="replace an existing --out")] = False,
) -> None:
    """Propose a commented config for your table (each column's kind, the label rule, the
    user / item / time columns), to check and then run."""
    from elec.data.propose import propose
    from elec.data.store import write_atomic

    if out.exists() and not force:
        _fail(ConfigError(f"{out} exists; choose another --out, or add --force to replace it"))
    try:
        text = propose(data, label)
    except DataError as error:
        _fail(error)
    write_atomic(out, text.encode())
    typer.echo(text)
    console.print(f"config written to {out}; check it, then: elec run -c {out}")


@items_app.command("add")
def items_add(
    bundle: Annotated[Path, typer.Argument(help="a bundle of an item method (item_lm, "
                                           "item_gen, ...) from `elec export`")],
    data: Annotated[str, typer.Argument(help="items (rows with the item fields): file or glob")],
) -> None:
    """Add new items to a bundle's item table, their text through its LM once; no retraining."""
    from elec.data.files import read_table
    from elec.serve.bundle import BundleError
    from elec.serve.items import add_from_table
    from elec.ui import Reporter

    try:
        with Reporter() as reporter:
            added, known = add_from_table(bundle, read_table(data), reporter)
    except (BundleError, DataError, ModelNotFound) as error:
        _fail(error)
    console.print(f"{added:,} items added to {bundle}; {known:,} were in it already")


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="a bundle from `elec export`")],
    data: Annotated[str, typer.Argument(help="Parquet / CSV file, directory or glob to score")],
    out: Annotated[Path, typer.Option(help="Parquet file to write")] = Path("scores.parquet"),
    keep: Annotated[str | None, typer.Option(
        help="input columns to copy beside the probability, comma-separated (default: all; "
             "'' for none)")] = None,
    force: Annotated[bool, typer.Option(help="replace an existing --out file")] = False,
    runtime: Annotated[str, RUNTIME] = "auto",
) -> None:
    """Score a file with a bundle: every row's click probability, streamed to Parquet."""
    from elec.serve.bundle import BundleError
    from elec.serve.predictor import Predictor
    from elec.serve.score import score_file
    from elec.ui import Reporter

    columns = None if keep is None else [c.strip() for c in keep.split(",") if c.strip()]
    try:
        predictor = Predictor.from_bundle(bundle, runtime)
        with Reporter() as reporter:
            rows = score_file(predictor, data, out, columns, reporter.bar, force=force)
    except (BundleError, DataError) as error:
        _fail(error)
    console.print(f"{rows:,} rows scored: {out}")


@app.command()
def methods() -> None:
    """List the methods `elec run` can train: ELEC's networks, the controls, the ablations."""
    from rich.table import Table

    from elec.methods import DEFAULT, TABLE

    table = Table("name", "what it is", "learns from", "serves an LM?",
                  title="methods (`--set methods=[...]`; * = default)")
    for m in TABLE:
        teacher = (m.teacher or "") + (" blended with backbone" if m.blend else "")
        table.add_row(m.name + (" *" if m.name in DEFAULT else ""), m.what, teacher,
                      "yes" if m.serves_llm else "no")
    console.print(table)


@app.command()
def models() -> None:
    """List the backbones and their hyper-parameters."""
    from rich.table import Table

    from elec.models import BACKBONES

    table = Table("name", "paper", "parameters (defaults)", title="backbones")
    for name, cls in BACKBONES.items():
        module = __import__(cls.__module__, fromlist=["__doc__"])
        paper = (module.__doc__ or "").split(":", 1)[-1].strip().split("\n")[0]
        defaults = ", ".join(f"{k}={v.default}" for k, v in cls.Params.model_fields.items())
        table.add_row(name, paper, defaults)
    console.print(table)


if __name__ == "__main__":
    app()
