"""``elec run``: the ELEC pipeline end to end, resumable method by method.

    data -> LM vectors (cached) -> stage 1 adapter (lm_only, cross-fitted v)
         -> backbone -> self_distilled -> gain -> vanilla -> results.json

Each method is trained from a generator seeded with the run seed, so its result
does not depend on which methods ran before it (comparisons are paired by seed).
Every finished method writes its checkpoint and ``stages/<name>.json``; the same
command run again on the same output directory skips what is done.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
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
from elec.config import ConfigError, DistillConfig, ModelConfig, RunConfig, TrainConfig
from elec.data.batches import Columns, batches
from elec.data.encoder import FIRST, RowEncoder
from elec.data.schema import FeatureSchema
from elec.data.sources import (
    check_fields,
    labels,
    load_table,
    load_unlabeled,
    split_indices,
    subsample,
)
from elec.data.store import atomic_dir, elec_home, read_json, write_atomic, write_json
from elec.distill.networks import (
    LABELED,
    LLM_VECTOR,
    TEACHER_LOGIT,
    TEACHER_REPR,
    GainNetwork,
    VanillaNetwork,
)
from elec.llm.adapter import LLM_HIDDEN, Adapter
from elec.llm.cache import VectorCache
from elec.llm.encoder import ENCODING_VERSION, INT8_SCHEME, TextEncoder, model_digest
from elec.models import CTRNetwork, build_backbone
from elec.report.plots import training_curves
from elec.text.render import render_table
from elec.train.metrics import evaluate
from elec.train.trainer import Trainer, predict_logits, sigmoid
from elec.ui import Reporter

SPLITS = ("train", "valid", "test")
POOL = "pool"  # unlabeled rows: features only, used by distillation
METHODS = {  # name -> (what it is, serves an LM?)
    "lm_only": ("adapted LM: transformation + prediction layer", True),
    "backbone": ("the CTR backbone alone", False),
    "self_distilled": ("backbone distilled from a backbone teacher (no LM), same losses", False),
    "cross_teacher": ("a different backbone, no LM: the cross_distilled teacher", False),
    "cross_distilled": ("backbone distilled from a different backbone (no LM)", False),
    "ensemble_distilled": ("backbone distilled from the cross teacher blended with the "
                           "backbone by distill.teacher_mix (no LM)", False),
    "gain": ("backbone + injected LM vector (teacher)", True),
    "vanilla": ("ELEC student: backbone distilled from the gain network (score target "
                "blended with the backbone's by distill.teacher_mix)", False),
    "vanilla_score": ("ELEC student, score-level distillation only", False),
    "vanilla_repr": ("ELEC student, representation-level distillation only", False),
}


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def seed_everything(seed: int) -> torch.Generator:
    """Seed initialisation and dropout, and return the generator for batch order, so a
    method's result depends on the seed alone, not on what ran before it."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.Generator().manual_seed(seed)


class PlainNetwork(nn.Module):
    """A backbone trained on labels alone (binary cross-entropy)."""

    def __init__(self, schema: FeatureSchema, model: ModelConfig):
        super().__init__()
        self.network = CTRNetwork(schema, model)

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        return self.network(batch)

    def loss(self, batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.network(batch)[0], batch.label)

    def logit(self, batch: Columns) -> Tensor:
        return self.network(batch)[0]


@dataclass
class Prepared:
    schema: FeatureSchema
    columns: dict[str, Columns]
    texts: dict[str, list[str]]
    groups: dict[str, np.ndarray | None]

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of everything the stages read: every split's encoded features, labels,
        texts and user groups, so caches are keyed by the data, not by its path."""
        digest = hashlib.sha256()
        for split, columns in self.columns.items():
            digest.update(split.encode())
            for tensor in [columns.single, *columns.multi, columns.label]:
                digest.update(tensor.cpu().numpy().tobytes())
            digest.update("\0".join(self.texts[split]).encode())
            if self.groups[split] is not None:
                digest.update("\0".join(map(str, self.groups[split])).encode())
        return digest.hexdigest()


@dataclass
class Trained:
    module: nn.Module
    record: dict


class Run:
    def __init__(self, cfg: RunConfig, out: Path, reporter: Reporter):
        self.cfg, self.out, self.report = cfg, Path(out), reporter
        self.log = reporter.log
        self.trainer = Trainer(cfg.train, self.log, reporter.bar)
        self.device = resolve_device(cfg.train.device)
        self.trained: dict[str, Trained] = {}
        self._data: Prepared | None = None
        self._llm_vectors: dict[str, Tensor] | None = None

    # ---------------------------------------------------------------- bookkeeping
    def _stage_path(self, name: str) -> Path:
        return self.out / "stages" / f"{name}.json"

    def _checkpoint(self, name: str) -> Path:
        return self.out / "checkpoints" / f"{name}.safetensors"

    def _done(self, name: str) -> dict | None:
        path = self._stage_path(name)
        if path.is_file() and self._checkpoint(name).is_file():
            return read_json(path)
        return None

    def _save(self, name: str, tensors: dict[str, Tensor]) -> None:
        path = self._checkpoint(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".partial")
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging))
        staging.replace(path)

    def _check_resume(self) -> None:
        resolved = self.cfg.to_dict()
        path = self.out / "config.yaml"
        if path.is_file():
            if yaml.safe_load(path.read_text()) != resolved:
                raise ConfigError(f"{self.out} holds a run with a different configuration; "
                                  f"use another --out, or delete it to start over")
            self.log(f"resuming the run in {self.out}")
        else:
            write_atomic(path, yaml.safe_dump(resolved, sort_keys=False).encode())
            self.log("resolved configuration:\n" + yaml.safe_dump(resolved, sort_keys=False))

    # ---------------------------------------------------------------- data
    @property
    def data(self) -> Prepared:
        if self._data is None:
            self._data = self._prepare()
        return self._data

    def _prepare(self) -> Prepared:
        cfg = self.cfg
        table = subsample(load_table(cfg.data, self.log), cfg.data)
        check_fields(table, cfg.fields, cfg.data)
        label = labels(table, cfg.data)
        rows = split_indices(table, cfg.data)
        parts = {split: table.take(index) for split, index in rows.items()}
        if cfg.data.unlabeled:
            parts[POOL] = load_unlabeled(cfg.data, table)
        # new ids that only the unlabeled rows carry get embeddings of their own
        schema = FeatureSchema.fit(parts["train"], cfg.fields, parts.get(POOL))
        saved = self.out / "schema.json"
        if saved.is_file() and json.loads(saved.read_text()) != schema.to_dict():
            # same configuration, other encoders: a run begun by an elec that fitted
            # them differently (e.g. before the pool's ids joined the vocabularies)
            raise ConfigError(f"{self.out} holds a run whose feature encoders differ from "
                              f"this version's; use another --out, or delete it to start over")
        schema.save(saved)
        columns = {}
        for split, part in parts.items():
            # the pool's labels, if the data has them, are never read: unlabeled rows
            known = label[rows[split]] if split in SPLITS else np.zeros(part.num_rows)
            encoded = RowEncoder(schema).encode_table(part)
            columns[split] = Columns.from_encoded(encoded, known).to(self.device)
        texts = {split: render_table(part, cfg.fields, cfg.text) for split, part in parts.items()}
        user = cfg.data.user_column
        groups = {split: (np.asarray(part[user].to_numpy(zero_copy_only=False))
                          if user and user in part.column_names else None)
                  for split, part in parts.items()}
        sizes = ", ".join(f"{s} {len(columns[s]):,} (CTR {columns[s].label.mean():.3f})"
                          for s in SPLITS)
        pool = f"; {len(columns[POOL]):,} unlabeled rows" if POOL in columns else ""
        self.log(f"data: {cfg.data.dataset}, {cfg.data.split} split: {sizes}{pool}; "
                 f"{len(schema.fields)} tabular fields")
        self.log(f"example text: {texts['train'][0]}")
        prepared = Prepared(schema, columns, texts, groups)
        self._check_data(prepared.digest)
        return prepared

    def _check_data(self, digest: str) -> None:
        """A run resumes only on the data it began with: a table rewritten at the same
        path since is refused, not silently mixed with the stages trained before."""
        path = self.out / "data.json"
        if path.is_file() and read_json(path)["digest"] != digest:
            raise ConfigError(f"the data of the run in {self.out} changed since it began "
                              f"({self.cfg.data.dataset}); use another --out, or delete it "
                              f"to start over")
        write_json(path, {"digest": digest})

    @property
    def splits(self) -> tuple[str, ...]:
        """train, valid, test, and pool when there are unlabeled rows."""
        return tuple(self.data.columns)

    def _evaluate(self, logit: Callable[[Columns], Tensor], module: nn.Module,
                  columns: dict[str, Columns]) -> dict:
        return {split: evaluate(columns[split].label.cpu().numpy(),
                                sigmoid(predict_logits(logit, module, columns[split])),
                                self.data.groups[split])
                for split in ("valid", "test")}

    # ---------------------------------------------------------------- stage 1
    def _encode_texts(self) -> dict[str, Tensor]:
        encoder = TextEncoder(self.cfg.llm)
        cache = VectorCache(elec_home() / "vectors", encoder.fingerprint, self.log)
        texts = self.data.texts
        everything = [t for split in self.splits for t in texts[split]]
        advance = self.report.bar(f"LM encoding ({encoder.precision})", len(everything))
        vectors = cache.vectors(everything, lambda chunk: encoder.encode(chunk, advance),
                                self.cfg.llm.shard_size)
        self.log(f"LM vectors: {cache.computed:,} texts encoded, {cache.reused:,} from the cache "
                 f"({cache.dir})")
        bounds = np.cumsum([0] + [len(texts[s]) for s in self.splits])
        return {split: torch.from_numpy(vectors[bounds[k]:bounds[k + 1]]).to(self.device)
                for k, split in enumerate(self.splits)}

    def _train_adapter(self, name: str, hidden: dict[str, Tensor],
                       train_rows: Tensor | None = None) -> Adapter:
        a = self.cfg.adapter
        trainer = Trainer(TrainConfig(lr=a.lr, batch_size=a.batch_size, max_epochs=a.max_epochs,
                                      patience=self.cfg.train.patience), self.log,
                          self.report.bar)
        train = self.data.columns["train"].with_extra(**{LLM_HIDDEN: hidden["train"]})
        if train_rows is not None:
            train = train.take(train_rows)
        valid = self.data.columns["valid"].with_extra(**{LLM_HIDDEN: hidden["valid"]})
        generator = seed_everything(self.cfg.seed)
        adapter = Adapter(hidden["train"].shape[1], a).to(self.device)
        trainer.fit(name, adapter, adapter.loss, adapter.logit, train, valid, generator)
        return adapter

    def _folds(self) -> dict[str, Tensor]:
        """The cross-fitting fold of every row of every split (seeded by the run seed); with
        ``adapter.fold_by``, every value of that field has one fold of its own."""
        a = self.cfg.adapter
        generator = torch.Generator().manual_seed(self.cfg.seed)
        folds = {split: torch.randint(0, a.folds, (len(self.data.columns[split]),),
                                      generator=generator) for split in self.splits}
        if a.fold_by is not None:
            schema = self.data.schema
            position = [f.name for f in schema.single].index(a.fold_by)
            fold_of_value = torch.randint(0, a.folds, (schema.single[position].size,),
                                          generator=generator)
            for split, fold in folds.items():
                ids = self.data.columns[split].single[:, position].cpu()
                known = ids >= FIRST  # missing and out-of-vocabulary rows keep theirs
                fold[known] = fold_of_value[ids[known]]
        return {split: fold.to(self.device) for split, fold in folds.items()}

    def _cross_fitted_vectors(self, full: Adapter, hidden: dict[str, Tensor]
                              ) -> dict[str, Tensor]:
        """Cross-fitting: a training row's v comes from an adapter that never saw its label.

        Valid and test rows are spread over the same fold adapters, so every split
        draws its vectors from the same mixture of adapters; the fold adapters start
        from one initialisation, which keeps their vector spaces close.
        """
        a = self.cfg.adapter
        if a.leak_guard == "none":
            return {split: full.vectors(hidden[split]) for split in self.splits}
        fold_of = self._folds()
        out = {split: torch.zeros(hidden[split].shape[0], a.dim, device=self.device)
               for split in self.splits}
        for fold in range(a.folds):
            others = torch.nonzero(fold_of["train"] != fold).squeeze(1)
            adapter = self._train_adapter(f"adapter fold {fold + 1}/{a.folds}", hidden, others)
            for split in self.splits:
                rows = torch.nonzero(fold_of[split] == fold).squeeze(1)
                out[split][rows] = adapter.vectors(hidden[split][rows])
        return out

    def _finetuned_lm_only(self) -> Trained:
        """lora / full: the LM is cross-fitted too. One LM classifier per fold, trained on
        the other folds; each row (valid and test rows included, spread over the folds)
        gets its v and its lm_only score from the model of its fold. The adapted LMs are
        saved under checkpoints/lm-fold-<k>/."""
        from elec.llm.finetune import MASK, TOKENS, build, load_tokenizer, tokenize

        a = self.cfg.adapter
        folds = a.folds if a.leak_guard == "crossfit" else 1
        fold_of = self._folds() if folds > 1 else {
            s: torch.zeros(len(self.data.columns[s]), dtype=torch.long, device=self.device)
            for s in self.splits}
        trainer = Trainer(TrainConfig(lr=a.lr, batch_size=a.lm_batch_size,
                                      max_epochs=a.lm_epochs, patience=self.cfg.train.patience),
                          self.log, self.report.bar, eval_batch_size=4 * a.lm_batch_size)
        columns, vectors, logits = {}, {}, {}
        tokenizer = load_tokenizer(self.cfg.llm)
        for split in self.splits:
            ids, mask = tokenize(tokenizer, self.data.texts[split], self.cfg.llm.max_length)
            columns[split] = self.data.columns[split].with_extra(
                **{TOKENS: ids.to(self.device), MASK: mask.to(self.device)})
            vectors[split] = torch.zeros(len(columns[split]), a.dim, device=self.device)
            logits[split] = torch.zeros(len(columns[split]), device=self.device)
        adapters = {}
        for fold in range(folds):
            generator = seed_everything(self.cfg.seed)
            model = build(self.cfg.llm, a).to(self.device)
            train_rows = torch.nonzero(fold_of["train"] != fold).squeeze(1) if folds > 1 else \
                torch.arange(len(columns["train"]), device=self.device)
            trainer.fit(f"{a.mode} LM fold {fold + 1}/{folds}", model, model.loss, model.logit,
                        columns["train"].take(train_rows), columns["valid"], generator,
                        model.parameter_groups(a))
            for split in self.splits:
                rows = torch.nonzero(fold_of[split] == fold).squeeze(1)
                part = columns[split].take(rows)
                vectors[split][rows] = model.vectors(part, 4 * a.lm_batch_size)
                logits[split][rows] = torch.from_numpy(predict_logits(
                    model.logit, model, part, 4 * a.lm_batch_size)).to(self.device)
            model.save_lm(self.out / "checkpoints" / f"lm-fold-{fold}", tokenizer)
            adapters.update({f"fold{fold}.{k}": v for k, v in model.adapter.state_dict().items()})
        record = {split: evaluate(columns[split].label.cpu().numpy(),
                                  sigmoid(logits[split].cpu().numpy()), self.data.groups[split])
                  for split in ("valid", "test")}
        record["parameters"] = parameter_count(model)
        record["scored_by"] = "the fold model of each row (cross-fitted)"
        self._save("lm_only", adapters)
        self._save("llm_vectors", vectors)
        return Trained(model, record)

    def _lm_only(self) -> Trained:
        """Stage 1: the adapter on all training rows (lm_only) and every row's LM vector v."""
        if self.cfg.adapter.mode != "frozen":
            return self._finetuned_lm_only()
        hidden = self._encode_texts()
        adapter = self._train_adapter("lm_only", hidden)
        columns = {s: self.data.columns[s].with_extra(**{LLM_HIDDEN: hidden[s]})
                   for s in self.splits}
        record = {**self._evaluate(adapter.logit, adapter, columns),
                  "parameters": parameter_count(adapter)}
        vectors = self._cross_fitted_vectors(adapter, hidden)
        self._save("lm_only", adapter.state_dict())
        self._save("llm_vectors", vectors)
        return Trained(adapter, record)

    @property
    def llm_vectors(self) -> dict[str, Tensor]:
        if self._llm_vectors is None:
            self.method("lm_only")
            self._llm_vectors = load_file(str(self._checkpoint("llm_vectors")),
                                          device=str(self.device))
        return self._llm_vectors

    # ---------------------------------------------------------------- stages 2 and 3
    def _fit(self, name: str, module: nn.Module, columns: dict[str, Columns],
             generator: torch.Generator, param_groups: list[dict] | None = None,
             served: nn.Module | None = None) -> Trained:
        module.to(self.device)
        history = self.trainer.fit(name, module, module.loss, module.logit, columns["train"],
                                   columns["valid"], generator, param_groups)
        record = {**self._evaluate(module.logit, module, columns),
                  "parameters": parameter_count(served or module),
                  "best_epoch": history.best_epoch, "train_seconds": round(history.seconds, 2),
                  "history": history.epochs}
        self._save(name, module.state_dict())
        return Trained(module, record)

    @torch.no_grad()
    def _with_teacher(self, teacher: nn.Module, rows: Columns,
                      mix: tuple[float, nn.Module, Columns] | None = None) -> Columns:
        """``rows`` with the teacher's logit and representation attached. ``mix``
        (weight, second teacher, its view of the same rows) blends the logit:
        weight * teacher + (1 - weight) * second teacher."""
        teacher.eval()
        outputs = [teacher(batch) for batch in batches(rows, 8192)]
        logit = torch.cat([o[0] for o in outputs])
        if mix is not None:
            weight, second, second_rows = mix
            second.eval()
            other = torch.cat([second(batch)[0] for batch in batches(second_rows, 8192)])
            logit = weight * logit + (1 - weight) * other
        return rows.with_extra(**{TEACHER_LOGIT: logit,
                                  TEACHER_REPR: torch.cat([o[1] for o in outputs])})

    def _plain(self, name: str, model: ModelConfig) -> Trained:
        generator = seed_everything(self.cfg.seed)
        return self._fit(name, PlainNetwork(self.data.schema, model), self.data.columns,
                         generator)

    def _student(self, name: str, teacher_name: str, distill: DistillConfig,
                 blend: bool = False) -> Trained:
        """A backbone trained on labels and ``teacher_name``'s outputs; with ``blend``,
        the score target is teacher_mix * teacher + (1 - teacher_mix) * backbone."""
        teacher = self.method(teacher_name).module
        teacher_columns = self._gain_columns() if teacher_name == "gain" else self.data.columns
        blend = blend and distill.teacher_mix < 1.0
        second = self.method("backbone").module if blend else None

        def targets(split: str) -> Columns:
            mix = (distill.teacher_mix, second, self.data.columns[split]) if blend else None
            return self._with_teacher(teacher, teacher_columns[split], mix)

        train = targets("train")
        if POOL in teacher_columns:  # unlabeled rows learn from the teacher's outputs alone
            pool = targets(POOL)
            train = Columns.concat([
                train.with_extra(**{LABELED: torch.ones_like(train.label)}),
                pool.with_extra(**{LABELED: torch.zeros_like(pool.label)})])
        columns = {**self.data.columns, "train": train}
        repr_dim = teacher.network.repr_dim
        generator = seed_everything(self.cfg.seed)
        student = VanillaNetwork(self.data.schema, self.cfg.model, repr_dim, distill)
        return self._fit(name, student, columns, generator, served=student.network)

    def _gain_columns(self) -> dict[str, Columns]:
        return {s: self.data.columns[s].with_extra(**{LLM_VECTOR: self.llm_vectors[s]})
                for s in self.splits}

    def _gain(self) -> Trained:
        columns = self._gain_columns()
        generator = seed_everything(self.cfg.seed)
        gain = GainNetwork(self.data.schema, self.cfg.model, self.cfg.adapter.dim, self.cfg.gain)
        projection = list(gain.llm_projection.parameters())
        rest = [p for p in gain.parameters() if all(p is not q for q in projection)]
        groups = [{"params": rest},
                  {"params": projection, "weight_decay": self.cfg.gain.projection_weight_decay}]
        return self._fit("gain", gain, columns, generator, groups)

    def cross_teacher_model(self) -> ModelConfig:
        name = self.cfg.distill.cross_teacher
        if name == self.cfg.model.name:
            name = "dnn"
        return ModelConfig(name=name, embedding_dim=self.cfg.model.embedding_dim)

    def _build(self, name: str) -> nn.Module:
        """An untrained module of a method, to load its checkpoint into."""
        schema, model = self.data.schema, self.cfg.model
        if name in ("backbone", "cross_teacher"):
            return PlainNetwork(schema, model if name == "backbone"
                                else self.cross_teacher_model())
        if name == "gain":
            return GainNetwork(schema, model, self.cfg.adapter.dim, self.cfg.gain)
        raise KeyError(name)

    def _train(self, name: str) -> Trained:
        d = self.cfg.distill
        if name == "lm_only":
            return self._lm_only()
        if name == "backbone":
            return self._plain(name, self.cfg.model)
        if name == "cross_teacher":
            return self._plain(name, self.cross_teacher_model())
        if name == "gain":
            return self._gain()
        teacher, distill, blend = {
            "self_distilled": ("backbone", d, False),
            "cross_distilled": ("cross_teacher", d, False),
            "ensemble_distilled": ("cross_teacher", d, True),
            "vanilla": ("gain", d, True),
            "vanilla_score": ("gain", d.model_copy(update={"beta": 0.0}), True),
            "vanilla_repr": ("gain", d.model_copy(update={"alpha": 0.0}), True),
        }[name]
        return self._student(name, teacher, distill, blend)

    def _stage1_cache(self) -> Path:
        """Stage 1 depends on the data (rows, labels, texts), the LM's weights, the adapter
        and the seed, not on the backbone: runs that differ only downstream share one
        trained stage 1. The key is made of their content, never of paths or names."""
        c = self.cfg
        key = {"data": self.data.digest,  # the rows, labels and texts, not the path
               "llm": {**c.llm.model_dump(mode="json"), "name": model_digest(c.llm.name)},
               "adapter": c.adapter.model_dump(mode="json"), "seed": c.seed,
               "patience": c.train.patience, "elec": __version__,
               # what else decides the vectors: a change to encoding must miss this cache
               "encoding": ENCODING_VERSION, "int8": INT8_SCHEME}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return elec_home() / "stage1" / digest

    STAGE1_FILES = ("stages/lm_only.json", "checkpoints/lm_only.safetensors",
                    "checkpoints/llm_vectors.safetensors")

    def _copy_stage1(self, source: Path, target: Path) -> None:
        for relative in self.STAGE1_FILES:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, target / relative)

    def method(self, name: str) -> Trained:
        """A method's trained module and results: from memory, from disk, or trained now."""
        if name in self.trained:
            return self.trained[name]
        shared = self._stage1_cache()
        if name == "lm_only" and self._done(name) is None and (shared / "stages").is_dir():
            self.log(f"stage 1: reusing the trained adapter and LM vectors in {shared}")
            self._copy_stage1(shared, self.out)
        record = self._done(name)
        if record is not None:
            module = None
            if name in ("backbone", "cross_teacher", "gain"):  # needed as teachers
                module = self._build(name)
                module.load_state_dict(load_file(str(self._checkpoint(name))))
                module.to(self.device).eval()
            trained = Trained(module, record)
        else:
            trained = self._train(name)
            write_json(self._stage_path(name), trained.record)
            if name == "lm_only":
                with atomic_dir(shared) as staging:
                    self._copy_stage1(self.out, staging)
            test = trained.record["test"]
            self.log(f"{name}: test AUC {test['auc']:.4f}  logloss {test['logloss']:.4f}")
        self.trained[name] = trained
        return trained

    def execute(self) -> dict:
        unknown = [m for m in self.cfg.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"methods {unknown} are not known; choose from {', '.join(METHODS)}")
        # Fail on a bad backbone name or hyper-parameter now, not after LM encoding.
        for model in (self.cfg.model, self.cross_teacher_model()):
            build_backbone(model.name, 2, model.embedding_dim, model.params)
        self._check_resume()
        for name in self.cfg.methods:
            self.method(name)
        summary = {
            "methods": {name: {"what": METHODS[name][0], "serves_llm": METHODS[name][1],
                               **self.trained[name].record}
                        for name in self.cfg.methods},
            "config": self.cfg.to_dict(),
            "environment": environment(),
        }
        write_json(self.out / "results.json", summary)
        training_curves(summary, self.out / "curves.png")
        return summary


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={requested!r} but no CUDA device is available")
    return device


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
            "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def run(cfg: RunConfig, out: Path, reporter: Reporter | None = None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reporter = reporter or Reporter(out / "log.txt")
    with reporter:
        return Run(cfg, out, reporter).execute()

