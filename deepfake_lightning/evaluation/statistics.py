"""Uncertainty of the headline figures: video-level bootstrap intervals and the claim as a paired bootstrap test.

Frames of one video are not independent, so every resample draws whole videos with replacement.
A resample is a vector of video multiplicities; each metric is computed from weighted counts, so
1,000 resamples cost a few matrix products instead of 1,000 calls of `detection_metrics`.
Own code, not torchmetrics' `BootStrapper`: that one resamples single samples (frames), not groups,
and recomputes the metric objects per resample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.metrics import METRIC_KEYS
from deepfake_lightning.evaluation.thresholds import rule_kwargs, select_threshold, sweep_rows, threshold_grid

# Every reported figure but the F1 scores (derived from precision and recall).
CI_METRICS = tuple(k for k in METRIC_KEYS if not k.endswith("_f1"))
CLAIM_METRICS = ("balanced_accuracy", "real_recall", "fake_recall")


def video_multiplicities(
    videos: np.ndarray, labels: np.ndarray, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(frame weights [n_boot, n_frames], video index of each frame): a stratified bootstrap of whole videos.

    Each resample draws, with replacement, as many real videos among the real ones and as many fake
    videos among the fake ones as the split has (a video's class is its first frame's label), so no
    resample lacks a class that the split has.
    """
    names, first, inverse = np.unique(np.asarray(videos).astype(str), return_index=True, return_inverse=True)
    n_videos = len(names)
    video_label = np.asarray(labels).astype(int)[first] if n_videos else np.zeros(0, int)
    rng = np.random.default_rng(seed)
    counts = np.zeros((max(n_boot, 0), n_videos))
    for c in np.unique(video_label):
        members = np.flatnonzero(video_label == c)
        draws = members[rng.integers(0, len(members), size=(max(n_boot, 0), len(members)))]
        np.add.at(counts, (np.arange(max(n_boot, 0))[:, None], draws), 1.0)
    return counts[:, inverse], inverse


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


def rechosen_thresholds(
    labels: np.ndarray, p_fake: np.ndarray, videos: np.ndarray, rule: Mapping[str, Any], n_boot: int, seed: int
) -> np.ndarray:
    """The threshold the rule picks on each stratified video resample of val (the threshold's own variability).

    The rows of each resample come from `sweep_rows`, as the point choice's do, so every criterion
    reads the same fields on both. NaN where no threshold can be chosen (a split lacking a class).
    """
    w, _ = video_multiplicities(videos, labels, n_boot, seed)
    ts = threshold_grid(float(rule["step"]))
    kw = rule_kwargs(rule)
    out = np.empty(n_boot)
    for b in range(n_boot):
        try:
            out[b] = select_threshold(sweep_rows(labels, p_fake, ts, w[b]), **kw).threshold
        except ValueError:  # a split with one class: no threshold can be chosen on it
            out[b] = np.nan
    return out


def resampled_metrics(
    labels: np.ndarray, p_fake: np.ndarray, videos: np.ndarray, threshold: float | np.ndarray, n_boot: int, seed: int
) -> dict[str, np.ndarray]:
    """Every CI figure on each of `n_boot` stratified video resamples (`threshold`: one, or one per resample)."""
    return resampled_at(labels, p_fake, videos, [threshold], n_boot, seed)[0]


def resampled_at(
    labels: np.ndarray, p_fake: np.ndarray, videos: np.ndarray, thresholds: Sequence[Any], n_boot: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """resampled_metrics at several thresholds of one score vector: the resamples are drawn and the
    threshold-free figures (ROC AUC, PR AUC, EER) computed once, the rates once per threshold."""
    w, _ = video_multiplicities(videos, labels, n_boot, seed)
    y, p = np.asarray(labels).astype(int), np.asarray(p_fake, dtype=np.float64)
    ranking = _ranking_metrics(y, p, w)
    out = []
    for t in thresholds:
        m = {**weighted_rates(y, p, np.asarray(t, dtype=np.float64), w), **ranking}
        out.append({k: m[k] for k in CI_METRICS})
    return out


def bootstrap_ci(
    labels: np.ndarray,
    p_fake: np.ndarray,
    videos: np.ndarray,
    threshold: float | np.ndarray,
    n_boot: int,
    seed: int,
    level: float,
    min_share: float,
) -> dict[str, Any]:
    """{"ci", "defined"} of CI_METRICS over stratified video resamples; `threshold` may be one per resample."""
    if n_boot <= 0:
        return {"ci": {}, "defined": {}}
    return intervals(resampled_metrics(labels, p_fake, videos, threshold, n_boot, seed), level, min_share)


def paired_differences(
    labels: np.ndarray,
    videos: np.ndarray,
    p_new: np.ndarray,
    t_new: float | np.ndarray,
    p_base: np.ndarray,
    t_base: float | np.ndarray,
    keys: Sequence[str],
    n_boot: int,
    seed: int,
    level: float,
    min_share: float,
    reported: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> dict[str, Any]:
    """new - base for each figure in `keys`, on the same stratified video resamples of one test split.

    `t_new`, `t_base`: a threshold each, or one per resample (re-chosen on val resamples). `reported`: the
    (new, base) figure blocks a report shows; each estimate is exactly their difference.
    """
    new_b = resampled_metrics(labels, p_new, videos, t_new, n_boot, seed)
    base_b = resampled_metrics(labels, p_base, videos, t_base, n_boot, seed)
    out: dict[str, Any] = {}
    for k in keys:
        ci, n = percentile_interval(new_b[k] - base_b[k], level, min_share)
        est = None if reported[0][k] is None or reported[1][k] is None else float(reported[0][k] - reported[1][k])
        out[k] = {"estimate": est, "ci": ci, "defined": n}
    return out


def paired_claim(
    labels: np.ndarray,
    videos: np.ndarray,
    p_new: np.ndarray,
    t_new: float,
    p_base: np.ndarray,
    t_base: float,
    n_boot: int,
    seed: int,
    level: float,
    min_share: float,
    t_new_resampled: np.ndarray | None = None,
    reported: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The paper's claim as a paired test: the same video resamples for both models.

    Differences new - base of balanced accuracy, real recall and fake recall. The estimate is the
    difference of the two reported figures (new at `t_new`, its val-chosen threshold; base at
    `t_base`); the interval uses `t_new_resampled` (one threshold per resample, re-chosen on val
    resamples) when given. `reported`: the (new, base) figure blocks a report shows beside the claim
    (computed here when not given). Verdict: `held` when the intervals of the balanced-accuracy and
    real-recall differences are both above 0, `reversed` when either is entirely below 0, else `not shown`.
    """
    if reported is None:
        ones = np.ones((1, len(labels)))
        new_1 = weighted_metrics(labels, p_new, float(t_new), ones)
        base_1 = weighted_metrics(labels, p_base, float(t_base), ones)
        reported = ({k: float(new_1[k][0]) for k in CLAIM_METRICS}, {k: float(base_1[k][0]) for k in CLAIM_METRICS})
    t_b = float(t_new) if t_new_resampled is None else t_new_resampled
    out = paired_differences(labels, videos, p_new, t_b, p_base, float(t_base), CLAIM_METRICS, n_boot, seed, level,
                             min_share, reported)  # fmt: skip
    out["verdict"] = claim_verdict(out)
    out["n_boot"], out["seed"], out["level"], out["min_defined_share"] = int(n_boot), int(seed), float(level), min_share
    return out


def interval_verdict(diffs: Mapping[str, Any], keys: Sequence[str], better: str, worse: str) -> str:
    """`better` when every named difference's interval is above 0, `worse` when one is entirely below 0, else
    `not shown` (an interval that includes 0, or none): never a verdict from a point estimate."""
    cis = [diffs[k]["ci"] for k in keys]
    if any(ci is None for ci in cis):
        return "not shown"
    if all(ci[0] > 0 for ci in cis):
        return better
    if any(ci[1] < 0 for ci in cis):
        return worse
    return "not shown"


# What a with/without comparison (pseudo-fakes, degradations) is judged and tabulated on.
COMPARISON_METRICS = ("roc_auc", "balanced_accuracy")
ROBUST_METRICS = ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall")  # figures under degradations


def comparison_verdict(diffs: Mapping[str, Any]) -> str:
    """`helped` / `hurt` / `not shown` from the ROC AUC and balanced-accuracy difference intervals."""
    return interval_verdict(diffs, COMPARISON_METRICS, "helped", "hurt")


def seeds_needed(level: float) -> int:
    """The fewest seeds n for which resamples made of one seed repeated (probability n^(1 - n)) stay inside
    the interval's tail ((1 - level) / 2): with fewer, one seed alone can set an end of the interval."""
    n = 2
    while n ** (1 - n) >= (1 - level) / 2:
        n += 1
    return n


def two_level_claim(per_seed: Sequence[Mapping[str, Any]], n_boot: int, seed: int, level: float,
                    min_share: float, rule: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The claim for the recipe: a two-level bootstrap that resamples model seeds and test videos.

    `per_seed`: one mapping per model seed with `test_labels`, `test_videos`, `p_new`, `p_base` (test),
    `t_new`, `t_base`, optionally `reported` (the seed's new and base figure blocks) and, for re-chosen
    thresholds, `val_labels`, `val_videos`, `val_p_new`. Every seed
    shares one split. Resample b draws the seeds with replacement, one stratified resample of test videos
    (shared by every seed and both models: paired) and one of val (each seed re-chooses its threshold on
    it); the difference is the mean over the drawn seeds. The estimate is the mean over seeds of each
    seed's reported difference.
    """
    n_seeds = len(per_seed)
    first = per_seed[0]
    for s in per_seed[1:]:
        if not np.array_equal(np.asarray(s["test_videos"]).astype(str), np.asarray(first["test_videos"]).astype(str)):
            raise ValueError("two_level_claim: the seeds were not tested on the same videos (one split for all)")
    diffs = {k: np.empty((n_seeds, n_boot)) for k in CLAIM_METRICS}
    estimates = {k: np.empty(n_seeds) for k in CLAIM_METRICS}
    ones = np.ones((1, len(first["test_labels"])))
    for i, s in enumerate(per_seed):
        labels, videos = s["test_labels"], s["test_videos"]
        t_b: float | np.ndarray = float(s["t_new"])
        if "val_p_new" in s:
            t_b = rechosen_thresholds(s["val_labels"], s["val_p_new"], s["val_videos"], rule, n_boot, seed + 1)
        new_b = resampled_metrics(labels, s["p_new"], videos, t_b, n_boot, seed)
        base_b = resampled_metrics(labels, s["p_base"], videos, float(s["t_base"]), n_boot, seed)
        new_1 = weighted_metrics(labels, s["p_new"], float(s["t_new"]), ones)
        base_1 = weighted_metrics(labels, s["p_base"], float(s["t_base"]), ones)
        if "reported" in s:  # the seed's own reported blocks: the estimate is exactly their difference
            new_1 = {k: [s["reported"][0][k]] for k in CLAIM_METRICS}
            base_1 = {k: [s["reported"][1][k]] for k in CLAIM_METRICS}
        for k in CLAIM_METRICS:
            diffs[k][i] = new_b[k] - base_b[k]
            estimates[k][i] = new_1[k][0] - base_1[k][0]
    rng = np.random.default_rng(seed + 2)
    drawn = rng.integers(0, n_seeds, size=(n_boot, n_seeds))  # the seeds of each resample
    out: dict[str, Any] = {}
    for k in CLAIM_METRICS:
        per_b = diffs[k][drawn, np.arange(n_boot)[:, None]].mean(1)  # NaN when a drawn seed's is undefined
        ci, n = percentile_interval(per_b, level, min_share)
        out[k] = {"estimate": float(estimates[k].mean()), "ci": ci, "defined": n}
    out["verdict"] = claim_verdict(out)
    out.update({"n_boot": int(n_boot), "seed": int(seed), "level": float(level), "min_defined_share": min_share,
                "n_seeds": n_seeds, "seeds_recommended": seeds_needed(level),
                "resampled": "model seeds and test videos (two-level bootstrap); thresholds re-chosen on val"
                if "val_p_new" in first else "model seeds and test videos (two-level bootstrap)"})  # fmt: skip
    return out


def claim_verdict(diffs: Mapping[str, Any]) -> str:
    """`held`, `reversed` or `not shown` from the balanced-accuracy and real-recall difference intervals."""
    return interval_verdict(diffs, ("balanced_accuracy", "real_recall"), "held", "reversed")


def degenerate_threshold(labels: np.ndarray, p_fake: np.ndarray, threshold: float) -> str | None:
    """'all fake' or 'all real' when the threshold flags every (or no) item of the split, else None."""
    flagged = np.asarray(p_fake) >= threshold
    if len(flagged) and flagged.all():
        return "all fake"
    if len(flagged) and not flagged.any():
        return "all real"
    return None


DEPLOYMENT_KEYS = (
    "fake_flag_precision",
    "negative_predictive_value",
    "false_alarms_per_10k_real",
    "flagged_per_10k_items",
)


def _deployment_arrays(rr: np.ndarray, rf: np.ndarray, pi: float) -> dict[str, np.ndarray]:
    """DEPLOYMENT_KEYS for arrays of recalls (one per resample); NaN where a ratio is undefined."""
    rr, rf = np.asarray(rr, dtype=np.float64), np.asarray(rf, dtype=np.float64)
    flagged = pi * rf + (1 - pi) * (1 - rr)
    passed = (1 - pi) * rr + pi * (1 - rf)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "fake_flag_precision": np.where(flagged > 0, pi * rf / flagged, np.nan),
            "negative_predictive_value": np.where(passed > 0, (1 - pi) * rr / passed, np.nan),
            "false_alarms_per_10k_real": 10_000 * (1 - rr),
            "flagged_per_10k_items": 10_000 * flagged,
        }


def deployment_rates(
    real_recall: float,
    fake_recall: float,
    prevalence: float,
    resampled: tuple[np.ndarray, np.ndarray] | None = None,
    level: float | None = None,
    min_share: float | None = None,
) -> dict[str, Any]:
    """What a threshold means where a share `prevalence` of the items are fakes (Bayes' rule on the recalls).

    precision of a fake flag (PPV) = pi r_f / (pi r_f + (1 - pi)(1 - r_r));
    negative predictive value (NPV) = (1 - pi) r_r / ((1 - pi) r_r + pi (1 - r_f));
    false alarms per 10,000 real items = 10,000 (1 - r_r); flagged per 10,000 items = 10,000 (pi r_f + (1 - pi)(1 - r_r)),
    with r_r, r_f the measured real and fake recall and pi the prevalence of fakes. With `resampled`
    (the bootstrap's real and fake recalls, one per resample), each figure gets `<figure>_ci` from the
    same resamples as the recalls' own intervals.
    """
    pi = float(prevalence)
    point = _deployment_arrays(np.array([real_recall]), np.array([fake_recall]), pi)
    out: dict[str, Any] = {"prevalence": pi}
    for k in DEPLOYMENT_KEYS:
        v = float(point[k][0])
        out[k] = v if np.isfinite(v) else None
    if resampled is not None:
        if level is None or min_share is None:
            raise ValueError("deployment_rates: resampled recalls need the interval's level and min_share")
        boot = _deployment_arrays(resampled[0], resampled[1], pi)
        for k in DEPLOYMENT_KEYS:
            out[f"{k}_ci"] = percentile_interval(boot[k], level, min_share)[0]
    return out


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


# Calibration bounds: a fit that reaches one is not applied (it says the scores carry no usable
# confidence, not that they should be flattened to 0.5 or pushed to one class).
TEMPERATURE_BOUNDS = (0.05, 100.0)


def _nll(d: np.ndarray, y: np.ndarray, t: float, b: float) -> float:
    """Mean binary NLL of sigmoid(d / t + b) against y (fake = 1)."""
    z = d / t + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_calibration(logits: np.ndarray, labels: np.ndarray, method: str) -> dict[str, Any]:
    """Fit p_fake = sigmoid((d - c) / T), d = logit_fake - logit_real, by NLL on (val) labels, within bounds.

    `temperature`: T only (c = 0); `platt`: T and the shift c (binary Platt scaling on the logit difference).
    T stays in TEMPERATURE_BOUNDS and c within the range of val's d (a shift past every item would call them
    all one class), through a smooth reparametrisation the optimiser cannot leave. Returned as `temperature`
    T and `bias` b = -c / T (p_fake = sigmoid(d / T + b), what EnsembleModule applies). `apply` is False,
    with the reason, when the fit reaches a bound or does not lower the val NLL; the caller then keeps the
    raw scores. A temperature alone cannot remove a bias (a specialist whose scores lean to one class):
    its NLL optimum runs to the upper bound, which is why `platt` has the shift.
    """
    import torch

    if method not in ("temperature", "platt"):
        raise ValueError(f"calibration method must be temperature or platt, got {method!r}")
    z = np.asarray(logits, dtype=np.float64)
    d = z[:, 1] - z[:, 0] if z.ndim == 2 else z
    y = np.asarray(labels).astype(np.float64)
    out: dict[str, Any] = {"method": method, "temperature": 1.0, "bias": 0.0, "apply": False}
    if len(y) == 0 or len(np.unique(y)) < 2 or not np.ptp(d) > 0:
        out["reason"] = "val lacks a class or its scores are all equal: nothing to fit"
        return out
    lo, hi = np.log(TEMPERATURE_BOUNDS[0]), np.log(TEMPERATURE_BOUNDS[1])
    mid, half = (d.min() + d.max()) / 2, (d.max() - d.min()) / 2
    # log T = (lo + hi) / 2 + (hi - lo) / 2 tanh(u), c = mid + half tanh(v); start at T = 1 and, for platt,
    # c in the middle of the range (tanh's slope is largest there).
    u = torch.tensor([np.arctanh(-(lo + hi) / (hi - lo))], dtype=torch.float64, requires_grad=True)
    v = torch.zeros(1, dtype=torch.float64, requires_grad=method == "platt")
    dt, yt = torch.as_tensor(d), torch.as_tensor(y)

    def params() -> tuple[torch.Tensor, torch.Tensor]:
        t = ((lo + hi) / 2 + (hi - lo) / 2 * torch.tanh(u)).exp()
        c = mid + half * torch.tanh(v) if method == "platt" else torch.zeros(1, dtype=torch.float64)
        return t, c

    opt = torch.optim.LBFGS([u, v] if method == "platt" else [u], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        t, c = params()
        loss = torch.nn.functional.binary_cross_entropy_with_logits((dt - c) / t, yt)
        loss.backward()
        return loss

    opt.step(closure)
    t, c = (float(x.detach()) for x in params())
    b = -c / t
    before, after = _nll(d, y, 1.0, 0.0), _nll(d, y, t, b)
    out.update({"temperature": t, "bias": b, "shift": c, "nll_val_before": before, "nll_val_after": after})
    at_bound = [
        name
        for name, hit in (
            (f"temperature at its upper bound {TEMPERATURE_BOUNDS[1]:g}", t >= TEMPERATURE_BOUNDS[1] * 0.99),
            (f"temperature at its lower bound {TEMPERATURE_BOUNDS[0]:g}", t <= TEMPERATURE_BOUNDS[0] * 1.01),
            ("shift at an end of val's logit range", method == "platt" and abs(c - mid) >= 0.99 * half),
        )
        if hit
    ]
    if at_bound:
        out["reason"] = "the fit reached a bound (" + ", ".join(at_bound) + "): not applied"
    elif not after < before - 1e-9:
        out["reason"] = f"the fit does not lower the val NLL ({before:.4f} -> {after:.4f}): not applied"
    else:
        out["apply"] = True
    return out


def calibrated_logits(logits: np.ndarray, temperature: float, bias: float) -> np.ndarray:
    """Two-class logits whose softmax is sigmoid(d / T + b): z / T, plus b on the fake logit."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z[:, 1] += float(bias)
    return z
