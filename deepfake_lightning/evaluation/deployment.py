"""What a threshold means where the detector runs: precision of a fake flag, NPV and false alarms at a share of fakes."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepfake_lightning.evaluation.statistics import percentile_interval

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


def deployment_summary(models: dict[str, Any]) -> dict[str, Any]:
    """Each model at its val-chosen threshold (and the baseline at 0.5) at each deployment prevalence of fakes,
    with the intervals evaluate_scores computed from the same resamples as the recalls'."""
    out: dict[str, Any] = {}
    for name, block in models.items():
        for label, dep in (block.get("deployment") or {}).items():
            if label == "val-chosen" or name == "baseline":
                out[f"{name}@{label}"] = dep
    return out
