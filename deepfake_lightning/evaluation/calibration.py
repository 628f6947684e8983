"""Calibration of scores: a bounded temperature or Platt fit on val, checked on held-out folds, and ECE."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


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


def _fit_shift_temperature(d: np.ndarray, y: np.ndarray, method: str) -> tuple[float, float]:
    """(T, c) minimising the NLL of sigmoid((d - c) / T) against y, T within TEMPERATURE_BOUNDS and c within the
    range of d, through a smooth reparametrisation the optimiser cannot leave."""
    import torch

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
    return t, c


CALIBRATION_FOLDS = 5


def heldout_nll(
    d: np.ndarray, y: np.ndarray, groups: np.ndarray, method: str, folds: int = CALIBRATION_FOLDS
) -> tuple[float, float] | None:
    """(NLL before, NLL after) of a calibration judged on held-out data: val's groups dealt into `folds` folds, each
    fold scored by the fit on the others. None when a training part lacks a class or there are too few groups."""
    names, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if len(names) < folds:
        return None
    fold_of = np.random.default_rng(0).permutation(len(names)) % folds
    before = after = 0.0
    for k in range(folds):
        held = fold_of[inverse] == k
        fit_d, fit_y = d[~held], y[~held]
        if len(np.unique(fit_y)) < 2 or not np.ptp(fit_d) > 0 or not held.any():
            return None
        t, c = _fit_shift_temperature(fit_d, fit_y, method)
        before += _nll(d[held], y[held], 1.0, 0.0) * held.sum()
        after += _nll(d[held], y[held], t, -c / t) * held.sum()
    return before / len(y), after / len(y)


def fit_calibration(
    logits: np.ndarray, labels: np.ndarray, method: str, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """Fit p_fake = sigmoid((d - c) / T), d = logit_fake - logit_real, by NLL on (val) labels, within bounds.

    `temperature`: T only (c = 0); `platt`: T and the shift c (binary Platt scaling on the logit difference).
    T stays in TEMPERATURE_BOUNDS and c within the range of val's d (a shift past every item would call them
    all one class). Returned as `temperature` T and `bias` b = -c / T (p_fake = sigmoid(d / T + b), what
    EnsembleModule applies). `apply` is False, with the reason, when the fit reaches a bound or does not lower
    the NLL on held-out data: `groups` (val's identities or videos) are dealt into CALIBRATION_FOLDS folds and each
    is scored by a fit on the others (an in-sample NLL almost always drops, so it would almost never refuse).
    Without groups, or with too few, the check is in-sample and `checked_on` says so. A temperature alone cannot
    remove a bias (a specialist whose scores lean to one class): its NLL optimum runs to the upper bound, which
    is why `platt` has the shift.
    """
    if method not in ("temperature", "platt"):
        raise ValueError(f"calibration method must be temperature or platt, got {method!r}")
    z = np.asarray(logits, dtype=np.float64)
    d = z[:, 1] - z[:, 0] if z.ndim == 2 else z
    y = np.asarray(labels).astype(np.float64)
    out: dict[str, Any] = {"method": method, "temperature": 1.0, "bias": 0.0, "apply": False}
    if len(y) == 0 or len(np.unique(y)) < 2 or not np.ptp(d) > 0:
        out["reason"] = "val lacks a class or its scores are all equal: nothing to fit"
        return out
    t, c = _fit_shift_temperature(d, y, method)
    mid, half = (d.min() + d.max()) / 2, (d.max() - d.min()) / 2
    b = -c / t
    before, after = _nll(d, y, 1.0, 0.0), _nll(d, y, t, b)
    out.update({"temperature": t, "bias": b, "shift": c, "nll_val_before": before, "nll_val_after": after})
    held = heldout_nll(d, y, groups, method) if groups is not None else None
    if held is not None:
        before, after = held
        out.update({"nll_heldout_before": before, "nll_heldout_after": after,
                    "checked_on": f"{CALIBRATION_FOLDS} held-out folds of val, by group"})  # fmt: skip
    else:
        out["checked_on"] = "val itself (in-sample: too few groups for held-out folds), so it rarely refuses"
    at_bound = [
        name
        for name, hit in (
            (f"temperature at its upper bound {TEMPERATURE_BOUNDS[1]:g}", t >= TEMPERATURE_BOUNDS[1] * 0.99),
            (f"temperature at its lower bound {TEMPERATURE_BOUNDS[0]:g}", t <= TEMPERATURE_BOUNDS[0] * 1.01),
            ("shift at an end of val's logit range", method == "platt" and abs(c - mid) >= 0.99 * half),
        )
        if hit
    ]
    where = "held-out val NLL" if held is not None else "val NLL (in-sample)"
    if at_bound:
        out["reason"] = "the fit reached a bound (" + ", ".join(at_bound) + "): not applied"
    elif not after < before - 1e-9:
        out["reason"] = f"the fit does not lower the {where} ({before:.4f} -> {after:.4f}): not applied"
    else:
        out["apply"] = True
    return out


def calibrated_logits(logits: np.ndarray, temperature: float, bias: float) -> np.ndarray:
    """Two-class logits whose softmax is sigmoid(d / T + b): z / T, plus b on the fake logit."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z[:, 1] += float(bias)
    return z


def p_fake_from_logits(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """softmax(logits)[:, 1] as float64 numpy."""
    t = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    return torch.softmax(t, dim=1)[:, 1].numpy()


def calibrate(
    evaluated: dict, val_labels: np.ndarray, test_labels: np.ndarray, how: str, val_groups: np.ndarray | None = None
) -> dict[str, Any]:
    """A calibration per model fitted on val logits (bounded; see statistics.fit_calibration), and ECE on val
    and test before and after it.

    `how=none` fits Platt scaling for the report only; `temperature` or `platt` applies each model's fit
    downstream, except where the fit reached a bound or did not lower the NLL on held-out folds of val's groups
    (then that model keeps its raw scores, and `applied` is False for it with the reason).
    """
    method = "platt" if how == "none" else how
    out: dict[str, Any] = {
        "requested": how,
        "method": f"{method} scaling of the logit difference, NLL on val, bounded",
        "applied": False,
        "models": {},
    }
    for name, (lv, lt) in evaluated.items():
        fit = fit_calibration(lv, val_labels, method, val_groups)
        row: dict[str, Any] = {**fit, "applied": how != "none" and fit["apply"]}
        del row["apply"]
        if how != "none" and not fit["apply"]:
            log.warning("calibration of %s not applied: %s", name, fit["reason"])
        t, b = (fit["temperature"], fit["bias"]) if fit["apply"] else (1.0, 0.0)
        for split, logits, labels in (("val", lv, val_labels), ("test", lt, test_labels)):
            before, after = p_fake_from_logits(logits), p_fake_from_logits(calibrated_logits(logits, t, b))
            row[f"ece_{split}_before"] = expected_calibration_error(labels, before)
            row[f"ece_{split}_after"] = expected_calibration_error(labels, after)
            row[f"reliability_{split}_before"] = reliability_bins(labels, before)
            row[f"reliability_{split}_after"] = reliability_bins(labels, after)
        out["models"][name] = row
    out["applied"] = any(r["applied"] for r in out["models"].values())
    return out
