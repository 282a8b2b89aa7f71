"""Our backbones against FuxiCTR's on the same MovieLens-100K split: DeepFM, DCNv2, AutoInt+.

    pip install -e '.[fuxictr]'      # fuxictr==2.3.10: benchmark only, never a runtime need
    python benchmarks/fuxictr_compare.py [--seeds 5] [--models deepfm,dcnv2,autoint]

For every model and seed, both libraries get the same encoded rows (our schema's
ids: train / valid / test of the config's split) and the same hyper-parameters:
embedding dim, MLP sizes, dropout, batch norm, cross layers, attention layers /
heads / dim, learning rate, batch size, max epochs, early-stopping patience on
validation AUC, LR x0.1 on a plateau. Ours is `elec run` with methods [backbone];
FuxiCTR's model trains with its own `BaseModel.fit` loop.

FuxiCTR's wheel ships its layers but not these three models' classes, so they are
composed here from its layers as its model zoo composes them: DeepFM =
FactorizationMachine (its LR + FM) + MLP_Block over one FeatureEmbedding; DCNv2 =
CrossNetV2 beside an MLP_Block (parallel), concatenated into one linear unit;
AutoInt+ = stacked multi-head self-attention (ScaledDotProductAttention, residual
projection, ReLU) plus an MLP_Block. Test AUC and logloss per seed, means and the
paired difference (ours - FuxiCTR) go to benchmarks/results/fuxictr.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from elec import BACKBONES, Reporter, Run, environment, load_config, stats

RESULTS = Path(__file__).parent / "results"
LABEL = "label"


def fuxictr_models():
    """The three model classes, built on FuxiCTR's BaseModel and layers (import is lazy:
    fuxictr is an optional benchmark extra)."""
    from fuxictr.pytorch.layers import (
        CrossNetV2,
        FactorizationMachine,
        FeatureEmbedding,
        MLP_Block,
        ScaledDotProductAttention,
    )
    from fuxictr.pytorch.models import BaseModel

    def mlp(input_dim, p, output_dim=None):
        return MLP_Block(input_dim=input_dim, output_dim=output_dim, hidden_units=p["hidden"],
                         hidden_activations="ReLU", dropout_rates=p["dropout"],
                         batch_norm=p["batch_norm"])

    class DeepFM(BaseModel):
        def __init__(self, feature_map, p, **kwargs):
            super().__init__(feature_map, model_id="DeepFM", **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, p["embedding_dim"])
            self.fm = FactorizationMachine(feature_map)
            self.mlp = mlp(feature_map.sum_emb_out_dim(), p, output_dim=1)
            self.compile("adam", "binary_crossentropy", p["lr"])
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            emb = self.embedding_layer(X)
            y = self.fm(X, emb) + self.mlp(emb.flatten(start_dim=1))
            return {"y_pred": self.output_activation(y)}

    class DCNv2(BaseModel):
        def __init__(self, feature_map, p, **kwargs):
            super().__init__(feature_map, model_id="DCNv2", **kwargs)
            width = feature_map.sum_emb_out_dim()
            self.embedding_layer = FeatureEmbedding(feature_map, p["embedding_dim"])
            self.crossnet = CrossNetV2(width, p["cross_layers"])
            self.parallel_dnn = mlp(width, p)
            self.fc = nn.Linear(width + p["hidden"][-1], 1)
            self.compile("adam", "binary_crossentropy", p["lr"])
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            emb = self.embedding_layer(self.get_inputs(inputs), flatten_emb=True)
            out = torch.cat([self.crossnet(emb), self.parallel_dnn(emb)], dim=-1)
            return {"y_pred": self.output_activation(self.fc(out))}

    class SelfAttention(nn.Module):
        """One interacting layer of AutoInt, as FuxiCTR's model zoo builds it."""

        def __init__(self, input_dim, attention_dim, heads, dropout):
            super().__init__()
            self.heads, self.head_dim = heads, attention_dim // heads
            self.W_q = nn.Linear(input_dim, attention_dim, bias=False)
            self.W_k = nn.Linear(input_dim, attention_dim, bias=False)
            self.W_v = nn.Linear(input_dim, attention_dim, bias=False)
            self.W_res = (nn.Linear(input_dim, attention_dim, bias=False)
                          if input_dim != attention_dim else None)
            self.attention = ScaledDotProductAttention(dropout)

        def forward(self, x):
            batch = x.size(0)
            q, k, v = (w(x).view(batch, -1, self.heads, self.head_dim).transpose(1, 2)
                       for w in (self.W_q, self.W_k, self.W_v))
            out, _ = self.attention(q, k, v, scale=None)
            out = out.transpose(1, 2).contiguous().view(batch, -1, self.heads * self.head_dim)
            residual = self.W_res(x) if self.W_res is not None else x
            return (out + residual).relu()

    class AutoIntPlus(BaseModel):
        def __init__(self, feature_map, p, **kwargs):
            super().__init__(feature_map, model_id="AutoInt", **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, p["embedding_dim"])
            self.dnn = mlp(feature_map.sum_emb_out_dim(), p, output_dim=1)
            self.self_attention = nn.Sequential(*[
                SelfAttention(p["embedding_dim"] if i == 0 else p["attention_dim"],
                              p["attention_dim"], p["heads"], p["dropout"])
                for i in range(p["attention_layers"])])
            self.fc = nn.Linear(feature_map.num_fields * p["attention_dim"], 1)
            self.compile("adam", "binary_crossentropy", p["lr"])
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            emb = self.embedding_layer(self.get_inputs(inputs))
            y = self.fc(self.self_attention(emb).flatten(start_dim=1))
            y = y + self.dnn(emb.flatten(start_dim=1))
            return {"y_pred": self.output_activation(y)}

    return {"deepfm": DeepFM, "dcnv2": DCNv2, "autoint": AutoIntPlus}


class Loader:
    """Batches of {feature: ids, label: y} dicts, FuxiCTR's input format, from our columns."""

    def __init__(self, columns, names, batch_size, generator=None):
        self.columns, self.names = columns, names
        self.batch_size, self.generator = batch_size, generator

    def __len__(self):
        return math.ceil(len(self.columns) / self.batch_size)

    def __iter__(self):
        c, n = self.columns, len(self.columns)
        order = (torch.randperm(n, generator=self.generator) if self.generator is not None
                 else torch.arange(n))
        tensors = [c.single[:, i] for i in range(c.single.shape[1])] + list(c.multi)
        for start in range(0, n, self.batch_size):
            rows = order[start:start + self.batch_size]
            batch = {name: t[rows] for name, t in zip(self.names, tensors, strict=True)}
            batch[LABEL] = c.label[rows]
            yield batch


def feature_map(schema, data_dir: str):
    from fuxictr.features import FeatureMap

    fmap = FeatureMap("ml-100k", data_dir)
    features = OrderedDict()
    for field in schema.single:
        features[field.name] = {"type": "categorical", "source": "",
                                     "vocab_size": field.size}
    for field in schema.multi:
        features[field.name] = {"type": "sequence", "source": "", "vocab_size": field.size,
                                     "padding_idx": 0, "max_len": field.max_len,
                                     "feature_encoder": "layers.MaskedAveragePooling()"}
    fmap.features = features
    fmap.labels = [LABEL]
    fmap.num_fields = fmap.get_num_fields()
    fmap.set_column_index()
    return fmap, schema.names


def train_fuxictr(name: str, cfg, prepared, seed: int) -> dict:
    from fuxictr.pytorch.torch_utils import seed_everything

    params = {**BACKBONES[name].Params().model_dump(), **cfg.model.params,
              "embedding_dim": cfg.model.embedding_dim, "lr": cfg.train.lr}
    seed_everything(seed)
    with tempfile.TemporaryDirectory() as tmp:
        fmap, names = feature_map(prepared.schema, tmp)
        fmap.default_emb_dim = cfg.model.embedding_dim
        model = fuxictr_models()[name](
            fmap, params, gpu=-1, monitor="AUC", monitor_mode="max",
            early_stop_patience=cfg.train.patience, reduce_lr_on_plateau=True,
            verbose=0, model_root=tmp, metrics=["AUC", "logloss"])
        Path(model.model_dir).mkdir(parents=True)  # where fit() keeps its best checkpoint
        columns = {s: prepared.columns[s].to("cpu") for s in ("train", "valid", "test")}
        generator = torch.Generator().manual_seed(seed)
        model.fit(Loader(columns["train"], names, cfg.train.batch_size, generator),
                  epochs=cfg.train.max_epochs,
                  validation_data=Loader(columns["valid"], names, 8192),
                  max_gradient_norm=cfg.train.grad_clip)
        test = model.evaluate(Loader(columns["test"], names, 8192), metrics=["AUC", "logloss"])
    return {"auc": float(test["AUC"]), "logloss": float(test["logloss"]),
            "parameters": sum(p.numel() for p in model.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ml100k.yaml")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default="deepfm,dcnv2,autoint")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", default="runs/fuxictr")
    parser.add_argument("--results", default=str(RESULTS / "fuxictr.json"))
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)  # FuxiCTR logs every epoch at INFO
    base = load_config(args.config, args.overrides)
    results: dict = {"models": {}, "environment": environment(), "config": base.to_dict()}
    for name in args.models.split(","):
        per_seed = []
        for seed in range(args.seeds):
            cfg = base.model_copy(update={
                "seed": seed, "methods": ["backbone"],
                "model": base.model.model_copy(update={"name": name, "params": {}})})
            out = Path(args.out) / name / f"seed-{seed}"
            out.mkdir(parents=True, exist_ok=True)
            with Reporter(out / "log.txt", quiet=True) as reporter:
                ours_run = Run(cfg, out, reporter)
                ours = ours_run.method("backbone")
                theirs = train_fuxictr(name, cfg, ours_run.data, seed)
            per_seed.append({"seed": seed,
                             "elec": {"auc": ours["test"]["auc"],
                                      "logloss": ours["test"]["logloss"],
                                      "parameters": ours["parameters"]},
                             "fuxictr": theirs})
            print(f"{name} seed {seed}: elec {ours['test']['auc']:.4f}  "
                  f"fuxictr {theirs['auc']:.4f}", flush=True)
        summary = {f"{lib}_{metric}": stats([s[lib][metric] for s in per_seed])
                   for lib in ("elec", "fuxictr") for metric in ("auc", "logloss")}
        diff = stats([s["elec"]["auc"] - s["fuxictr"]["auc"] for s in per_seed])
        summary["elec_minus_fuxictr_auc"] = {
            **diff, "positive": sum(d > 0 for d in diff["values"]),
            "within_0.003_or_better": diff["mean"] >= -0.003}
        results["models"][name] = {"seeds": per_seed, "summary": summary}
        Path(args.results).write_text(json.dumps(results, indent=2))
        print(f"{name}: elec {summary['elec_auc']['mean']:.4f} ± {summary['elec_auc']['std']:.4f}"
              f"  fuxictr {summary['fuxictr_auc']['mean']:.4f} ± "
              f"{summary['fuxictr_auc']['std']:.4f}  (elec - fuxictr "
              f"{summary['elec_minus_fuxictr_auc']['mean']:+.4f})", flush=True)


if __name__ == "__main__":
    main()
