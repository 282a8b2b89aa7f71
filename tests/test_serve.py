"""Export, predictor parity with training, and the HTTP service on a loopback port."""

import json
import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from elec.config import RunConfig
from elec.data.sources import load_table
from elec.data.splits import split_indices
from elec.data.values import RowError
from elec.distill.networks import VanillaNetwork
from elec.exporter import export
from elec.pipeline import Run, run
from elec.serve import Predictor
from elec.serve.bundle import BundleError, read_manifest
from elec.train.trainer import predict_logits, sigmoid
from elec.ui import Reporter


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_lm, table_path):
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELEC_HOME", str(home))
        cfg = RunConfig.model_validate({
            **_tiny(table_path, tiny_lm), "methods": ["backbone", "vanilla"]})
        out = tmp_path_factory.mktemp("run")
        run(cfg, out, Reporter(quiet=True))
        yield cfg, out


def _tiny(table_path, tiny_lm):
    from conftest import FIELDS
    return {"seed": 3, "data": {"dataset": str(table_path), "label": "click",
                                "label_threshold": None},
            "fields": [f.model_dump() for f in FIELDS],
            "llm": {"name": str(tiny_lm), "precision": "fp32"},
            "adapter": {"folds": 2, "max_epochs": 2, "hidden": [16], "dim": 8},
            "model": {"name": "dcnv2", "embedding_dim": 8, "params": {"hidden": [16]}},
            "train": {"max_epochs": 2, "batch_size": 256, "lr": 0.01}}


@pytest.fixture(scope="module")
def bundle(finished_run, tmp_path_factory):
    _, out = finished_run
    return export(out, tmp_path_factory.mktemp("b") / "bundle", method="vanilla",
                  formats=("torchscript", "onnx"))


@pytest.fixture(scope="module")
def test_rows(finished_run):
    cfg, _ = finished_run
    table = load_table(cfg.data)
    return table.take(split_indices(table, cfg.data)["test"]).to_pylist()


def training_time_probabilities(cfg, out):
    """The vanilla network as the pipeline evaluated it."""
    pipeline = Run(cfg, out, Reporter(quiet=True))
    columns = pipeline.data.columns["test"]
    weights = load_file(str(out / "checkpoints" / "vanilla.safetensors"))
    student = VanillaNetwork(pipeline.data.schema, cfg.model,
                             weights["distillation.align.weight"].shape[0], cfg.distill)
    student.load_state_dict(weights)
    return sigmoid(predict_logits(student.logit, student.eval(), columns))


def test_bundle_torchscript_and_onnx_match_the_training_time_network(finished_run, bundle,
                                                                     test_rows):
    import onnxruntime

    cfg, out = finished_run
    expected = training_time_probabilities(cfg, out)
    eager = Predictor.from_bundle(bundle).predict_proba(test_rows)
    np.testing.assert_allclose(eager, expected, atol=1e-5)
    scripted = Predictor.from_bundle(bundle, runtime="torchscript").predict_proba(test_rows)
    np.testing.assert_allclose(scripted, expected, atol=1e-5)
    predictor = Predictor.from_bundle(bundle, runtime="eager")
    features = predictor.encoder.encode_rows(test_rows)
    session = onnxruntime.InferenceSession(str(bundle / "model.onnx"))
    (onnx_out,) = session.run(None, {"single": features.single,
                                     "multi": features.multi_matrix()})
    np.testing.assert_allclose(onnx_out, expected, atol=1e-5)
    # ONNX Runtime serves: the default where the bundle has the graph
    served = Predictor.from_bundle(bundle, runtime="auto")
    assert served.runtime == "onnx" and predictor.runtime == "eager"
    np.testing.assert_allclose(served.predict_proba(test_rows), expected, atol=1e-5)
    np.testing.assert_allclose(served.predict_proba(test_rows[:1]), expected[:1], atol=1e-5)


def test_vanilla_bundle_has_the_backbones_parameter_count(bundle, finished_run):
    weights = load_file(str(bundle / "model.safetensors"))
    _, out = finished_run
    backbone = {k: v for k, v in load_file(str(out / "checkpoints" / "backbone.safetensors")
                                           ).items()}
    assert sum(v.numel() for v in weights.values()) == sum(v.numel() for v in backbone.values())


def test_serving_scores_rows_without_importing_any_training_code(bundle, test_rows, tmp_path):
    """A bundle is loaded and scored, in a fresh process, with the training modules
    blocked from import: serving (the predictor, the HTTP app, file scoring) needs the
    model code, the encoder and the bundle format."""
    import subprocess
    import sys

    script = f"""
import importlib.abc, json, sys
BLOCKED = ("elec.pipeline", "elec.methods", "elec.rundir", "elec.distill", "elec.train",
           "elec.llm", "elec.exporter", "elec.planner", "elec.runnable", "elec.bench")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith(BLOCKED):
            raise ImportError("serving imported " + name)
sys.meta_path.insert(0, Block())
import elec.serve.app, elec.serve.score, elec.serve.server
from elec.serve.predictor import Predictor
for runtime in ("eager", "torchscript"):
    p = Predictor.from_bundle({str(bundle)!r}, runtime)
    print(json.dumps([float(x) for x in p.predict_proba(json.load(sys.stdin)[:5])]))
    sys.stdin.seek(0)
"""
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(test_rows[:5]))
    with open(rows) as stdin:
        done = subprocess.run([sys.executable, "-c", script], stdin=stdin, capture_output=True,
                              text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    scored = [json.loads(line) for line in done.stdout.splitlines()]
    expected = Predictor.from_bundle(bundle).predict_proba(test_rows[:5])
    for scores in scored:
        np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert len(scored) == 2


def test_unseen_and_missing_values_and_wrong_types(bundle, test_rows):
    predictor = Predictor.from_bundle(bundle)
    row = dict(test_rows[0])
    unseen = {**row, "user_id": "never-seen", "genres": ["Western"]}
    missing = {k: v for k, v in row.items() if k not in ("age", "genres")}
    probabilities = predictor.predict_proba([row, unseen, missing])
    assert probabilities.shape == (3,) and np.all((probabilities > 0) & (probabilities < 1))
    with pytest.raises(RowError, match=r"row 1, field 'age': expected a number, got 'old'"):
        predictor.predict_proba([row, {**row, "age": "old"}])
    with pytest.raises(RowError, match=r"row 0, field 'genres': expected a list"):
        predictor.predict_proba([{**row, "genres": "Drama"}])


def test_gain_network_cannot_be_exported_and_corrupt_bundles_are_refused(finished_run, bundle,
                                                                         tmp_path):
    _, out = finished_run
    with pytest.raises(BundleError, match="cannot be served without a language model"):
        export(out, tmp_path / "g", method="gain")
    with pytest.raises(BundleError, match=r"no finished 'item_lm' .* export one it finished "
                                          r"with --method \(backbone, vanilla\)"):
        export(out, tmp_path / "i", method="item_lm")
    copy = tmp_path / "copy"
    export(out, copy)
    (copy / "schema.json").write_text((copy / "schema.json").read_text().replace("u1", "u9"))
    with pytest.raises(BundleError, match="does not match its checksum"):
        Predictor.from_bundle(copy)
    from typer.testing import CliRunner

    from elec.cli import app

    # a bundle without an item table takes no new items: said before any LM or server starts
    refused = CliRunner().invoke(app, ["serve", str(bundle), "--add-items"])
    assert refused.exit_code == 2 and "looks up no item vectors" in " ".join(
        refused.output.split())


def test_export_never_deletes_what_elec_did_not_write(finished_run, tmp_path):
    _, out = finished_run
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(BundleError, match="is not an elec bundle"):
        export(out, out)  # the run directory itself
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    users = tmp_path / "mine"
    users.mkdir()
    (users / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="is not an elec bundle"):
        export(out, users, force=True)
    assert (users / "notes.txt").read_text() == "keep me"
    (tmp_path / "a-file").write_text("keep me too")
    with pytest.raises(BundleError, match="is not an elec bundle"):
        export(out, tmp_path / "a-file", force=True)
    assert (tmp_path / "a-file").read_text() == "keep me too"

    (tmp_path / "empty").mkdir()
    bundle = export(out, tmp_path / "empty")  # an empty directory is fine
    with pytest.raises(BundleError, match="pass --force"):
        export(out, bundle)
    export(out, bundle, method="backbone", force=True)  # a previous bundle may go
    assert read_manifest(bundle)["method"] == "backbone"
    (bundle / "extra.txt").write_text("added by hand")  # no longer only a bundle
    with pytest.raises(BundleError, match="is not an elec bundle"):
        export(out, bundle, force=True)
    assert (bundle / "extra.txt").is_file()


def _serving(app):
    """A uvicorn server of ``app`` on a free loopback port, in a thread: (url, stop)."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                             log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    for _ in range(100):
        if instance.started:
            break
        time.sleep(0.05)

    def stop():
        instance.should_exit = True
        thread.join(timeout=5)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="module")
def server(bundle):
    from elec.serve.app import create_app

    url, stop = _serving(create_app(Predictor.from_bundle(bundle), max_rows=50,
                                    max_body_bytes=100_000))
    yield url
    stop()


def test_a_micro_batched_server_scores_a_large_request_in_slices_alike(bundle, test_rows):
    import httpx

    from elec.serve.app import create_app

    url, stop = _serving(create_app(Predictor.from_bundle(bundle), batch_rows=4))
    try:
        rows = test_rows[:10]
        answer = httpx.post(f"{url}/predict", json={"rows": rows})
        np.testing.assert_allclose(answer.json()["probabilities"],
                                   Predictor.from_bundle(bundle).predict_proba(rows), atol=1e-6)
        bad = httpx.post(f"{url}/predict", json={"rows": [*rows[:7], {**rows[7], "age": "x"}]})
        assert bad.status_code == 422 and "row 7, field 'age'" in bad.text  # in the request
    finally:
        stop()


def test_http_predict_matches_the_predictor(server, bundle, test_rows):
    import httpx

    rows = test_rows[:20]
    response = httpx.post(f"{server}/predict", json={"rows": rows})
    assert response.status_code == 200
    expected = Predictor.from_bundle(bundle).predict_proba(rows)
    np.testing.assert_allclose(response.json()["probabilities"], expected, atol=1e-6)
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    metadata = httpx.get(f"{server}/metadata").json()
    assert metadata["method"] == "vanilla" and metadata["model"]["name"] == "dcnv2"
    assert {"name": "genres", "kind": "multi"} in metadata["fields"]


def test_http_bad_requests_get_clear_4xx(server, test_rows):
    import httpx

    row = test_rows[0]
    cases = [
        (httpx.post(f"{server}/predict", json={"rows": [row, {**row, "age": "x"}]}), 422,
         "row 1, field 'age'"),
        (httpx.post(f"{server}/predict", json={"rows": [row] * 51}), 413, "maximum is 50"),
        (httpx.post(f"{server}/predict", content=b"{not json",
                    headers={"content-type": "application/json"}), 422, ""),
        (httpx.post(f"{server}/predict", json={"rowz": []}), 422, ""),
        (httpx.post(f"{server}/predict", json={"rows": [1, 2]}), 422, ""),
        (httpx.post(f"{server}/predict", content=b"x" * 200_000,
                    headers={"content-type": "application/json"}), 413, "over 100,000 bytes"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert message in response.text
    assert httpx.post(f"{server}/predict", json={"rows": []}).json() == {"probabilities": []}


def test_predictions_do_not_depend_on_batch_size(bundle, test_rows):
    predictor = Predictor.from_bundle(bundle, runtime="torchscript")
    together = predictor.predict_proba(test_rows[:64])
    one_by_one = np.concatenate([predictor.predict_proba([r]) for r in test_rows[:64]])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)


def test_a_runtime_the_bundle_lacks_and_a_corrupt_manifest_are_refused(finished_run, tmp_path):
    _, out = finished_run
    plain = export(out, tmp_path / "plain")  # no TorchScript or ONNX graph
    for runtime in ("torchscript", "onnx"):
        with pytest.raises(BundleError, match=f"has no model.{runtime} graph"):
            Predictor.from_bundle(plain, runtime=runtime)
    assert Predictor.from_bundle(plain, runtime="auto").runtime == "eager"
    with pytest.raises(BundleError, match=r"runtime 'fast' is not one of: auto, eager, torch"):
        Predictor.from_bundle(plain, runtime="fast")
    (plain / "manifest.json").write_text('{"format": "elec.bundle/1"')
    with pytest.raises(BundleError, match="is not a readable manifest"):
        Predictor.from_bundle(plain)
    (plain / "manifest.json").unlink()
    with pytest.raises(BundleError, match="is not an elec bundle"):
        Predictor.from_bundle(plain)


def test_http_limits_hold_for_chunked_bodies_and_errors_do_not_echo_the_input(server,
                                                                             test_rows):
    import httpx

    row = test_rows[0]

    def chunks():
        for _ in range(20):  # 20 x 10 kB with no content-length: chunked transfer
            yield b" " * 10_000

    chunked = httpx.post(f"{server}/predict", content=chunks(),
                         headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and "over 100,000 bytes" in chunked.text
    huge = httpx.post(f"{server}/predict", json={"rows": [{**row, "age": 10**400}]})
    assert huge.status_code == 422 and "beyond the range of a number" in huge.text
    long_value = httpx.post(f"{server}/predict", json={"rows": [{**row, "age": "x" * 90_000}]})
    assert long_value.status_code == 422 and len(long_value.text) < 500
    not_rows = httpx.post(f"{server}/predict", json={"rows": "y" * 90_000})
    assert not_rows.status_code == 422 and len(not_rows.text) < 1000
    # the table's row also carries its label, time and text columns: not model inputs
    extra = httpx.post(f"{server}/predict", json={"rows": [{**row, "colour": "red"}]})
    assert extra.json()["ignored_fields"] == ["click", "colour", "timestamp", "title"]
    tabular = {k: row[k] for k in ("user_id", "item_id", "age", "occupation", "genres")}
    answer = httpx.post(f"{server}/predict", json={"rows": [tabular]}).json()
    assert "ignored_fields" not in answer and "missing_fields" not in answer
    # the error answers are documented, with their body
    documented = httpx.get(f"{server}/openapi.json").json()["paths"]["/predict"]["post"]
    assert {"413", "422"} <= set(documented["responses"])
    assert "ErrorAnswer" in str(documented["responses"]["422"])
    # a field the model reads that a row lacks is read as missing, and said
    partial = {k: v for k, v in tabular.items() if k != "age"}
    assert httpx.post(f"{server}/predict", json={"rows": [tabular, partial]}).json()[
        "missing_fields"] == ["age"]
    # a row with none of them is no row to score
    nothing = httpx.post(f"{server}/predict", json={"rows": [tabular, {"colour": "red"}]})
    assert nothing.status_code == 422 and "row 1 has none of the fields" in nothing.text


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8)


@pytest.fixture(scope="module")
def client(bundle):
    from fastapi.testclient import TestClient

    from elec.serve.app import create_app

    with TestClient(create_app(Predictor.from_bundle(bundle), max_rows=20,
                               max_body_bytes=20_000)) as test_client:
        yield test_client


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_http_fuzz_never_answers_5xx(client, test_rows, data):
    names = [*test_rows[0], "colour", ""]
    row = st.dictionaries(st.sampled_from(names) | st.text(max_size=6), JSON_VALUES,
                          max_size=6)
    body = data.draw(st.one_of(
        st.fixed_dictionaries({"rows": st.lists(row, max_size=5)}),
        st.fixed_dictionaries({"rows": st.lists(st.sampled_from(test_rows[:5]).flatmap(
            lambda r: st.fixed_dictionaries({k: st.just(v) | JSON_VALUES
                                             for k, v in r.items()})), max_size=3)}),
        JSON_VALUES))
    response = client.post("/predict", json=body)
    assert response.status_code < 500, (body, response.text)
    if response.status_code == 200:
        assert len(response.json()["probabilities"]) == len(body["rows"])


def test_an_export_killed_midway_leaves_the_previous_bundle_whole(finished_run, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    _, out = finished_run
    bundle = export(out, tmp_path / "bundle", method="vanilla")
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    # a second export with --force that is killed (SIGKILL: no clean-up runs) while it
    # writes its files
    script = (
        "import time, sys\n"
        "import elec.serve.bundle as b\n"
        "from elec.exporter import export\n"
        "real = b.save_file\n"
        "def slow(*a, **k):\n"
        "    real(*a, **k); print('writing', flush=True); time.sleep(60)\n"
        "b.save_file = slow\n"
        f"export({str(out)!r}, {str(bundle)!r}, method='backbone', force=True)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert read_manifest(bundle)["method"] == "vanilla"
    export(out, bundle, method="backbone", force=True)  # and the next export goes through
    assert read_manifest(bundle)["method"] == "backbone"


def test_elec_predict_scores_a_file_as_post_predict_does(server, bundle, test_rows, tmp_path):
    import httpx
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from elec.cli import app
    from elec.serve.score import score_file

    rows = test_rows[:40]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "fresh.parquet")
    out = tmp_path / "scores" / "fresh.parquet"
    done = CliRunner().invoke(app, ["predict", str(bundle), str(tmp_path / "fresh.parquet"),
                                    "--out", str(out), "--keep", "user_id"])
    assert done.exit_code == 0, done.output
    scored = pq.read_table(out)
    assert scored.column_names == ["user_id", "probability"]
    assert scored["user_id"].to_pylist() == [r["user_id"] for r in rows]
    served = httpx.post(f"{server}/predict", json={"rows": rows}).json()["probabilities"]
    np.testing.assert_allclose(scored["probability"].to_numpy(), served, atol=1e-6)
    # streamed in small batches: the same scores; an existing file needs --force
    with pytest.raises(Exception, match="exists; choose another path, or add --force"):
        score_file(Predictor.from_bundle(bundle), tmp_path / "fresh.parquet", out, None,
                   lambda *_: lambda n: None, batch_rows=7)
    score_file(Predictor.from_bundle(bundle), tmp_path / "fresh.parquet", out, None,
               lambda *_: lambda n: None, batch_rows=7, force=True)
    again = pq.read_table(out)
    assert again.column_names == [*rows[0], "probability"]
    np.testing.assert_allclose(again["probability"], scored["probability"], atol=1e-6)
    assert not list(out.parent.glob(".*partial"))
    pq.write_table(pa.Table.from_pylist(rows).drop_columns(["genres"]), tmp_path / "less.parquet")
    refused = CliRunner().invoke(app, ["predict", str(bundle), str(tmp_path / "less.parquet"),
                                       "--out", str(tmp_path / "x.parquet")])
    assert refused.exit_code != 0
    assert "no column 'genres', which the model reads" in " ".join(refused.output.split())


def test_rows_columns_and_a_ranking_request_score_alike(server, bundle, test_rows):
    import httpx

    rows = test_rows[:6]
    expected = Predictor.from_bundle(bundle).predict_proba(rows)
    columns = {name: [row.get(name) for row in rows] for name in rows[0]}
    by_columns = httpx.post(f"{server}/predict", json={"columns": columns})
    assert by_columns.status_code == 200, by_columns.text
    np.testing.assert_allclose(by_columns.json()["probabilities"], expected, atol=1e-6)
    # one user and context, the candidates' item fields: scored as the merged rows
    user = ("user_id", "age", "occupation")
    context = {k: rows[0][k] for k in user}
    candidates = [{k: v for k, v in row.items() if k not in user} for row in rows]
    ranked = httpx.post(f"{server}/predict", json={"context": context, "candidates": candidates})
    merged = [{**context, **candidate} for candidate in candidates]
    np.testing.assert_allclose(ranked.json()["probabilities"],
                               Predictor.from_bundle(bundle).predict_proba(merged), atol=1e-6)
    # what does not fit together is named
    cases = [
        ({"columns": {**columns, "age": columns["age"][:2]}}, 422, "column 'age' has 2 values"),
        ({"context": context, "candidates": [rows[0]]}, 422,
         "candidate 0 repeats the context's field 'age'"),
        ({"context": context, "candidates": [candidates[0]] * 51}, 413, "maximum is 50"),
        ({"columns": {"age": [1] * 51}}, 413, "maximum is 50"),
        ({"context": context}, 422, "candidates"),
    ]
    for body, status, message in cases:
        response = httpx.post(f"{server}/predict", json=body)
        assert response.status_code == status and message in response.text, response.text
    # a malformed ranking request's errors are those of the ranking shape alone
    wrong = httpx.post(f"{server}/predict", json={"context": context, "candidates": [1]})
    assert all(e["loc"][0] == "candidates" for e in wrong.json()["detail"]), wrong.text
    # the schema documents the three shapes, each with an example of the model's fields
    body = httpx.get(f"{server}/openapi.json").json()["paths"]["/predict"]["post"][
        "requestBody"]["content"]["application/json"]
    assert len(body["schema"]["oneOf"]) == 3
    row = body["schema"]["oneOf"][0]["properties"]["rows"]["items"]["properties"]
    assert row["age"] == {"type": ["number", "null"]} and "array" in str(row["genres"])
    assert set(body["examples"]) == {"rows", "columns", "ranking"}
    assert set(body["examples"]["rows"]["value"]["rows"][0]) == {
        "user_id", "item_id", "age", "occupation", "genres"}


@pytest.mark.parametrize("workers", [1, 2])
def test_elec_serve_answers_from_its_workers(bundle, workers):
    """`elec serve --workers N`: N processes on one port, each scoring as the predictor."""
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logged = ["--access-log"] if workers == 1 else []
    server = subprocess.Popen([sys.executable, "-m", "elec.cli", "serve", str(bundle),
                               "--port", str(port), "--workers", str(workers), *logged],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        rows = [{"user_id": "u1", "item_id": f"i{i}", "age": 30, "occupation": "writer",
                 "genres": ["Drama"]} for i in range(30)]
        expected = Predictor.from_bundle(bundle).predict_proba(rows)
        for _ in range(4):
            answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"rows": rows})
            np.testing.assert_allclose(answer.json()["probabilities"], expected, atol=1e-5)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"{workers} worker" in output and "micro-batches up to 256 rows" in output
    assert ('"POST /predict HTTP/1.1" 200' in output) == bool(logged)  # the access log
