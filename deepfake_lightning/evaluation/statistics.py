"""Uncertainty of the headline figures: video-level bootstrap intervals and the claim as a paired bootstrap test.

Frames of one video are not independent, so every resample draws whole videos with replacement.
A resample is a vector of video multiplicities; each metric is computed from weighted counts, so
1,000 resamples cost a few matrix products instead of 1,000 calls of `detection_metrics`.
Own code, not torchmetrics' `BootStrapper`: that one resamples single samples (frames), not groups,
and recomputes the metric objects per resample.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.metrics import METRIC_KEYS
from deepfake_lightning.evaluation.thresholds import rule_kwargs, select_threshold

# Every reported figure but the F1 scores (derived from precision and recall).
CI_METRICS = tuple(k for k in METRIC_KEYS if not k.endswith("_f1"))
CLAIM_METRICS = ("balanced_accuracy", "real_recall", "fake_recall")


def video_multiplicities(videos: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame weights [n_boot, n_frames], video index of each frame): videos drawn with replacement."""
    _, inverse = np.unique(np.asarray(videos).astype(str), return_inverse=True)
    n_videos = int(inverse.max()) + 1 if len(inverse) else 0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_videos, size=(n_boot, n_videos))
    counts = np.stack([np.bincount(d, minlength=n_videos) for d in draws]) if n_boot else np.zeros((0, n_videos))
    return counts[:, inverse].astype(np.float64), inverse


def weighted_metrics(labels: np.ndarray, p_fake: np.ndarray, threshold: np.ndarray | float, w: np.ndarray) -> dict:
    """The CI metrics for each row of frame weights `w` [B, N] (threshold: scalar or one per row).

    With unit weights these equal `detection_metrics` (tests check it); a resample missing a class
    gives NaN for the figures that need it.
    """
    y = np.asarray(labels).astype(int)
    p = np.asarray(p_fake, dtype=np.float64)
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    out = weighted_rates(y, p, threshold, w)
    out.update(_ranking_metrics(y, p, w))
    return out


def weighted_rates(labels: np.ndarray, p_fake: np.ndarray, threshold: np.ndarray | float, w: np.ndarray) -> dict:
    """Accuracy, balanced accuracy, recalls and precisions for each row of weights (thresholded metrics only)."""
    y = np.asarray(labels).astype(int)
    p = np.asarray(p_fake, dtype=np.float64)
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    t = np.asarray(threshold, dtype=np.float64).reshape(-1, 1)
    pred = p[None, :] >= t  # [B, N]
    real, fake = (y == 0)[None, :], (y == 1)[None, :]
    tn = (w * (~pred & real)).sum(1)
    fp = (w * (pred & real)).sum(1)
    tp = (w * (pred & fake)).sum(1)
    fn = (w * (~pred & fake)).sum(1)
    n_real, n_fake = tn + fp, tp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        rr, fr = tn / n_real, tp / n_fake
        out = {
            "accuracy": (tn + tp) / (n_real + n_fake),
            "balanced_accuracy": np.where((n_real > 0) & (n_fake > 0), (rr + fr) / 2, np.where(n_real > 0, rr, fr)),
            "real_recall": rr,
            "fake_recall": fr,
            # torchmetrics gives 0 precision when nothing is predicted for a class; so do we.
            "real_precision": np.where(tn + fn > 0, tn / np.where(tn + fn > 0, tn + fn, 1), 0.0),
            "fake_precision": np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0),
        }
    return out


def _ranking_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted ROC AUC, average precision (fake positive) and EER for each row of `w`."""
    levels, inv = np.unique(-p, return_inverse=True)  # descending scores, ties merged
    n_levels = len(levels)
    onehot = np.zeros((len(p), n_levels))
    onehot[np.arange(len(p)), inv] = 1.0
    pos = (w * (y == 1)[None, :]) @ onehot  # [B, L] fake weight at each score level
    neg = (w * (y == 0)[None, :]) @ onehot
    tp, fp = np.cumsum(pos, 1), np.cumsum(neg, 1)
    n_pos, n_neg = tp[:, -1:], fp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Mann-Whitney: each real item counts the fakes scored above it, ties at half.
        above = tp - pos
        auc = ((neg * (above + 0.5 * pos)).sum(1, keepdims=True) / (n_pos * n_neg)).ravel()
        precision = tp / np.where(tp + fp > 0, tp + fp, 1)
        ap = ((pos / n_pos) * precision).sum(1)
        tpr = np.concatenate([np.zeros((len(w), 1)), tp / n_pos], 1)
        fpr = np.concatenate([np.zeros((len(w), 1)), fp / n_neg], 1)
    eer = np.array([_eer(f, 1 - t) for f, t in zip(fpr, tpr)])
    bad = (n_pos.ravel() == 0) | (n_neg.ravel() == 0)
    auc[bad], ap[bad], eer[bad] = np.nan, np.nan, np.nan
    return {"roc_auc": auc, "pr_auc": ap, "eer": eer}


def _eer(fpr: np.ndarray, fnr: np.ndarray) -> float:
    """Where FPR meets FNR, linearly interpolated (as metrics.equal_error_rate on torchmetrics' ROC)."""
    if not np.isfinite(fpr).all() or not np.isfinite(fnr).all():
        return float("nan")
    diff = fpr - fnr
    hits = np.flatnonzero(diff >= 0)
    i = int(hits[0]) if len(hits) else len(diff) - 1
    if i == 0:
        return float(fpr[0])
    d0, d1 = diff[i - 1], diff[i]
    a = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(fpr[i - 1] + a * (fpr[i] - fpr[i - 1]))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> list[float] | None:
    """[low, high] of the finite samples at `level`; None when fewer than half the resamples define it."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if len(s) < max(1, len(np.asarray(samples)) // 2):
        return None
    lo, hi = np.quantile(s, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def rechosen_thresholds(
    labels: np.ndarray, p_fake: np.ndarray, videos: np.ndarray, rule: Mapping[str, Any], n_boot: int, seed: int
) -> np.ndarray:
    """The threshold the rule picks on each video resample of val (the threshold's own variability)."""
    w, _ = video_multiplicities(videos, n_boot, seed)
    step = float(rule.get("step", 0.01))
    kw = rule_kwargs(rule)
    ts = np.round(np.linspace(0.0, 1.0, int(round(1.0 / step)) + 1), 6)
    out = np.empty(n_boot)
    for b in range(n_boot):
        m = weighted_rates(labels, p_fake, ts, w[b : b + 1])  # every threshold on one resample
        sweep = [
            {"threshold": float(t), "real_recall": float(r), "fake_recall": float(f), "fake_f1": 0.0}
            for t, r, f in zip(ts, m["real_recall"], m["fake_recall"])
        ]
        try:
            out[b] = select_threshold(sweep, **kw).threshold
        except ValueError:  # a resample with one class: no threshold can be chosen on it
            out[b] = np.nan
    return out


def bootstrap_ci(
    labels: np.ndarray,
    p_fake: np.ndarray,
    videos: np.ndarray,
    threshold: float | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, list[float] | None]:
    """95% intervals of CI_METRICS, resampling whole videos; `threshold` may be one per resample."""
    if n_boot <= 0:
        return {}
    w, _ = video_multiplicities(videos, n_boot, seed)
    m = weighted_metrics(labels, p_fake, np.asarray(threshold, dtype=np.float64), w)
    return {k: percentile_interval(m[k], level) for k in CI_METRICS}


def paired_claim(
    labels: np.ndarray,
    videos: np.ndarray,
    p_new: np.ndarray,
    t_new: float | np.ndarray,
    p_base: np.ndarray,
    t_base: float,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """The paper's claim as a paired test: the same video resamples for both models.

    Differences new - base of balanced accuracy, real recall and fake recall, each with its estimate
    and interval. Verdict: `held` when the intervals of the balanced-accuracy and real-recall
    differences are both above 0, `reversed` when either is entirely below 0, else `not shown`.
    """
    w, _ = video_multiplicities(videos, n_boot, seed)
    ones = np.ones((1, len(labels)))
    new_b = weighted_metrics(labels, p_new, np.asarray(t_new, dtype=np.float64), w)
    base_b = weighted_metrics(labels, p_base, t_base, w)
    new_1 = weighted_metrics(labels, p_new, float(np.nanmedian(np.atleast_1d(t_new))), ones)
    base_1 = weighted_metrics(labels, p_base, t_base, ones)
    out: dict[str, Any] = {}
    for k in CLAIM_METRICS:
        est = float(new_1[k][0] - base_1[k][0])
        out[k] = {"estimate": est, "ci": percentile_interval(new_b[k] - base_b[k], level)}
    out["verdict"] = claim_verdict(out)
    out["n_boot"], out["seed"], out["level"] = int(n_boot), int(seed), float(level)
    return out


def claim_verdict(diffs: Mapping[str, Any]) -> str:
    """`held`, `reversed` or `not shown` from the balanced-accuracy and real-recall difference intervals."""
    cis = [diffs[k]["ci"] for k in ("balanced_accuracy", "real_recall")]
    if any(ci is None for ci in cis):
        return "not shown"
    if all(ci[0] > 0 for ci in cis):
        return "held"
    if any(ci[1] < 0 for ci in cis):
        return "reversed"
    return "not shown"


def degenerate_threshold(labels: np.ndarray, p_fake: np.ndarray, threshold: float) -> str | None:
    """'all fake' or 'all real' when the threshold flags every (or no) item of the split, else None."""
    flagged = np.asarray(p_fake) >= threshold
    if len(flagged) and flagged.all():
        return "all fake"
    if len(flagged) and not flagged.any():
        return "all real"
    return None


def deployment_rates(real_recall: float, fake_recall: float, prevalence: float) -> dict[str, float | None]:
    """What a threshold means where a share `prevalence` of the items are fakes (Bayes' rule on the recalls).

    precision of a fake flag (PPV) = pi r_f / (pi r_f + (1 - pi)(1 - r_r));
    negative predictive value (NPV) = (1 - pi) r_r / ((1 - pi) r_r + pi (1 - r_f));
    false alarms per 10,000 real items = 10,000 (1 - r_r); flagged per 10,000 items = 10,000 (pi r_f + (1 - pi)(1 - r_r)),
    with r_r, r_f the measured real and fake recall and pi the prevalence of fakes.
    """
    pi, rr, rf = float(prevalence), float(real_recall), float(fake_recall)
    flagged = pi * rf + (1 - pi) * (1 - rr)
    passed = (1 - pi) * rr + pi * (1 - rf)
    return {
        "prevalence": pi,
        "fake_flag_precision": pi * rf / flagged if flagged > 0 else None,
        "negative_predictive_value": (1 - pi) * rr / passed if passed > 0 else None,
        "false_alarms_per_10k_real": 10_000 * (1 - rr),
        "flagged_per_10k_items": 10_000 * flagged,
    }


def expected_calibration_error(labels: np.ndarray, p_fake: np.ndarray, n_bins: int = 15) -> float:
    """ECE of p_fake against the fake label (torchmetrics' binary_calibration_error, L1, equal-width bins)."""
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    p = torch.as_tensor(np.asarray(p_fake, dtype=np.float32))
    y = torch.as_tensor(np.asarray(labels).astype(np.int64))
    return float(binary_calibration_error(p, y, n_bins=n_bins, norm="l1"))


def reliability_bins(labels: np.ndarray, p_fake: np.ndarray, n_bins: int = 15) -> dict[str, list[float]]:
    """Mean p_fake, share of fakes and count per equal-width bin (the reliability diagram's points).

    torchmetrics computes the ECE but does not return the per-bin points a diagram needs.
    """
    p, y = np.asarray(p_fake, dtype=np.float64), np.asarray(labels).astype(int)
    idx = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(idx, weights=p, minlength=n_bins) / count
        frac = np.bincount(idx, weights=(y == 1).astype(float), minlength=n_bins) / count
    keep = count > 0
    return {"confidence": conf[keep].tolist(), "fake_share": frac[keep].tolist(), "count": count[keep].tolist()}


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) on (val) labels; 1.0 when undefined.

    One scalar, so the ranking (ROC AUC) is unchanged; fitted with LBFGS on log T.
    """
    import torch

    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    y = torch.as_tensor(np.asarray(labels).astype(np.int64))
    if len(y) == 0 or len(torch.unique(y)) < 2:
        return 1.0
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp())
    return t if np.isfinite(t) and t > 0 else 1.0
