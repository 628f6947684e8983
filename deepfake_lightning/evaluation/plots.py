"""PNG plots with matplotlib (Agg): confusion matrices, ROC and PR curves, the threshold sweep, training curves."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchmetrics.functional.classification import (  # noqa: E402
    binary_auroc,
    binary_average_precision,
    binary_precision_recall_curve,
    binary_roc,
)


def save_figure(fig: plt.Figure, path: Path, legends: Sequence = (), legend_size: int = 8) -> Path:
    """Legends on `legends` axes, tight layout, a 110 dpi PNG at `path`, the figure closed."""
    for ax in legends:
        ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(cm: Sequence[Sequence[int]], title: str, path: Path) -> Path:
    """A 2x2 confusion matrix ([[real->real, real->fake], [fake->real, fake->fake]]) with counts."""
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(cm, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(
                j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black"
            )
    ax.set_xticks([0, 1], ["real", "fake"])
    ax.set_yticks([0, 1], ["real", "fake"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def plot_roc_pr(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, split: str = "test") -> Path:
    """ROC and PR curves (fake = positive) of several models on one split, given {name: (labels, p_fake)}: the
    split in the titles, each model's ROC AUC and average precision in the legends, and the chance levels (the
    diagonal; precision = the split's share of fakes)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    share = None
    for name, (y, p) in curves.items():
        yt, pt = torch.as_tensor(np.asarray(y)).long(), torch.as_tensor(np.asarray(p)).float()
        if yt.min() == yt.max():
            continue
        share = float(yt.float().mean())
        fpr, tpr, _ = binary_roc(pt, yt)
        prec, rec, _ = binary_precision_recall_curve(pt, yt)
        auc = float(binary_auroc(pt, yt))
        ap = float(binary_average_precision(pt, yt))
        a.plot(fpr.numpy(), tpr.numpy(), label=f"{name} (AUC {auc:.3f})")
        b.plot(rec.numpy(), prec.numpy(), label=f"{name} (AP {ap:.3f})")
    a.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    if share is not None:
        b.axhline(share, color="k", ls=":", lw=0.8, label=f"chance (share of fakes {share:.2f})")
    a.set(xlabel="false positive rate (real called fake)", ylabel="true positive rate (fake recall)",
          title=f"ROC, {split} split (every threshold)")  # fmt: skip
    b.set(xlabel="recall (fake)", ylabel="precision (fake)", title=f"Precision-recall, {split} split", ylim=(0, 1.02))
    return save_figure(fig, path, (a, b))


def plot_sweep(
    sweep: Sequence[Mapping[str, float]], chosen: float, min_fake_recall: float | None, title: str, path: Path
) -> Path:
    """Real and fake recall against the threshold, with the chosen threshold and the fake-recall floor."""
    t = [r["threshold"] for r in sweep]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(t, [r["real_recall"] for r in sweep], label="real recall")
    ax.plot(t, [r["fake_recall"] for r in sweep], label="fake recall")
    ax.axvline(chosen, color="k", ls="--", lw=0.8, label=f"chosen {chosen:.2f}")
    if min_fake_recall is not None:
        ax.axhline(min_fake_recall, color="grey", ls=":", lw=0.8, label=f"fake recall floor {min_fake_recall}")
    ax.set(xlabel="threshold on p_fake", ylabel="recall", title=title, ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_reliability(curves: Mapping[str, Mapping[str, Sequence[float]]], title: str, path: Path) -> Path:
    """Reliability diagram: mean p_fake against the share of fakes per bin, one line per model."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8, label="calibrated")
    for name, c in curves.items():
        ax.plot(c["confidence"], c["fake_share"], marker="o", ms=3, label=name)
    ax.set(xlabel="mean p_fake in bin", ylabel="share of fakes in bin", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def read_csv_log(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Lightning CSVLogger metrics.csv as {metric: [(epoch, value)]}, epoch-level values only, one per epoch: the
    first (dfl-train validates the chosen checkpoint again after fitting; that pass is not a training epoch)."""
    series: dict[str, dict[int, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                if k in ("epoch", "step") or not v or k.endswith("_step"):
                    continue
                series.setdefault(k, {}).setdefault(int(row["epoch"]), float(v))
    return {k: sorted(v.items()) for k, v in series.items()}


def plot_training_curves(logs: Mapping[str, Path], path: Path) -> Path:
    """Train/val loss and val balanced accuracy per epoch, one line per model, from CSV logs."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, p in logs.items():
        if not Path(p).is_file():
            continue
        s = read_csv_log(Path(p))
        series = ((a, "train/loss_epoch", "-"), (a, "val/loss", "--"), (b, "train/acc", "-"), (b, "val/accuracy", "--"))
        for ax, key, style in series:
            if key in s:
                e, v = zip(*s[key])
                ax.plot(e, v, style, label=f"{name} {key.split('/')[0]}")
    a.set(xlabel="epoch", ylabel="loss", title="Loss")
    b.set(
        xlabel="epoch",
        ylabel="accuracy",
        title="Accuracy (train: argmax; val: at the threshold chosen on val that epoch)",
    )
    return save_figure(fig, path, (a, b), legend_size=7)


def plot_robustness(robustness: Mapping, metric: str, path: Path) -> Path:
    """`metric` against severity (0 = clean) for each degradation kind, a line per model."""
    kinds = list(robustness["kinds"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(2.8 * len(kinds), 2.9), squeeze=False, sharey=True)
    clean = robustness.get("clean", {})
    for ax, kind in zip(axes[0], kinds):
        rows = robustness["kinds"][kind]
        for name in clean:
            xs = [0] + [r["level"] for r in rows]
            ys = [clean[name].get(metric)] + [r["models"][name].get(metric) for r in rows]
            ax.plot(xs, [np.nan if y is None else y for y in ys], marker="o", ms=3, label=name)
        ax.set_title(kind, fontsize=9)
        ax.set_xlabel("severity (0 = clean)", fontsize=8)
    axes[0][0].set_ylabel(metric.replace("_", " "))
    return save_figure(fig, path, (axes[0][-1],), legend_size=7)
