"""What a configuration can run, checked before any stage does: the methods of the table
it has the inputs for, the default item methods it must leave out, and what it must refuse.
Above the method table, the backbones and text rendering, which it reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from elec.builders import method_model
from elec.errors import ConfigError
from elec.methods import METHODS, TABLE, check_names, item_methods, reads_llm
from elec.models import build_backbone
from elec.text.render import text_fields

if TYPE_CHECKING:
    from elec.config import RunConfig


def item_id_problem(cfg: RunConfig) -> str | None:
    """What keeps the item column from being read as ids (None: nothing): it must be a
    categorical field with a vocabulary."""
    item = next((f for f in cfg.fields if f.name == cfg.data.item_column), None)
    if item is None or item.kind != "categorical" or item.encoder != "vocab":
        return f"the item column {cfg.data.item_column!r} is no categorical vocabulary field"
    return None


def _through_lm_tail(name: str) -> bool:
    """Whether ``name`` is, or learns from, a tail student whose teacher reads its
    synthetic rows through the LM (the frozen LM and lm_only's adapter)."""
    method = METHODS[name]
    return ((method.tail and reads_llm(method))
            or (method.teacher is not None and _through_lm_tail(method.teacher)))


def defaults_left_out(cfg: RunConfig, sharded: bool, world: int) -> tuple[list[str], str | None]:
    """The default methods that cannot run on ``cfg``, and why (none: [], None): the item
    ones read the item column as a vocabulary field, on data in memory, in one process;
    the tail students of the gain network read through the frozen LM. A method list the
    config names is checked by ``check_run`` instead, and refused (and its names first:
    each must be a row of the method table)."""
    check_names(cfg.methods)
    items = item_methods(cfg.methods)
    if "methods" in cfg.model_fields_set or not items:
        return [], None
    problem = item_id_problem(cfg) or ("they run on data in memory, in one process, for now"
                                       if sharded or world > 1 else None)
    if problem:
        return items, problem
    mode = cfg.adapter.mode
    tail = [m for m in items if _through_lm_tail(m)]
    if mode != "frozen" and tail:
        return tail, (f"they read their synthetic rows through the frozen LM, and "
                      f"adapter.mode {mode} fine-tunes it")
    return [], None


def _values_in_text(rendered: list) -> bool:
    """Whether a rendered field has values to read one by one (field_lm's input)."""
    return any(f.kind in ("categorical", "multi") and f.encoder == "vocab" for f in rendered)


def trainable(cfg: RunConfig) -> list[str]:
    """The rows of the table ``cfg`` has the inputs for (what `elec bench quality` trains
    by default): all of them, less the LM's methods when no field is in the text,
    ``field_lm`` when no vocabulary field is, ``item_lm`` when the item column is not a
    field."""
    rendered = text_fields(cfg.fields, cfg.text)
    names = {f.name for f in cfg.fields}
    return [m.name for m in TABLE
            if not ((reads_llm(m) or m.kind.bags) and not rendered)
            and not (m.kind.values and not _values_in_text(rendered))
            and not ((m.lookup or m.tail) and cfg.data.item_column not in names)]


def check_run(cfg: RunConfig, sharded: bool, world: int) -> None:
    """Refuse, before any stage runs, what would fail later: an unknown backbone or
    hyper-parameter (the run's and the cross teacher's), and LoRA / full fine-tuning on
    shards or under torchrun (they read their texts in memory, in one process); every
    other method runs on shards and under torchrun."""
    for method in (METHODS["backbone"], METHODS["cross_teacher"]):
        model = method_model(cfg, method)
        build_backbone(model.name, 2, model.embedding_dim, model.params)
    readers = [m for m in cfg.methods if reads_llm(METHODS[m])]
    rendered = text_fields(cfg.fields, cfg.text)
    if readers and not rendered:
        raise ConfigError(f"{', '.join(readers)} read the LM's text, but no field is rendered "
                          f"into it (every field has in_text: false): set in_text on the "
                          f"fields that carry words, or train methods=[backbone] alone")
    if "field_lm" in cfg.methods and not _values_in_text(rendered):
        raise ConfigError("field_lm reads the values of the categorical fields in the text, "
                          "and none is (hashed fields have no values to read): put one in "
                          "the text, or leave field_lm out of methods")
    # the default methods' item ones are left out where they cannot run, not refused
    named = cfg.methods if "methods" in cfg.model_fields_set else []
    tail = [m for m in named if METHODS[m].tail]
    ids = ((["train.item_dropout"] if cfg.train.item_dropout else [])
           + [m for m in named if METHODS[m].folds_items] + tail)
    if ids and item_id_problem(cfg):
        reads = " and ".join(ids) + (" reads" if len(ids) == 1 else " read")
        raise ConfigError(f"{reads} the item column {cfg.data.item_column!r} "
                          f"(data.item_column) as a categorical field with encoder vocab; "
                          f"make it one, or leave out {', '.join(ids)}")
    item = item_methods(named)
    if item and (sharded or world > 1):
        raise ConfigError(f"{', '.join(item)} run on data in memory, in one process, for "
                          f"now; leave them out of methods on shards or under torchrun")
    mode = cfg.adapter.mode
    if cfg.llm.budget != 1 and (sharded or mode != "frozen"):
        raise ConfigError(f"llm.budget {cfg.llm.budget:g} runs with adapter.mode frozen on "
                          f"data in memory for now; leave llm.budget at 1 "
                          f"{'on shards' if sharded else f'with adapter.mode {mode}'}")
    if cfg.llm.runtime == "onnx" and mode != "frozen":
        raise ConfigError(f"llm.runtime onnx encodes with the frozen LM; adapter.mode {mode} "
                          f"fine-tunes it in torch: use llm.runtime torch")
    through_lm = [m for m in named if _through_lm_tail(m)]
    if mode != "frozen" and through_lm:
        reads = ", ".join(through_lm) + (" reads" if len(through_lm) == 1 else " read")
        raise ConfigError(f"{reads} synthetic rows through the frozen LM and lm_only's "
                          f"adapter; adapter.mode {mode} fine-tunes the LM: use adapter.mode "
                          f"frozen, or leave {', '.join(through_lm)} out of methods")
    if mode != "frozen" and (sharded or world > 1) and any(
            reads_llm(METHODS[m]) for m in cfg.methods):
        where = "on data.storage shards" if sharded else "under torchrun"
        raise ConfigError(f"adapter.mode {mode} does not run {where} yet (the LM is "
                          f"fine-tuned on texts in memory, in one process); use adapter.mode "
                          f"frozen there")
