"""The plan of a run: every network its methods need, each after what it learns from."""

from typer.testing import CliRunner

from elec.cli import app
from elec.planner import plan


def test_the_plan_orders_every_network_after_those_it_learns_from(tiny_config):
    cfg = tiny_config.model_copy(update={"methods": ["vanilla_gen", "ensemble_distilled",
                                                     "backbone"]})
    steps, why = plan(cfg)
    order = [s.method.name for s in steps]
    assert why is None
    assert order == ["lm_only", "gain", "backbone", "vanilla", "vanilla_gen",
                     "cross_teacher", "ensemble_distilled"]
    needs = {s.method.name: s.needs for s in steps}
    assert needs["vanilla"] == ("gain", "backbone") and needs["vanilla_gen"] == ("vanilla",)
    # the paper's teacher alone (teacher_mix 1): no backbone to blend with
    alone = cfg.model_copy(update={"distill": cfg.distill.model_copy(update={"teacher_mix": 1.0}),
                                   "methods": ["vanilla"]})
    assert [s.method.name for s in plan(alone)[0]] == ["lm_only", "gain", "vanilla"]


def test_the_default_item_methods_leave_the_plan_where_the_run_cannot_train_them(tiny_config):
    cfg = tiny_config.model_copy(update={"methods": ["backbone", "vanilla", "vanilla_gen"]})
    cfg.model_fields_set.discard("methods")  # as the defaults are: not named by the user
    steps, why = plan(cfg, sharded=True)
    assert "vanilla_gen" not in [s.method.name for s in steps] and "in memory" in why


def test_elec_run_plan_prints_the_plan_and_trains_nothing(tiny_config, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(tiny_config.model_dump_json())
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "-c", str(path), "--out", str(out), "--plan",
                                      "--set", "methods=[vanilla]"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("4 networks") and lines[1].startswith("1. lm_only")
    assert "4. vanilla: " in result.output and "learns from gain blended with backbone" \
        in result.output
    assert not out.exists()


def test_with_the_lm_fine_tuned_the_default_tail_students_leave_the_plan(tiny_config):
    lora = tiny_config.model_copy(update={"adapter": tiny_config.adapter.model_copy(
        update={"mode": "lora"})})
    steps, why = plan(lora)
    names = [s.method.name for s in steps]
    assert "vanilla_tail" not in names and "tail_gen" not in names and "item_gen" in names
    assert "adapter.mode lora fine-tunes it" in why
