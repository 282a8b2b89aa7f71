import json
import os
from pathlib import Path

import pytest

from elec.bench import quality, summarise
from elec.plots import quality_figure
from elec.report.quality import markdown


def methods(backbone, vanilla):
    return {"backbone": {"test": {"auc": backbone, "logloss": 0.5},
                         "valid": {"auc": backbone, "logloss": 0.5}},
            "vanilla": {"test": {"auc": vanilla, "logloss": 0.5},
                        "valid": {"auc": vanilla, "logloss": 0.5}}}


def test_deltas_are_paired_by_seed():
    per_seed = {0: methods(0.78, 0.79), 1: methods(0.80, 0.799), 2: methods(0.77, 0.775)}
    summary = summarise(per_seed)
    delta = summary["deltas"]["vanilla - backbone"]
    assert delta["values"] == pytest.approx([0.01, -0.001, 0.005])
    assert delta["mean"] == pytest.approx(0.014 / 3)
    assert (delta["positive"], delta["seeds"]) == (2, 3)
    assert summary["methods"]["backbone"]["test"]["auc"]["mean"] == pytest.approx(2.35 / 3)
    assert summary["methods"]["vanilla"]["serves_llm"] is False


def test_slices_are_paired_by_seed_where_every_seed_has_them():
    per_seed = {0: methods(0.78, 0.79), 1: methods(0.80, 0.799)}
    for seed, (b, v) in enumerate([(0.70, 0.72), (0.71, 0.70)]):
        per_seed[seed]["backbone"]["test_slices"] = {"rare": {"auc": b, "rows": 9},
                                                     "new": {"auc": 0.6, "rows": 3}}
        per_seed[seed]["vanilla"]["test_slices"] = {"rare": {"auc": v, "rows": 9}}
    summary = summarise(per_seed)
    delta = summary["deltas"]["vanilla - backbone"]
    assert delta["rare"]["values"] == pytest.approx([0.02, -0.01])
    assert delta["rare"]["positive"] == 1 and "new" not in delta  # vanilla has no new slice
    assert summary["methods"]["backbone"]["test_slices"]["new"]["mean"] == pytest.approx(0.6)
    text = markdown({"backbone": "deepfm", "llm": "minilm", "protocols": {"random": summary}})
    assert "rare items' rows" in text and "+0.0050 (1/2)" in text


def test_quality_runs_every_seed_and_writes_json_markdown_and_plot(tiny_config, elec_home,
                                                                   tmp_path):
    summary = quality(tiny_config, [0, 1], ["random", "cold-item"], tmp_path,
                      methods=["backbone", "self_distilled"], log=lambda m: None)
    for protocol in ("random", "cold-item"):
        part = summary["protocols"][protocol]
        assert part["seeds"] == [0, 1]
        assert len(part["methods"]["backbone"]["test"]["auc"]["values"]) == 2
        assert (tmp_path / "deepfm" / protocol / "seed-1" / "curves.png").is_file()
    on_disk = json.loads((tmp_path / "quality_deepfm.json").read_text())
    assert on_disk["protocols"]["random"]["methods"].keys() == {"backbone", "self_distilled"}
    assert "| backbone | no |" in markdown(summary)
    assert quality_figure({"deepfm": summary}, tmp_path / "q.png").stat().st_size > 1000


def test_quality_figure_takes_protocols_benchmarked_with_different_methods(tmp_path):
    full = summarise({0: methods(0.78, 0.79), 1: methods(0.79, 0.80)})
    fewer = {**full, "methods": {"vanilla": full["methods"]["vanilla"]}}
    summary = {"protocols": {"random": fewer, "temporal-pool": full}}
    assert quality_figure({"deepfm": summary}, tmp_path / "q.png").stat().st_size > 1000


PARENT = """
import sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from elec.bench import exit_with_parent

def pid_then_sleep(_):
    import os
    print(os.getpid(), flush=True)
    time.sleep(120)

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(1, mp_context=context, initializer=exit_with_parent,
                               initargs=(0.1,))
    pool.submit(pid_then_sleep, 0)
    time.sleep(120)
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_bench_workers_exit_when_the_bench_is_killed(tmp_path):
    """A killed `elec bench` leaves no worker training on as an orphan."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
    finally:
        parent.kill()  # SIGKILL: no clean-up in the parent
        parent.wait()
    for _ in range(100):
        try:
            stat = Path(f"/proc/{worker}/stat").read_text()
            state = stat.rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # exited, not yet reaped by whoever adopted it
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its parent by 10 s")


def test_bench_trains_by_default_the_methods_a_config_has_the_inputs_for(tiny_config):
    from elec.methods import METHODS
    from elec.runnable import trainable

    assert trainable(tiny_config) == list(METHODS)
    codes = tiny_config.model_copy(update={"fields": [
        f.model_copy(update={"in_text": False}) for f in tiny_config.fields]})
    assert trainable(codes) == ["backbone", "self_distilled", "cross_teacher",
                                "cross_distilled", "ensemble_distilled", "ensemble_tail"]
    no_items = tiny_config.model_copy(update={"data": tiny_config.data.model_copy(
        update={"item_column": "sku"})})
    assert "item_lm" not in trainable(no_items) and "field_lm" in trainable(no_items)
