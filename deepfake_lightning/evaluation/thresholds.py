"""Threshold sweep and selection (paper section 3.6, figure 10) as pure functions."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RULE_KEYS = ("criterion", "min_fake_recall", "target_fpr", "fallback")


def rule_kwargs(threshold: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a `threshold` config block that select_threshold takes."""
    return {k: threshold[k] for k in RULE_KEYS}


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold, the criterion that chose it, and why (e.g. a fallback)."""

    threshold: float
    criterion: str
    real_recall: float
    fake_recall: float
    note: str = ""


def threshold_grid(step: float) -> np.ndarray:
    """The thresholds 0.00, step, ..., 1.00 that every sweep and every resample use (threshold.step, whose
    range config.ThresholdConfig checks)."""
    return np.round(np.linspace(0.0, 1.0, int(round(1.0 / step)) + 1), 6)


def sweep_rows(labels: np.ndarray, p_fake: np.ndarray, ts: np.ndarray, w: np.ndarray | None = None) -> list[dict]:
    """One row per threshold in `ts` with every field a criterion reads (real/fake recall, fake precision, F1).

    `w`: frame weights (a bootstrap resample's multiplicities), unit when None. The point estimate and
    every resample build their rows here, so each criterion reads the same fields in both.
    """
    y = np.asarray(labels).astype(int).ravel()
    p = np.asarray(p_fake, dtype=np.float64).ravel()
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64).ravel()
    pred = p[None, :] >= ts[:, None]  # [T, N]
    real, fake = (y == 0) * w, (y == 1) * w
    tn = (~pred * real).sum(1)
    tp = (pred * fake).sum(1)
    fp = (pred * real).sum(1)
    n_real, n_fake = real.sum(), fake.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = tn / n_real if n_real > 0 else np.full(len(ts), np.nan)
        fr = tp / n_fake if n_fake > 0 else np.full(len(ts), np.nan)
        prec = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        f1 = np.where(prec + fr > 0, 2 * prec * fr / np.where(prec + fr > 0, prec + fr, 1), 0.0)
    return [
        {
            "threshold": float(t),
            "real_recall": float(a),
            "fake_recall": float(b),
            "fake_precision": float(c),
            "fake_f1": float(d),
        }
        for t, a, b, c, d in zip(ts, rr, fr, prec, f1)
    ]


def sweep_thresholds(
    labels: Sequence | np.ndarray, p_fake: Sequence | np.ndarray, step: float
) -> list[dict[str, float]]:
    """Real and fake recall, fake precision and F1 at thresholds 0.00, step, ..., 1.00 (fake when p >= t).

    A class that is absent gives a recall of NaN at every threshold. The recalls are torchmetrics'
    BinaryROC on the same grid (1 - FPR, TPR; tested), and max_real_recall is its
    BinarySpecificityAtSensitivity; own code because the rules also need precision, F1, the fallbacks and
    the whole table (stored in checkpoints and plotted), from one vectorised pass.
    """
    return sweep_rows(np.asarray(labels), np.asarray(p_fake), threshold_grid(step))


def _best(rows: list[dict[str, float]], key) -> dict[str, float]:
    # Ties go to the higher fake recall, then to the lower threshold (rows are in threshold order).
    best = rows[0]
    for r in rows[1:]:
        if (key(r), r["fake_recall"]) > (key(best), best["fake_recall"]):
            best = r
    return best


def select_threshold(
    sweep: list[dict[str, float]],
    criterion: str,
    min_fake_recall: float,
    fallback: str,
    target_fpr: float,
    warn: bool = True,
) -> ThresholdChoice:
    """Choose a threshold from a sweep (`warn`: log a fallback; resamples count theirs instead).

    - max_real_recall: the highest real recall with fake recall >= min_fake_recall (the paper's
      sweep_real_threshold); when no threshold meets it, says so and uses `fallback`.
    - target_fpr: the highest fake recall with at most `target_fpr` of real items flagged fake (an
      operator's false-alarm budget); ties go to the higher real recall; `fallback` when none meets it.
    - youden: max real_recall + fake_recall - 1.
    - balanced_accuracy: max mean of the two recalls (same argmax as youden, kept for its name).
    - f1_fake: max F1 of the fake class.
    """
    # criterion, fallback and the two rates were checked at app start (config.ThresholdConfig).
    if not sweep:
        raise ValueError("select_threshold: empty sweep")
    if any(np.isnan(r["real_recall"]) or np.isnan(r["fake_recall"]) for r in sweep[:1]):
        raise ValueError("cannot choose a threshold: the calibration split lacks one of the classes")
    if criterion in ("max_real_recall", "target_fpr"):
        if criterion == "max_real_recall":
            ok = [r for r in sweep if r["fake_recall"] >= min_fake_recall - 1e-12]
            missed = f"no threshold reaches fake recall >= {min_fake_recall}"
        else:
            ok = [r for r in sweep if 1.0 - r["real_recall"] <= target_fpr + 1e-12]
            missed = f"no threshold flags at most {target_fpr} of real items"
        if not ok:
            note = f"{missed}; fell back to {fallback}"
            if warn:
                log.warning(note)
            c = select_threshold(sweep, fallback, min_fake_recall, fallback, target_fpr, warn)
            return ThresholdChoice(c.threshold, fallback, c.real_recall, c.fake_recall, note)
        if criterion == "max_real_recall":
            best = _best(ok, lambda r: r["real_recall"])
        else:
            best = max(ok, key=lambda r: (r["fake_recall"], r["real_recall"]))
    elif criterion in ("youden", "balanced_accuracy"):
        best = _best(sweep, lambda r: r["real_recall"] + r["fake_recall"])
    else:
        best = _best(sweep, lambda r: r["fake_f1"])
    return ThresholdChoice(best["threshold"], criterion, best["real_recall"], best["fake_recall"])
