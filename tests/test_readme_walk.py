"""The README's walk through a user's own data, run as written: every command of its
code blocks under "Your own data", in a fresh directory, from the shop generator to
the service answering the README's request; then the requests and the Python of
"Serving" and the Python of "From Python", which go on from there. One departure, as a
user trying it fast would make: the config `elec init` proposes gets the tiny test LM,
one epoch and large batches."""

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).parent.parent
ELEC = [sys.executable, "-m", "elec.cli"]


def section(title: str) -> str:
    return (ROOT / "README.md").read_text().split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def walk(title: str = "Your own data") -> list[str]:
    """The shell commands of the code blocks of a section of the README (a line ending in
    a backslash, or inside a quoted argument, goes on to the next), in order."""
    commands, fence, pending = [], None, ""
    for line in section(title).splitlines():
        if line.startswith("```"):
            fence = line[3:] if fence is None else None  # the block's language, or none
            continue
        if fence != "":  # outside the blocks, or in a yaml / json one
            continue
        line = pending + line.split("  #", 1)[0].strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.count("'") % 2:  # a quoted argument goes on over the next lines
            pending = line + " "
            continue
        pending = ""
        if line:
            commands.append(line)
    return commands


def python_block(title: str) -> str:
    """The Python code block of a section of the README."""
    return section(title).split("```python\n", 1)[1].split("```", 1)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answer(curl: str, port: int) -> dict:
    """What the service answers the README's ``curl`` line (its URL and ``-d`` body)."""
    words = shlex.split(curl)
    url = next(w for w in words if w.startswith("localhost:"))
    body = words[words.index("-d") + 1].encode()
    request = urllib.request.Request(f"http://{url.replace('8000', str(port))}", data=body,
                                     headers={"content-type": "application/json"})
    for _ in range(200):  # the service is still starting
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.1)
    raise AssertionError(f"no answer to: {curl}")


def test_the_readme_walk_through_your_own_data_runs_as_written(tmp_path, tiny_lm, monkeypatch):
    commands = walk()
    assert [c.split()[:2] for c in commands][:6] == [
        ["python", "examples/make_shop.py"], ["elec", "init"], ["elec", "run"],
        ["elec", "export"], ["elec", "predict"], ["elec", "serve"]]
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "make_shop.py", tmp_path / "examples")
    env = {**os.environ, "ELEC_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT / "src")}
    port, service, said = free_port(), None, {}
    try:
        for command in commands:
            words = shlex.split(command.rstrip("&").strip())
            if words[0] == "curl":
                said[command] = answer(command, port)
                continue
            argv = ELEC + words[1:] if words[0] == "elec" else [sys.executable, *words[1:]]
            if command.endswith("&"):  # the service: started, answered below
                argv = [a.replace("8000", str(port)) for a in argv]
                service = subprocess.Popen(argv, cwd=tmp_path, env=env,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                continue
            done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            said[command] = done.stdout
            if words[:2] == ["elec", "init"]:  # the one departure: a tiny LM, one epoch
                config = tmp_path / words[words.index("--out") + 1]
                proposed = yaml.safe_load(config.read_text())
                proposed["llm"] |= {"name": str(tiny_lm), "precision": "fp32"}
                proposed["adapter"] = {"folds": 2, "max_epochs": 1}
                proposed["train"] = {**proposed.get("train", {}), "max_epochs": 1,
                                     "batch_size": 2048}
                config.write_text(yaml.safe_dump(proposed))
        # the Serving section's requests, to the same service
        serving = walk("Serving")
        assert len(serving) == 2 and all(c.startswith("curl") for c in serving)
        for command in serving:
            said[command] = answer(command, port)
    finally:
        if service is not None:
            service.terminate()
            log = service.communicate(timeout=10)[0].decode()
    run_said = next(v for k, v in said.items() if k.startswith("elec run"))
    assert "serve " in run_said and "p50" in run_said and "elec export runs/shop" in run_said
    scores = pq.read_table(tmp_path / "scores.parquet")
    assert scores.column_names == ["user_id", "product_id", "probability"]
    assert scores.num_rows == 20_000
    answers = [v for k, v in said.items() if k.startswith("curl")]
    assert len(answers) == 3 and all(0 < p < 1 for a in answers for p in a["probabilities"])
    assert [len(a["probabilities"]) for a in answers] == [2, 1, 2]
    assert f"on http://127.0.0.1:{port}" in log or f":{port}" in log

    # the README's Python goes on from there, as written: the Serving section's, then the
    # From Python section's
    done = subprocess.run([sys.executable, "-c", python_block("Serving")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert 0 < float(done.stdout.strip().strip("[]")) < 1
    done = subprocess.run([sys.executable, "-c", python_block("From Python")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    steps = done.stdout.splitlines()[-1].split("]")[0] + "]"
    assert steps == "['backbone', 'lm_only', 'gain', 'vanilla']", done.stdout
    scores = done.stdout.splitlines()[-1].rsplit("[", 1)[1].rstrip("]").split()
    assert "'auc'" in done.stdout and len(scores) == 3 and all(0 < float(p) < 1 for p in scores)
