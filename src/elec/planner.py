"""The plan of a run, resolved from the method table and the configuration before
anything runs: which networks it trains, in which order (each after the networks it
learns from), what each reads and how it is served. ``elec run`` trains the plan's steps
in order; ``elec run --plan`` prints it."""

from __future__ import annotations

from dataclasses import dataclass

from elec.config import RunConfig
from elec.methods import METHODS, Method, dependencies
from elec.runnable import defaults_left_out


@dataclass(frozen=True)
class Step:
    method: Method
    needs: tuple[str, ...]  # the methods whose trained networks it reads

    def describe(self) -> str:
        m = self.method
        reads = m.kind.reads + (" and its item's LM vector" if m.kind.distilled
                                  and m.lookup else "") + (
            ", also on synthetic rows of the rare items" if m.tail else "")
        serves = ("needs the LM at every request" if m.serves_llm else
                  "the backbone, item rows in its table" if m.folds_items else
                  "the backbone and an item table" if m.lookup else "the backbone")
        learns = (f"; learns from {m.teacher}" + (" blended with backbone"
                                                  if len(self.needs) > 1 else "")
                  if m.teacher else "; after lm_only" if self.needs else "")
        return f"{m.name}: reads {reads}{learns}; served: {serves}"


def plan(cfg: RunConfig, sharded: bool = False, world: int = 1) -> tuple[list[Step], str | None]:
    """Every network ``cfg.methods`` need, each after those it learns from (depth first,
    in the order of ``cfg.methods``), less the default item methods the run cannot train;
    and why those were left out (None: none were)."""
    left, why = defaults_left_out(cfg, sharded, world)  # checks the names first
    steps: list[Step] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        method = METHODS[name]
        teacher_mix = cfg.distill.model_copy(update=method.distill).teacher_mix
        needs = tuple(dependencies(method, teacher_mix))
        for needed in needs:
            visit(needed)
        steps.append(Step(method, needs))

    for name in cfg.methods:
        if name not in left:
            visit(name)
    return steps, why


def describe(steps: list[Step], why: str | None) -> str:
    """The plan as numbered lines."""
    lines = [f"{len(steps)} networks, trained in this order (those finished in the run "
             f"directory are read, not trained again):"]
    lines += [f"{i}. {step.describe()}" for i, step in enumerate(steps, 1)]
    if why:
        lines.append(f"(the default item methods are left out: {why})")
    return "\n".join(lines)
