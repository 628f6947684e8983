"""Detection metrics as pure functions over (labels, p_fake, threshold), built on torchmetrics.functional."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_confusion_matrix,
    binary_roc,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

log = logging.getLogger(__name__)

METRIC_KEYS = (
    "accuracy",
    "balanced_accuracy",
    "real_recall",
    "fake_recall",
    "real_precision",
    "fake_precision",
    "real_f1",
    "fake_f1",
    "roc_auc",
    "pr_auc",
    "eer",
)


def _t(x: Sequence | np.ndarray | torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype).flatten().cpu()


def equal_error_rate(labels: torch.Tensor, p_fake: torch.Tensor) -> float:
    """EER: where the false-positive rate meets the false-negative rate on the ROC curve (interpolated).

    Own code beside torchmetrics' binary_eer, which takes the mean of FAR and FRR at the nearest ROC point:
    on the few hundred test frames of a small split that moves the EER by a few points, while the
    interpolated crossing does not depend on where the ROC points fall; the two agree where a point has
    FAR = FRR and converge on large samples (tests/test_torchmetrics_agreement.py).
    """
    fpr, tpr, _ = binary_roc(p_fake, labels)
    return eer_crossing(fpr.numpy(), (1 - tpr).numpy())


def eer_crossing(fpr: np.ndarray, fnr: np.ndarray) -> float:
    """Where FPR meets FNR along a ROC curve's points, linearly interpolated (NaN for a curve with NaNs): the EER of
    equal_error_rate and of every bootstrap resample (statistics.py)."""
    if not np.isfinite(fpr).all() or not np.isfinite(fnr).all():
        return float("nan")
    diff = fpr - fnr
    hits = np.flatnonzero(diff >= 0)
    i = int(hits[0]) if len(hits) else len(diff) - 1
    if i == 0:
        return float(fpr[0])
    d0, d1 = float(diff[i - 1]), float(diff[i])
    a = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(fpr[i - 1] + a * (fpr[i] - fpr[i - 1]))


def detection_metrics(
    labels: Sequence | np.ndarray | torch.Tensor,
    p_fake: Sequence | np.ndarray | torch.Tensor,
    threshold: float = 0.5,
) -> dict:
    """Every figure the project reports, with 0 = real, 1 = fake and "fake" when p_fake >= threshold.

    Threshold-free figures (ROC AUC, PR AUC, EER) need both classes: with one class they are None
    and the reason is listed under "undefined", instead of a silent 0 or NaN.
    """
    y = _t(labels, torch.long)
    p = _t(p_fake, torch.float32)
    if y.numel() == 0:
        raise ValueError("detection_metrics: no samples (the split is empty)")
    pred = (p >= threshold).long()
    recall = multiclass_recall(pred, y, num_classes=2, average=None)
    precision = multiclass_precision(pred, y, num_classes=2, average=None)
    f1 = multiclass_f1_score(pred, y, num_classes=2, average=None)
    cm = binary_confusion_matrix(pred, y)
    support = [int((y == 0).sum()), int((y == 1).sum())]
    present = [s > 0 for s in support]
    out: dict = {
        "threshold": float(threshold),
        "accuracy": float((pred == y).float().mean()),
        # Balanced accuracy is the mean recall over the classes that are present.
        "balanced_accuracy": float(recall[torch.tensor(present)].mean()),
        "real_recall": float(recall[0]) if present[0] else None,
        "fake_recall": float(recall[1]) if present[1] else None,
        "real_precision": float(precision[0]),
        "fake_precision": float(precision[1]),
        "real_f1": float(f1[0]),
        "fake_f1": float(f1[1]),
        "confusion_matrix": cm.tolist(),
        "support": {"real": support[0], "fake": support[1]},
        "undefined": [],
    }
    if all(present):
        out["roc_auc"] = float(binary_auroc(p, y))
        out["pr_auc"] = float(binary_average_precision(p, y))
        out["eer"] = equal_error_rate(y, p)
    else:
        missing = "real" if not present[0] else "fake"
        for k in ("roc_auc", "pr_auc", "eer", f"{missing}_recall"):
            out[k] = None
            out["undefined"].append(f"{k}: no {missing} samples in this split")
        log.error("metrics need both classes: no %s samples; %s reported as null", missing, out["undefined"])
    return out


def classification_report(m: dict) -> dict:
    """The sklearn-style report of the paper's figures 7 and 8: per class, accuracy, macro and weighted avg."""
    s_r, s_f = m["support"]["real"], m["support"]["fake"]
    rows = {
        "real": {"precision": m["real_precision"], "recall": m["real_recall"], "f1": m["real_f1"], "support": s_r},
        "fake": {"precision": m["fake_precision"], "recall": m["fake_recall"], "f1": m["fake_f1"], "support": s_f},
    }
    n = max(s_r + s_f, 1)
    for name, w in (("macro avg", (0.5, 0.5)), ("weighted avg", (s_r / n, s_f / n))):
        rows[name] = {
            k: sum(wi * (rows[c][k] or 0.0) for wi, c in zip(w, ("real", "fake")))
            for k in ("precision", "recall", "f1")
        }
        rows[name]["support"] = s_r + s_f
    rows["accuracy"] = {"f1": m["accuracy"], "support": s_r + s_f}
    return rows


def format_report(m: dict, title: str = "") -> str:
    """A classification report as fixed-width text, like the paper's figures."""
    rep = classification_report(m)
    lines = [title] if title else []
    lines.append(f"{'':>14}{'precision':>10}{'recall':>10}{'f1-score':>10}{'support':>10}")
    for name in ("real", "fake"):
        r = rep[name]
        rec = "n/a" if r["recall"] is None else f"{r['recall']:.2f}"
        lines.append(f"{name:>14}{r['precision']:>10.2f}{rec:>10}{r['f1']:>10.2f}{r['support']:>10}")
    lines.append(f"{'accuracy':>14}{'':>10}{'':>10}{rep['accuracy']['f1']:>10.2f}{rep['accuracy']['support']:>10}")
    for name in ("macro avg", "weighted avg"):
        r = rep[name]
        lines.append(f"{name:>14}{r['precision']:>10.2f}{r['recall']:>10.2f}{r['f1']:>10.2f}{r['support']:>10}")
    return "\n".join(lines)


class DetectionMetrics(Metric):
    """Keeps (p_fake, label) for an epoch, synchronised across processes, and computes `detection_metrics`."""

    full_state_update = False

    def __init__(self, threshold: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold
        self.add_state("p_fake", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, p_fake: torch.Tensor, labels: torch.Tensor) -> None:
        self.p_fake.append(p_fake.detach().float().flatten())
        self.labels.append(labels.detach().long().flatten())

    def gathered(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All (labels, p_fake) of the epoch from every process, on the CPU."""
        with self.sync_context():
            return self._local()

    def _local(self) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.p_fake if isinstance(self.p_fake, torch.Tensor) else torch.cat(self.p_fake) if self.p_fake else None
        y = self.labels if isinstance(self.labels, torch.Tensor) else torch.cat(self.labels) if self.labels else None
        if p is None or y is None:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0)
        return y.cpu(), p.cpu()

    def compute(self) -> dict:
        y, p = self._local()  # compute() runs inside torchmetrics' own sync
        return detection_metrics(y, p, self.threshold)
