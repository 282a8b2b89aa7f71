"""Figures, saved as PNG next to the results they show."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def training_curves(results: dict, path: Path) -> Path | None:
    """Train loss and validation AUC per epoch, one line per trained method."""
    methods = {name: m["history"] for name, m in results["methods"].items() if m.get("history")}
    if not methods:
        return None
    figure, (loss_axis, auc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in methods.items():
        epochs = [h["epoch"] for h in history]
        loss_axis.plot(epochs, [h["train_loss"] for h in history], marker="o", label=name)
        auc_axis.plot(epochs, [h["valid_auc"] for h in history], marker="o", label=name)
    loss_axis.set(xlabel="epoch", ylabel="train loss (incl. distillation terms)",
                  title="training loss")
    auc_axis.set(xlabel="epoch", ylabel="validation AUC", title="validation AUC")
    auc_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# one colour per protocol in every panel (None: matplotlib's next colour)
PROTOCOL_COLOURS = {"random": "C0", "temporal": "C1", "temporal-pool": "C2", "cold-item": "C3",
                    "cold-item-pool": "C4"}


def quality_figure(summaries: dict[str, dict], path: Path) -> Path:
    """Test AUC (mean, error bar = std over seeds) per method, one panel per backbone and
    one colour per protocol. ``summaries``: backbone -> quality summary."""
    panels = list(summaries.items())
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for axis, (backbone, summary) in zip(axes[0], panels, strict=True):
        protocols = list(summary["protocols"])
        # every method any protocol has, in first-seen order; a protocol benchmarked
        # with fewer methods leaves gaps
        methods = list(dict.fromkeys(m for part in summary["protocols"].values()
                                     for m in part["methods"]))
        width = 0.8 / max(1, len(protocols))
        for k, protocol in enumerate(protocols):
            stats = summary["protocols"][protocol]["methods"]
            shown = [i for i, m in enumerate(methods) if m in stats]
            means = [stats[methods[i]]["test"]["auc"]["mean"] for i in shown]
            stds = [stats[methods[i]]["test"]["auc"]["std"] for i in shown]
            axis.errorbar([i + k * width for i in shown], means, yerr=stds, fmt="o",
                          capsize=3, label=protocol, color=PROTOCOL_COLOURS.get(protocol))
        axis.set_xticks([i + width * (len(protocols) - 1) / 2 for i in range(len(methods))])
        axis.set_xticklabels(methods, rotation=40, ha="right", fontsize=8)
        axis.set(ylabel="test AUC (mean ± std over seeds)", title=backbone)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def auc_vs_latency(points: dict[str, tuple[float, float, float]], path: Path,
                   title: str) -> Path:
    """One point per method: (latency ms at batch 1, test AUC mean, AUC std)."""
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for name, (latency, auc, std) in points.items():
        axis.errorbar([latency], [auc], yerr=[std], fmt="o", capsize=3)
        axis.annotate(name, (latency, auc), textcoords="offset points", xytext=(6, 4),
                      fontsize=8)
    axis.set_xscale("log")
    axis.set(xlabel="serving latency per request at batch 1, p50 (ms, log scale)",
             ylabel="test AUC (mean ± std over seeds)", title=title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
