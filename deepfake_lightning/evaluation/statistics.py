"""Uncertainty of the headline figures: video-level bootstrap intervals and the claim as a paired bootstrap test.

Frames of one video are not independent, so every resample draws whole videos with replacement.
A resample is a vector of video multiplicities; each metric is computed from weighted counts, so
1,000 resamples cost a few matrix products instead of 1,000 calls of `detection_metrics`.
Own code, not torchmetrics' `BootStrapper`: that one resamples single samples (frames), not groups,
and recomputes the metric objects per resample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.metrics import METRIC_KEYS, eer_crossing
from deepfake_lightning.evaluation.thresholds import rule_kwargs, select_threshold, sweep_rows, threshold_grid

# Every reported figure but the F1 scores (derived from precision and recall).
CI_METRICS = tuple(k for k in METRIC_KEYS if not k.endswith("_f1"))


# Below this many groups holding an item of a class, a bootstrap over groups cannot be trusted: the resamples
# can only recombine a handful of clusters, and cluster bootstraps are known to under-cover with few clusters.
# A stated floor, not derived from these data; REPORT.md says so beside such an interval.
MIN_GROUPS = 10


def group_weights(groups: np.ndarray, labels: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Item weights [n_boot, n]: whole groups drawn with replacement, stratified by what a group holds (real and fake
    items, real only, fake only), so every resample keeps the number of groups of each kind and no resample lacks a
    class that the split has.

    A group is an identity where the split grouped by identity, else a video (data.splits.resampling_groups): the
    items of one group are not independent, so the group is what is resampled. With one video per group this is the
    class-stratified video bootstrap.
    """
    n_boot = max(int(n_boot), 0)
    names, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    y = np.asarray(labels).astype(int)
    has_real, has_fake = np.zeros(len(names), dtype=bool), np.zeros(len(names), dtype=bool)
    np.logical_or.at(has_real, inverse, y == 0)
    np.logical_or.at(has_fake, inverse, y == 1)
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_boot, len(names)))
    for stratum in (has_real & has_fake, has_real & ~has_fake, ~has_real):
        members = np.flatnonzero(stratum)
        if len(members):
            draws = members[rng.integers(0, len(members), size=(n_boot, len(members)))]
            np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, inverse]


def group_counts(groups: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """How many groups hold a real item and how many hold a fake one: what an interval over groups rests on."""
    g, y = np.asarray(groups).astype(str), np.asarray(labels).astype(int)
    return {"real": int(len(np.unique(g[y == 0]))), "fake": int(len(np.unique(g[y == 1])))}


def few_groups(counts: Mapping[str, int], min_groups: int = MIN_GROUPS) -> bool:
    """True when a class present in the split is held by fewer than `min_groups` groups."""
    return any(0 < n < min_groups for n in counts.values())


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
    # A resample on which no threshold could be chosen is undefined, never "everything real".
    undefined = ~np.isfinite(t.ravel())
    if undefined.any():
        for k in out:
            out[k] = np.where(undefined, np.nan, out[k])
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
    eer = np.array([eer_crossing(f, 1 - t) for f, t in zip(fpr, tpr)])
    bad = (n_pos.ravel() == 0) | (n_neg.ravel() == 0)
    auc[bad], ap[bad], eer[bad] = np.nan, np.nan, np.nan
    return {"roc_auc": auc, "pr_auc": ap, "eer": eer}


def percentile_interval(samples: np.ndarray, level: float, min_share: float) -> tuple[list[float] | None, int]:
    """([low, high] of the finite samples at `level`, how many samples were finite).

    The interval is None when fewer than `min_share` of the resamples define the figure: an interval
    from what is left would describe a different population of resamples.
    """
    s = np.asarray(samples, dtype=np.float64)
    finite = s[np.isfinite(s)]
    n = len(finite)
    if n == 0 or n < min_share * len(s):
        return None, n
    lo, hi = np.quantile(finite, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)], n


def intervals(samples: Mapping[str, np.ndarray], level: float, min_share: float) -> dict[str, Any]:
    """{"ci": {figure: [low, high] | None}, "defined": {figure: resamples defining it}} for resampled figures."""
    ci, defined = {}, {}
    for k, v in samples.items():
        ci[k], defined[k] = percentile_interval(v, level, min_share)
    return {"ci": ci, "defined": defined}


@dataclass(frozen=True)
class Rechosen:
    """The threshold the rule picked on each val resample (NaN where none could be chosen) and how many of those
    picks fell back to the rule's `fallback` criterion (its constraint could not be met on that resample)."""

    thresholds: np.ndarray
    fell_back: int


def rechosen_thresholds(
    labels: np.ndarray, p_fake: np.ndarray, groups: np.ndarray, rule: Mapping[str, Any], n_boot: int, seed: int
) -> Rechosen:
    """The threshold the rule picks on each stratified group resample of val (the threshold's own variability).

    The rows of each resample come from `sweep_rows`, as the point choice's do, so every criterion reads the same
    fields on both. Fallbacks are counted, not logged one by one.
    """
    w = group_weights(groups, labels, n_boot, seed)
    ts = threshold_grid(float(rule["step"]))
    kw = rule_kwargs(rule)
    out = np.empty(n_boot)
    fell_back = 0
    for b in range(n_boot):
        try:
            choice = select_threshold(sweep_rows(labels, p_fake, ts, w[b]), **kw, warn=False)
        except ValueError:  # a split with one class: no threshold can be chosen on it
            out[b] = np.nan
            continue
        out[b] = choice.threshold
        fell_back += bool(choice.note)
    return Rechosen(out, fell_back)


def resampled_metrics(
    labels: np.ndarray, p_fake: np.ndarray, groups: np.ndarray, threshold: float | np.ndarray, n_boot: int, seed: int
) -> dict[str, np.ndarray]:
    """Every CI figure on each of `n_boot` stratified group resamples (`threshold`: one, or one per resample)."""
    return resampled_at(labels, p_fake, groups, [threshold], n_boot, seed)[0]


def resampled_at(
    labels: np.ndarray, p_fake: np.ndarray, groups: np.ndarray, thresholds: Sequence[Any], n_boot: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """resampled_metrics at several thresholds of one score vector: the resamples are drawn and the
    threshold-free figures (ROC AUC, PR AUC, EER) computed once, the rates once per threshold."""
    w = group_weights(groups, labels, n_boot, seed)
    y, p = np.asarray(labels).astype(int), np.asarray(p_fake, dtype=np.float64)
    ranking = _ranking_metrics(y, p, w)
    out = []
    for t in thresholds:
        m = {**weighted_rates(y, p, np.asarray(t, dtype=np.float64), w), **ranking}
        out.append({k: m[k] for k in CI_METRICS})
    return out


def outside(estimate: float | None, ci: list[float] | None) -> bool:
    """True when a point estimate lies outside its own interval (the interval re-chooses a threshold per
    resample while the estimate uses the one full-val threshold, so this can happen; reports say so)."""
    # 1e-6: the reported figures come from torchmetrics in float32, the resamples in float64.
    return estimate is not None and ci is not None and not ci[0] - 1e-6 <= estimate <= ci[1] + 1e-6


ROBUST_METRICS = ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall")  # figures under degradations


def degenerate_threshold(labels: np.ndarray, p_fake: np.ndarray, threshold: float) -> str | None:
    """'all fake' or 'all real' when the threshold flags every (or no) item of the split, else None."""
    flagged = np.asarray(p_fake) >= threshold
    if len(flagged) and flagged.all():
        return "all fake"
    if len(flagged) and not flagged.any():
        return "all real"
    return None
