"""Every bad input we know of, tried as a user would, and what elec answers.

    python benchmarks/bad_inputs.py

Runs the `elec` command (and POST /predict through a test client) on broken configs,
files, run directories and bundles made in a temporary directory, and records for
each the exit code (or HTTP status) and the first line of the message. A traceback
counts as a failure of elec, and so does a success. Writes
benchmarks/results/bad_inputs.json. Needs no language model: the runs train the
backbone alone.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from elec import environment, write_json

RESULTS = Path(__file__).parent / "results"
FIELDS = ("fields: [{name: user, kind: categorical}, {name: item, kind: categorical},"
          " {name: price, kind: numeric, n_buckets: 4}, {name: tags, kind: multi}]")


# the CSV cases' columns: tags as text needs its separator
CSV_FIELDS = ("fields=[{name: user, kind: categorical}, {name: item, kind: categorical}, "
              "{name: price, kind: numeric, n_buckets: 4}, "
              "{name: tags, kind: multi, split: '|'}]",)


def parquet_bytes(data: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(data, sink)
    return sink.getvalue().to_pybytes()


def table(rows: int = 400, seed: int = 0, **columns) -> pa.Table:
    rng = np.random.default_rng(seed)
    base = {"user": [f"u{k % 30}" for k in range(rows)],
            "item": [f"i{k % 17}" for k in range(rows)],
            "price": rng.uniform(1, 100, rows).round(2),
            "tags": [["red", "wool"][: 1 + k % 2] for k in range(rows)],
            "click": (rng.random(rows) < 0.4).astype(np.int64)}
    return pa.table({**base, **columns})


def elec(*args: str, cwd: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "elec.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "250"})
    text = (done.stderr + done.stdout).strip()
    if "Traceback (most recent call last)" in text:
        return done.returncode, "TRACEBACK: " + text.splitlines()[-1]
    message = text[text.index("error:"):] if "error:" in text else text
    return done.returncode, " ".join(message.split())[:300]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="elec-bad-"))
    good = work / "good.parquet"
    pq.write_table(table(), good)
    config = work / "config.yaml"
    config.write_text(f"data: {{dataset: {good}, label: click, label_threshold: null, "
                      f"user_column: user, item_column: item}}\n{FIELDS}\n"
                      f"methods: [backbone]\ntrain: {{max_epochs: 2}}\n")
    cases: list[tuple[str, list[str]]] = []
    works: set[str] = set()  # cases that elec now reads: they should succeed
    trains: set[str] = set()  # of them, the data elec now reads and trains on

    def run(what: str, *sets: str, out: str = "runs/x", cfg: Path = config) -> None:
        cases.append((what, ["run", "-c", str(cfg), "--out", out,
                             *[a for s in sets for a in ("--set", s)]]))

    def data(what: str, name: str, content: pa.Table | str | bytes, *sets: str,
             answered: bool = False) -> None:
        path = work / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            pq.write_table(content, path)
        run(what, f"data.dataset={path}", *sets, out=f"runs/{name}")
        if answered:
            works.add(what)
            trains.add(what)

    # configuration
    run("unknown key", "train.learning_rate=0.1")
    run("batch size 0", "train.batch_size=0")
    run("negative lr", "train.lr=-1")
    run("adapter.folds 1", "adapter.folds=1")
    run("max_epochs 0", "train.max_epochs=0")
    run("embedding_dim 0", "model.embedding_dim=0")
    run("llm.max_length 0", "llm.max_length=0")
    run("adapter hidden size 0", "adapter.hidden=[0]")
    run("backbone hidden size 0", "model.params={hidden: [0]}")
    run("negative max_rows", "data.max_rows=-5")
    run("unknown method", "methods=[magic]")
    run("unknown backbone", "model.name=resnet")
    run("unknown split", "data.split=sideways")
    run("fractions not summing to 1", "data.fractions=[0.5,0.5,0.5]")
    run("--set without =", "seed")
    run("config file missing", cfg=work / "missing.yaml")
    (work / "list.yaml").write_text("- a\n- b\n")
    run("config not a mapping", cfg=work / "list.yaml")
    # data
    run("dataset path missing", f"data.dataset={work / 'nope.parquet'}")
    data("dataset of an unknown type", "table.txt", "a,b\n1,2\n")
    run("label column missing", "data.label=clicked")
    run("field column missing", "fields=[{name: colour, kind: categorical}]")
    data("NaN labels", "nan.parquet", table().set_column(
        4, "click", pa.array([np.nan if k % 9 == 0 else 1.0 for k in range(400)])))
    data("null labels", "null.parquet", table().set_column(
        4, "click", pa.array([None if k % 9 == 0 else 1 for k in range(400)])))
    data("string labels", "yes.parquet", table().set_column(
        4, "click", pa.array(["yes" if k % 2 else "no" for k in range(400)])))
    data("string labels with a threshold", "yes2.parquet", table().set_column(
        4, "click", pa.array(["yes" if k % 2 else "no" for k in range(400)])),
        "data.label_threshold=4")
    data("one label class only", "ones.parquet", table().set_column(
        4, "click", pa.array([1] * 400)))
    data("header-only CSV", "empty.csv", "user,item,price,tags,click\n")
    data("a file of 4 rows", "tiny.csv", "user,item,price,click\n"
         + "".join(f"u{k},i{k},{k},{k % 2}\n" for k in range(4)),
         "fields=[{name: user, kind: categorical}]")
    data("a word in a numeric column", "word.parquet", table().set_column(
        2, "price", pa.array(["12.5" if k != 7 else "cheap" for k in range(400)])))
    data("a multi-valued field given as one string", "string-tags.parquet",
         table().set_column(3, "tags", pa.array(["red|wool"] * 400)))
    # files as users have them (read by the CSV / Parquet reader, or by a loader)
    header = "user,item,price,tags,click\n"
    rows = "".join(f"u{k},i{k % 7},{k}.5,red,{k % 2}\n" for k in range(60))
    data("a CSV row with a column too many", "extra.csv", header + rows[:200] +
         "u1,i2,3.5,red,1,surplus\n" + rows[200:], *CSV_FIELDS)
    data("a CSV row with a column too few", "short.csv", header + "u1,i2,3.5,red\n" + rows,
         *CSV_FIELDS)
    data("a quote that is never closed", "quote.csv", header + 'u1,"i2,3.5,red,1\n' + rows,
         *CSV_FIELDS)
    data("a Latin-1 CSV (not UTF-8)", "latin1.csv", (header + "u1,caf\xe9,3.5,red,1\n" +
         rows).encode("latin-1"), *CSV_FIELDS)
    data("a file named .csv holding binary data", "binary.csv", bytes(range(256)) * 40,
         *CSV_FIELDS)
    data("an empty file", "zero.csv", b"", *CSV_FIELDS)
    data("a truncated Parquet file", "cut.parquet", parquet_bytes(table())[:3000])
    data("a text file named .parquet", "fake.parquet", header + rows)
    varied = "".join(f"u{k % 97},i{k % 89},{k * 7919 % 1000}.25,red,{k % 2}\n"
                     for k in range(20_000))
    packed = gzip.compress((header + varied).encode())
    data("a truncated .csv.gz", "cut.csv.gz", packed[:len(packed) // 2], *CSV_FIELDS)
    (work / "empty-dir").mkdir()
    run("a folder without data files", f"data.dataset={work / 'empty-dir'}")
    run("a glob that matches nothing", f"data.dataset={work / 'nothing-*.csv'}")
    data("a semicolon CSV with a BOM and quoted newlines (read)", "excel.csv",
         "\ufeff" + header.replace(",", ";") + 'u1;"i\n2";3.5;red;1\n' +
         rows.replace(",", ";"), *CSV_FIELDS, answered=True)
    data("a decimal comma", "comma.csv", header.replace(",", ";") + "u1;i2;3,5;red;1\n" +
         rows.replace(",", ";"), *CSV_FIELDS)
    (work / "ml-1m").mkdir()
    (work / "ml-1m" / "ratings.dat").write_text("1::2::5::978300760\n")
    run("MovieLens-1M folder without users.dat and movies.dat", "data.loader=ml-1m",
        f"data.dataset={work / 'ml-1m'}")
    (work / "Books.jsonl").write_text('{"user_id": "u", "parent_asin": "B1", "rating": 5.0, '
                                      '"timestamp": 1}\n')
    run("Amazon reviews without their meta_ file", "data.loader=amazon-reviews-2023",
        f"data.dataset={work / 'Books.jsonl'}")
    cases.append(("elec init on a label that is not a column",
                  ["init", str(good), "--label", "clicked", "--out", "init.yaml"]))
    cases.append(("elec init on a file it cannot read",
                  ["init", str(work / "binary.csv"), "--label", "click", "--out", "init.yaml"]))
    # elec init's rules: an unnamed index and a column that gives the label away are left
    # out, with the reason in the config (answered: the config is written)
    rng = np.random.default_rng(3)
    stars = rng.integers(1, 6, 600)
    (work / "reviews.csv").write_text(",shopper,product_id,title,stars,recommended\n" + "".join(
        f"{r},S{rng.integers(0, 40)},{p},Title of product {p},{stars[r]},{int(stars[r] >= 4)}\n"
        for r, p in enumerate(rng.integers(0, 30, 600))))
    cases.append(("elec init on a table with an unnamed index and a leaking column",
                  ["init", str(work / "reviews.csv"), "--label", "recommended", "--out",
                   "reviews.yaml"]))
    works.add(cases[-1][0])
    # run directories
    (work / "a-file").write_text("mine")
    run("--out is a regular file", out=str(work / "a-file"))
    run("--out cannot be created", out="/proc/elec-run")
    cases.append(("a finished run", ["run", "-c", str(config), "--out", "runs/done"]))
    run("rerun with another config after a finished stage", "seed=1", out="runs/done")
    # bundles and serving (after the finished run)
    pq.write_table(table().drop_columns(["price"]), work / "no-price.parquet")
    (work / "mine").mkdir()
    (work / "mine" / "notes.txt").write_text("keep")
    cases += [
        ("export onto a directory of other files", ["export", "runs/done", "--out", "mine",
                                                   "--method", "backbone"]),
        ("export a method the run did not train", ["export", "runs/done", "--out", "b1",
                                                   "--method", "vanilla"]),
        ("export, no --method, a run without vanilla (answered: its best servable network)",
         ["export", "runs/done", "--out", "b2"]),
        ("export a method that needs the LM", ["export", "runs/done", "--out", "b1",
                                               "--method", "gain"]),
        ("export from a directory that is no run", ["export", "mine", "--out", "b1",
                                                    "--method", "backbone"]),
        ("a good export", ["export", "runs/done", "--out", "bundle", "--method", "backbone"]),
        ("export onto a bundle without --force", ["export", "runs/done", "--out", "bundle",
                                                  "--method", "backbone"]),
        ("predict a file without a column the model reads",
         ["predict", "bundle", str(work / "no-price.parquet"), "--out", "scores.parquet"]),
        ("predict onto an existing file without --force",
         ["predict", "bundle", str(good), "--out", str(good)]),
        ("serve --runtime torchscript without the graph", ["serve", "bundle", "--runtime",
                                                           "torchscript"]),
        ("serve an unknown --runtime", ["serve", "bundle", "--runtime", "fast"]),
    ]
    works.add("export, no --method, a run without vanilla (answered: its best servable network)")
    results = []
    for what, args in cases:
        code, message = elec(*args, cwd=work)
        if what in ("a finished run", "a good export"):
            if code != 0:
                raise SystemExit(f"{what} failed: {message}")
            continue
        if what.startswith("elec init on a table") and code == 0:  # what init left out
            message = " ".join(line.strip() for line in (work / "reviews.yaml").read_text()
                               .splitlines() if "left out" in line)
            if "no name" not in message or "leak" not in message:
                works.discard(what)  # a rule missed: counted as a failure below
        if code == 0 and what in trains:
            message = "read and trained"
        results.append({"case": what, "command": "elec " + " ".join(args), "exit_code": code,
                        "message": message, "answered": what in works})
        print(f"{code}  {what}: {message}", flush=True)
    # damage after the fact
    checkpoint = work / "runs" / "done" / "checkpoints" / "backbone.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-64])
    code, _ = elec("run", "-c", str(config), "--out", "runs/done", cwd=work)
    log = (work / "runs" / "done" / "log.txt").read_text()
    named = next((line for line in log.splitlines() if "checksum" in line), "")
    results.append({"case": "a truncated run checkpoint (named, then trained again)",
                    "exit_code": code, "command": "elec run (again, on the damaged run)",
                    "message": named.split(" ", 2)[-1], "answered": True})
    manifest = work / "bundle" / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    results.append({"case": "serve a bundle with a corrupt manifest",
                    "command": "elec serve bundle",
                    **dict(zip(("exit_code", "message"), elec("serve", "bundle", cwd=work),
                               strict=True))})
    results += http_cases(work)
    failures = [r for r in results if r["message"].startswith("TRACEBACK")
                or (r["exit_code"] in (0, 200) and not r.get("answered"))
                or (r["case"] in works and r["exit_code"] != 0)
                or str(r["exit_code"]).startswith("5")]
    write_json(RESULTS / "bad_inputs.json", {"cases": results, "failures": failures,
                                             "environment": environment()})
    print(f"{len(results)} bad inputs, {len(failures)} without a clear refusal")


def http_cases(work: Path) -> list[dict]:
    """POST /predict with malformed requests, through a test client."""
    from fastapi.testclient import TestClient

    from elec import Predictor, create_app

    subprocess.run([sys.executable, "-m", "elec.cli", "export", "runs/done", "--out",
                    "served", "--method", "backbone"], cwd=work, check=True,
                   capture_output=True)
    client = TestClient(create_app(Predictor.from_bundle(work / "served"), max_rows=100,
                                   max_body_bytes=200_000))
    row = {"user": "u1", "item": "i2", "price": 12.5, "tags": ["red"]}
    requests = [
        ("HTTP: a word in a numeric field", {"rows": [{**row, "price": "cheap"}]}),
        ("HTTP: an integer of 400 digits", {"rows": [{**row, "price": 10**400}]}),
        ("HTTP: a string where a list belongs", {"rows": [{**row, "tags": "red|wool"}]}),
        ("HTTP: rows not a list", {"rows": "x" * 50_000}),
        ("HTTP: a row not an object", {"rows": [1, 2]}),
        ("HTTP: more rows than allowed", {"rows": [row] * 101}),
        ("HTTP: a body over the limit", {"rows": [{**row, "user": "u" * 300_000}]}),
        ("HTTP: a misspelt key", {"rowz": [row]}),
        ("HTTP: a row with none of the model's fields", {"rows": [{"colour": "red"}]}),
        ("HTTP: columns of different lengths", {"columns": {"user": ["u1", "u2"],
                                                            "item": ["i2"]}}),
        ("HTTP: a column not a list", {"columns": {"user": "u1", "item": ["i2"]}}),
        ("HTTP: a candidate repeating a context field",
         {"context": {"user": "u1", "item": "i2"}, "candidates": [{"item": "i3"}]}),
        ("HTTP: candidates not a list", {"context": {"user": "u1"}, "candidates": {"item": 1}}),
        ("HTTP: more candidates than allowed",
         {"context": {"user": "u1"}, "candidates": [{"item": "i2"}] * 101}),
        ("HTTP: two shapes in one body", {"rows": [row], "columns": {"user": ["u1"]}}),
    ]
    out = []
    for what, body in requests:
        response = client.post("/predict", json=body)
        out.append({"case": what, "command": "POST /predict", "exit_code": response.status_code,
                    "message": response.text[:300]})
    response = client.post("/predict", content=b"{not json",
                           headers={"content-type": "application/json"})
    out.append({"case": "HTTP: not JSON", "command": "POST /predict",
                "exit_code": response.status_code, "message": response.text[:300]})
    response = client.post("/predict", json={"rows": [{**row, "colour": "red"}]})
    out.append({"case": "HTTP: a field the model does not read (answered, and listed)",
                "command": "POST /predict", "exit_code": response.status_code,
                "message": json.dumps(response.json()), "answered": True})
    return out


if __name__ == "__main__":
    main()
