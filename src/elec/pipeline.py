"""``elec run``: the ELEC pipeline end to end, resumable stage by stage.

    data -> LM vectors (cached) -> stage 1 adapter (lm_only, cross-fitted v)
         -> backbone -> self_distilled -> gain -> vanilla -> results.json

Every finished stage writes its checkpoint and ``stages/<name>.json``; the same
command run again on the same output directory skips what is done.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from elec import __version__
from elec.config import ConfigError, RunConfig, TrainConfig
from elec.data.batches import Columns
from elec.data.schema import FeatureSchema
from elec.data.sources import check_fields, labels, load_table, split_indices, subsample
from elec.data.store import elec_home, read_json, write_atomic, write_json
from elec.distill.networks import (
    LLM_VECTOR,
    TEACHER_LOGIT,
    TEACHER_REPR,
    GainNetwork,
    VanillaNetwork,
)
from elec.llm.adapter import LLM_HIDDEN, Adapter
from elec.llm.cache import VectorCache
from elec.llm.encoder import TextEncoder
from elec.models import CTRNetwork, build_backbone
from elec.text.render import render_table
from elec.train.metrics import evaluate
from elec.train.trainer import Trainer, predict_logits, sigmoid
from elec.ui import Reporter

SPLITS = ("train", "valid", "test")
METHODS = {  # name -> (what it is, serves an LM?)
    "lm_only": ("adapted LM: transformation + prediction layer", True),
    "backbone": ("the CTR backbone alone", False),
    "self_distilled": ("backbone distilled from a backbone teacher (no LM), same losses", False),
    "gain": ("backbone + injected LM vector (teacher)", True),
    "vanilla": ("ELEC student: backbone distilled from the gain network", False),
}


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _seed_everything(seed: int) -> torch.Generator:
    """Seed initialisation and dropout, and return the generator for batch order, so a
    method's result depends on the seed alone, not on what ran before it."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.Generator().manual_seed(seed)


def _bce(network: CTRNetwork) -> tuple[Callable[[Columns], Tensor], Callable[[Columns], Tensor]]:
    def loss(batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(network(batch)[0], batch.label)

    def logit(batch: Columns) -> Tensor:
        return network(batch)[0]
    return loss, logit


@dataclass
class Prepared:
    schema: FeatureSchema
    columns: dict[str, Columns]
    texts: dict[str, list[str]]


class Run:
    def __init__(self, cfg: RunConfig, out: Path, reporter: Reporter):
        self.cfg, self.out, self.report = cfg, Path(out), reporter
        self.log = reporter.log
        self.trainer = Trainer(cfg.train, self.log, reporter.bar)

    # ---------------------------------------------------------------- bookkeeping
    def _stage_path(self, name: str) -> Path:
        return self.out / "stages" / f"{name}.json"

    def _done(self, name: str) -> dict | None:
        path = self._stage_path(name)
        return read_json(path) if path.is_file() else None

    def _finish(self, name: str, record: dict) -> dict:
        write_json(self._stage_path(name), record)
        return record

    def _save(self, name: str, module: nn.Module) -> None:
        path = self.out / "checkpoints" / f"{name}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".partial")
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(staging))
        staging.replace(path)

    def _load(self, name: str, module: nn.Module) -> nn.Module:
        module.load_state_dict(load_file(str(self.out / "checkpoints" / f"{name}.safetensors")))
        return module.eval()

    def _check_resume(self) -> None:
        resolved = self.cfg.to_dict()
        path = self.out / "config.yaml"
        if path.is_file():
            previous = yaml.safe_load(path.read_text())
            if previous != resolved:
                raise ConfigError(f"{self.out} holds a run with a different configuration; "
                                  f"use another --out, or delete it to start over")
            self.log(f"resuming the run in {self.out}")
        else:
            write_atomic(path, yaml.safe_dump(resolved, sort_keys=False).encode())
            self.log("resolved configuration:\n" + yaml.safe_dump(resolved, sort_keys=False))

    # ---------------------------------------------------------------- data
    def prepare(self) -> Prepared:
        cfg = self.cfg
        table = subsample(load_table(cfg.data, self.log), cfg.data)
        check_fields(table, cfg.fields, cfg.data)
        label = labels(table, cfg.data)
        rows = split_indices(table, cfg.data)
        parts = {split: table.take(rows[split]) for split in SPLITS}
        schema = FeatureSchema.fit(parts["train"], cfg.fields)
        schema.save(self.out / "schema.json")
        columns = {split: Columns.from_encoded(schema.transform(parts[split]), label[rows[split]])
                   for split in SPLITS}
        texts = {split: render_table(parts[split], cfg.fields, cfg.text) for split in SPLITS}
        sizes = ", ".join(f"{s} {len(columns[s]):,} (CTR {columns[s].label.mean():.3f})"
                          for s in SPLITS)
        self.log(f"data: {cfg.data.dataset}, {cfg.data.split} split: {sizes}; "
                 f"{len(schema.fields)} tabular fields")
        self.log(f"example text: {texts['train'][0]}")
        return Prepared(schema, columns, texts)

    # ---------------------------------------------------------------- stage 1
    def encode_texts(self, data: Prepared) -> dict[str, Tensor]:
        encoder = TextEncoder(self.cfg.llm)
        cache = VectorCache(elec_home() / "vectors", encoder.fingerprint, self.log)
        everything = [t for split in SPLITS for t in data.texts[split]]
        advance = self.report.bar(f"LM encoding ({encoder.precision})", len(everything))

        def encode(texts: list[str]) -> np.ndarray:
            return encoder.encode(texts, progress=advance)
        vectors = cache.vectors(everything, encode, self.cfg.llm.shard_size)
        self.log(f"LM vectors: {cache.computed:,} texts encoded, {cache.reused:,} from the cache "
                 f"({cache.dir})")
        out, start = {}, 0
        for split in SPLITS:
            n = len(data.texts[split])
            out[split] = torch.from_numpy(vectors[start:start + n])
            start += n
        return out

    def _train_adapter(self, name: str, hidden: dict[str, Tensor], data: Prepared,
                       train_rows: Tensor | None = None) -> Adapter:
        a = self.cfg.adapter
        trainer = Trainer(TrainConfig(lr=a.lr, batch_size=a.batch_size, max_epochs=a.max_epochs,
                                      patience=self.cfg.train.patience), self.log,
                          self.report.bar)
        train = data.columns["train"].with_extra(**{LLM_HIDDEN: hidden["train"]})
        if train_rows is not None:
            train = train.take(train_rows)
        valid = data.columns["valid"].with_extra(**{LLM_HIDDEN: hidden["valid"]})
        generator = _seed_everything(self.cfg.seed)
        adapter = Adapter(hidden["train"].shape[1], a)
        trainer.fit(name, adapter, adapter.loss, adapter.logit, train, valid, generator)
        return adapter

    def stage_adapter(self, data: Prepared) -> tuple[dict, dict[str, Tensor]]:
        """lm_only metrics and the LM vector v of every row (leak-guarded)."""
        vectors_path = self.out / "checkpoints" / "llm_vectors.safetensors"
        record = self._done("lm_only")
        if record and vectors_path.is_file():
            return record, load_file(str(vectors_path))
        hidden = self.encode_texts(data)
        adapter = self._train_adapter("lm_only", hidden, data)
        self._save("lm_only", adapter)
        metrics = {split: evaluate(data.columns[split].label.numpy(),
                                   sigmoid(predict_logits(adapter.logit, adapter, data.columns[
                                       split].with_extra(**{LLM_HIDDEN: hidden[split]}))))
                   for split in ("valid", "test")}
        vectors = self._llm_vectors(adapter, hidden, data)
        save_file({k: v.contiguous() for k, v in vectors.items()}, str(vectors_path))
        record = {**metrics, "parameters": parameter_count(adapter)}
        self.log(f"lm_only: test AUC {metrics['test']['auc']:.4f}")
        return self._finish("lm_only", record), vectors

    def _llm_vectors(self, full: Adapter, hidden: dict[str, Tensor],
                     data: Prepared) -> dict[str, Tensor]:
        """Cross-fitting: a training row's v comes from an adapter that never saw its label.

        Valid and test rows are spread over the same fold adapters, so every split
        draws its vectors from the same mixture of adapters; the fold adapters start
        from one initialisation, which keeps their vector spaces close.
        """
        a = self.cfg.adapter
        if a.leak_guard == "none":
            return {split: full.vectors(hidden[split]) for split in SPLITS}
        generator = torch.Generator().manual_seed(self.cfg.seed)
        fold_of = {split: torch.randint(0, a.folds, (len(data.columns[split]),),
                                        generator=generator) for split in SPLITS}
        out = {split: torch.zeros(len(data.columns[split]), a.dim) for split in SPLITS}
        for fold in range(a.folds):
            others = torch.nonzero(fold_of["train"] != fold).squeeze(1)
            adapter = self._train_adapter(f"adapter fold {fold + 1}/{a.folds}", hidden, data,
                                          train_rows=others)
            for split in SPLITS:
                rows = torch.nonzero(fold_of[split] == fold).squeeze(1)
                out[split][rows] = adapter.vectors(hidden[split][rows])
        return out

    # ---------------------------------------------------------------- stages 2 and 3
    def _evaluate(self, module: nn.Module, logit, columns: dict[str, Columns]) -> dict:
        return {split: evaluate(columns[split].label.numpy(),
                                sigmoid(predict_logits(logit, module, columns[split])))
                for split in ("valid", "test")}

    def _train_method(self, name: str, build: Callable[[], nn.Module],
                      columns: dict[str, Columns], served: Callable[[nn.Module], nn.Module],
                      loss_and_logit=None, param_groups=None) -> tuple[nn.Module, dict]:
        """Train (or reload) one method; ``served`` picks the part that would be deployed."""
        generator = _seed_everything(self.cfg.seed)
        module = build()
        loss, logit = loss_and_logit(module) if loss_and_logit else (module.loss, module.logit)
        record = self._done(name)
        if record:
            self._load(name, module)
            return module, record
        history = self.trainer.fit(name, module, loss, logit, columns["train"],
                                   columns["valid"], generator,
                                   param_groups(module) if param_groups else None)
        self._save(name, module)
        record = {**self._evaluate(module, logit, columns),
                  "parameters": parameter_count(served(module)),
                  "best_epoch": history.best_epoch, "train_seconds": round(history.seconds, 2),
                  "history": history.epochs}
        self.log(f"{name}: test AUC {record['test']['auc']:.4f}  "
                 f"logloss {record['test']['logloss']:.4f}")
        return module, self._finish(name, record)

    @torch.no_grad()
    def _with_teacher(self, teacher: nn.Module, train: Columns) -> Columns:
        teacher.eval()
        logits, reprs = [], []
        for start in range(0, len(train), 8192):
            logit, representation = teacher(train.take(torch.arange(start,
                                                                    min(start + 8192, len(train)))))
            logits.append(logit)
            reprs.append(representation)
        return train.with_extra(**{TEACHER_LOGIT: torch.cat(logits),
                                   TEACHER_REPR: torch.cat(reprs)})

    def _distill(self, name: str, teacher: nn.Module, teacher_repr_dim: int, data: Prepared,
                 columns: dict[str, Columns]) -> dict:
        student_columns = {**data.columns, "train": self._with_teacher(teacher, columns["train"])}
        _, record = self._train_method(
            name, lambda: VanillaNetwork(data.schema, self.cfg.model, teacher_repr_dim,
                                         self.cfg.distill),
            student_columns, served=lambda m: m.network)
        return record

    def _gain_param_groups(self, gain: GainNetwork) -> list[dict]:
        projection = list(gain.llm_projection.parameters())
        rest = [p for p in gain.parameters() if all(p is not q for q in projection)]
        return [{"params": rest},
                {"params": projection, "weight_decay": self.cfg.gain.projection_weight_decay}]

    def execute(self) -> dict:
        # Fail on a bad backbone name or hyper-parameter now, not after LM encoding.
        build_backbone(self.cfg.model.name, 2, self.cfg.model.embedding_dim,
                       self.cfg.model.params)
        self._check_resume()
        data = self.prepare()
        results = {"lm_only": None}
        results["lm_only"], llm_vectors = self.stage_adapter(data)

        backbone, results["backbone"] = self._train_method(
            "backbone", lambda: CTRNetwork(data.schema, self.cfg.model), data.columns,
            served=lambda m: m, loss_and_logit=_bce)
        results["self_distilled"] = self._distill("self_distilled", backbone, backbone.repr_dim,
                                                  data, data.columns)

        gain_columns = {s: data.columns[s].with_extra(**{LLM_VECTOR: llm_vectors[s]})
                        for s in SPLITS}
        gain, results["gain"] = self._train_method(
            "gain", lambda: GainNetwork(data.schema, self.cfg.model, self.cfg.adapter.dim,
                                        self.cfg.gain),
            gain_columns, served=lambda m: m, param_groups=self._gain_param_groups)
        results["vanilla"] = self._distill("vanilla", gain, gain.repr_dim, data, gain_columns)

        summary = {
            "methods": {name: {"what": METHODS[name][0], "serves_llm": METHODS[name][1],
                               **results[name]} for name in METHODS},
            "config": self.cfg.to_dict(),
            "environment": environment(),
        }
        write_json(self.out / "results.json", summary)
        return summary


def environment() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"elec": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "cpu": cpu, "threads": torch.get_num_threads()}


def run(cfg: RunConfig, out: Path, reporter: Reporter | None = None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reporter = reporter or Reporter(out / "log.txt")
    with reporter:
        return Run(cfg, out, reporter).execute()
