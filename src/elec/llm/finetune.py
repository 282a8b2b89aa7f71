"""Stage 1 with the language model in the loop: ``lora`` and ``full`` adaptation.

The LM, its pooling and the two layers (transformation, prediction) train as one
network on the CTR labels. Texts are tokenised once into padded id columns, so
the shared trainer drives this network like any other. The LM is cross-fitted too:
one LM classifier per fold, trained on the other folds; each row (valid and test rows
included, spread over the folds) gets its v and its lm_only score from the model of
its fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elec.config import AdapterConfig, LLMConfig, RunConfig
from elec.data.batches import Columns, batches
from elec.data.prepare import Prepared
from elec.data.splits import EVALUATED
from elec.llm.adapter import Adapter
from elec.llm.encoder import POOLING, load_pretrained, prepare_tokenizer, resolve_name
from elec.llm.stage1 import Stage1, adapter_trainer, folds
from elec.machine import seed_everything
from elec.train.fit import parameter_count
from elec.train.metrics import evaluate
from elec.train.trainer import predict_logits, sigmoid
from elec.ui import Reporter

TOKENS, MASK = "input_ids", "attention_mask"  # Columns.extra keys


class LMClassifier(nn.Module):
    """text ids -> LM -> pooled h -> transformation (v) -> prediction (logit)."""

    def __init__(self, lm: nn.Module, pooling: str, adapter: Adapter):
        super().__init__()
        self.lm = lm
        self.pooling = pooling
        self.adapter = adapter

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        """-> logit (batch,), v (batch, adapter dim)."""
        ids, mask = batch.extra[TOKENS], batch.extra[MASK]
        width = int(mask.sum(1).max())  # cut the padding no row of this batch needs
        ids, mask = ids[:, :width], mask[:, :width]
        hidden = self.lm(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.adapter(POOLING[self.pooling](hidden.float(), mask))

    def loss(self, batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(self(batch)[0], batch.label)

    def logit(self, batch: Columns) -> Tensor:
        return self(batch)[0]

    @torch.no_grad()
    def vectors(self, columns: Columns, batch_size: int = 256) -> Tensor:
        self.eval()
        return torch.cat([self(batch)[1] for batch in batches(columns, batch_size)])

    def parameter_groups(self, adapter_cfg: AdapterConfig) -> list[dict]:
        return [{"params": [p for p in self.lm.parameters() if p.requires_grad],
                 "lr": adapter_cfg.lm_lr},
                {"params": list(self.adapter.parameters()), "lr": adapter_cfg.lr}]

    def save_lm(self, directory: Path, tokenizer) -> None:
        """The adapted LM as a plain Hugging Face model (LoRA merged into the weights)."""
        lm = self.lm.merge_and_unload() if hasattr(self.lm, "merge_and_unload") else self.lm
        lm.save_pretrained(directory)
        tokenizer.save_pretrained(directory)


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> tuple[Tensor, Tensor]:
    encoded = tokenizer(list(texts), padding="longest", truncation=True, max_length=max_length,
                        return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


def load_tokenizer(llm: LLMConfig):
    from transformers import AutoTokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(resolve_name(llm.name)))


def build(llm: LLMConfig, adapter_cfg: AdapterConfig) -> LMClassifier:
    """A fresh LM classifier for ``adapter_cfg.mode`` (lora or full)."""
    lm = load_pretrained(resolve_name(llm.name))[1]
    if adapter_cfg.mode == "lora":
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise ImportError("adapter.mode=lora needs peft: pip install 'elec[lora]'") from None
        lm = get_peft_model(lm, LoraConfig(r=adapter_cfg.lora_rank,
                                           lora_alpha=adapter_cfg.lora_alpha,
                                           lora_dropout=adapter_cfg.lora_dropout,
                                           target_modules=adapter_cfg.lora_targets,
                                           bias="none"))
    adapter = Adapter(int(lm.config.hidden_size), adapter_cfg)
    return LMClassifier(lm, llm.pooling, adapter)


def finetuned_stage1(data: Prepared, cfg: RunConfig, device: torch.device, reporter: Reporter,
                     lm_dir: Path) -> Stage1:
    """Stage 1 with ``adapter.mode`` lora or full; the adapted LM of fold k is saved as a
    plain Hugging Face model in ``lm_dir``/lm-fold-k."""
    a = cfg.adapter
    n_folds = a.folds if a.leak_guard == "crossfit" else 1
    fold_of = folds(data, cfg) if n_folds > 1 else {
        s: torch.zeros(len(data.columns[s]), dtype=torch.long, device=device)
        for s in data.splits}
    trainer = adapter_trainer(cfg, reporter, lm_in_the_loop=True)
    columns, vectors, logits = {}, {}, {}
    tokenizer = load_tokenizer(cfg.llm)
    for split in data.splits:
        ids, mask = tokenize(tokenizer, data.texts[split], cfg.llm.max_length)
        columns[split] = data.columns[split].with_extra(
            **{TOKENS: ids.to(device), MASK: mask.to(device)})
        vectors[split] = torch.zeros(len(columns[split]), a.dim, device=device)
        logits[split] = torch.zeros(len(columns[split]), device=device)
    weights = {}
    for fold in range(n_folds):
        generator = seed_everything(cfg.seed)
        model = build(cfg.llm, a).to(device)
        train_rows = (torch.nonzero(fold_of["train"] != fold).squeeze(1) if n_folds > 1
                      else torch.arange(len(columns["train"]), device=device))
        trainer.fit(f"{a.mode} LM fold {fold + 1}/{n_folds}", model, model.loss, model.logit,
                    columns["train"].take(train_rows), columns["valid"], generator,
                    model.parameter_groups(a))
        for split in data.splits:
            rows = torch.nonzero(fold_of[split] == fold).squeeze(1)
            part = columns[split].take(rows)
            vectors[split][rows] = model.vectors(part, 4 * a.lm_batch_size)
            logits[split][rows] = torch.from_numpy(predict_logits(
                model.logit, model, part, 4 * a.lm_batch_size)).to(device)
        model.save_lm(lm_dir / f"lm-fold-{fold}", tokenizer)
        weights.update({f"fold{fold}.{k}": v for k, v in model.adapter.state_dict().items()})
    record = {split: evaluate(columns[split].label.cpu().numpy(),
                              sigmoid(logits[split].cpu().numpy()), data.groups[split])
              for split in EVALUATED}
    record["parameters"] = parameter_count(model)
    record["scored_by"] = "the fold model of each row (cross-fitted)"
    return Stage1(record, weights, vectors)
