"""Several model seeds of one experiment: per-seed rows, mean and standard deviation, the claim over seeds
(evaluation/seed_report.py writes their REPORT.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.claims import two_level_claim
from deepfake_lightning.results import PREDICTIONS_FILE, load_predictions

# (label, path into one seed's metrics.json)
SEED_COLUMNS = (
    ("baseline@0.5 balanced_accuracy", ("models", "baseline", "test_at_0.5", "balanced_accuracy")),
    ("baseline@0.5 real_recall", ("models", "baseline", "test_at_0.5", "real_recall")),
    ("baseline@0.5 fake_recall", ("models", "baseline", "test_at_0.5", "fake_recall")),
    ("ensemble threshold (val)", ("models", "ensemble", "threshold")),
    ("ensemble balanced_accuracy", ("models", "ensemble", "test", "balanced_accuracy")),
    ("ensemble real_recall", ("models", "ensemble", "test", "real_recall")),
    ("ensemble fake_recall", ("models", "ensemble", "test", "fake_recall")),
    ("ensemble roc_auc", ("models", "ensemble", "test", "roc_auc")),
    ("general roc_auc", ("models", "general", "test", "roc_auc")),
    ("specialist roc_auc", ("models", "specialist", "test", "roc_auc")),
    ("claim: balanced_accuracy difference", ("claim", "balanced_accuracy", "estimate")),
    ("claim: real_recall difference", ("claim", "real_recall", "estimate")),
    ("claim: fake_recall difference", ("claim", "fake_recall", "estimate")),
)


def _get(d: Any, path: tuple[str, ...]) -> float | None:
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return None if d is None else float(d)


def seed_inputs(folder: str | Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """What two_level_claim needs of one seed's results folder: its stored test and val scores (ensemble as
    evaluated, baseline) from predictions.npz, and the two thresholds of its claim."""
    pr = load_predictions(folder)
    # A folder written before groups were stored: its resamples draw videos (REPORT.md names the unit).
    groups = {s: pr[f"{s}_groups" if f"{s}_groups" in pr else f"{s}_videos"].astype(str) for s in ("val", "test")}
    return {
        "test_labels": pr["test_labels"],
        "test_groups": groups["test"],
        "p_new": pr["test_p_fake_ensemble"],
        "p_base": pr["test_p_fake_baseline"],
        "t_new": float(metrics["models"]["ensemble"]["threshold"]),
        "t_base": 0.5,
        "reported": (metrics["models"]["ensemble"]["test"], metrics["models"]["baseline"]["test_at_0.5"]),
        "val_labels": pr["val_labels"],
        "val_groups": groups["val"],
        "val_p_new": pr["val_p_fake_ensemble"],
    }


def threshold_rule(block: dict[str, Any]) -> dict[str, Any]:
    """The rule that chose a block's threshold (threshold_choice), with the sweep's step."""
    rule = {k: v for k, v in block["threshold_choice"].items() if k not in ("chosen_on", "note")}
    rule.setdefault("step", round(1.0 / (len(block["threshold_sweep_val"]) - 1), 6))
    return rule


def recipe_claim(folders: dict[int, Path], per_seed: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """The claim over model seeds (claims.two_level_claim: the seeds' spread plus the shared test sampling), with
    the bootstrap settings the seeds used; None when a seed has no baseline or no stored scores."""
    if any("baseline" not in m.get("models", {}) or not (folders[s] / PREDICTIONS_FILE).is_file()
           for s, m in per_seed.items()):  # fmt: skip
        return None
    first = next(iter(per_seed.values()))["models"]["ensemble"]
    boot = first.get("bootstrap")
    if not boot:
        return None
    inputs = [seed_inputs(folders[s], m) for s, m in per_seed.items()]
    if not boot["threshold_rechosen_on_val_resamples"]:
        for x in inputs:
            for k in ("val_labels", "val_groups", "val_p_new"):
                del x[k]
    out = two_level_claim(inputs, int(boot["n"]), int(boot["seed"]), float(boot["level"]), threshold_rule(first))
    out["groups"]["unit"] = (boot.get("groups") or {}).get("unit", "video")
    out["compared"] = "ensemble at its val-chosen threshold minus baseline at 0.5, test split, mean over seeds"
    out["scope"] = "the recipe: counts the spread between model seeds as well as the test set's sampling"
    return out


def seed_summary(per_seed: dict[int, dict[str, Any]], folders: dict[int, Path] | None = None) -> dict[str, Any]:
    """{seeds, split_fingerprint, rows: {seed: {column: value}}, summary: {column: {mean, std, n}}, verdicts}.

    std is the sample standard deviation (ddof=1) over the seeds that have the value; every seed must
    share one split (they share the extraction and split.json), else ValueError.
    """
    fps = {s: (m.get("dataset") or {}).get("split_fingerprint") for s, m in per_seed.items()}
    if len(set(fps.values())) > 1:
        raise ValueError(f"seeds were evaluated on different splits: {fps}")
    rows = {str(s): {label: _get(m, path) for label, path in SEED_COLUMNS} for s, m in per_seed.items()}
    summary = {}
    for label, _ in SEED_COLUMNS:
        vals = np.array([r[label] for r in rows.values() if r[label] is not None], dtype=np.float64)
        summary[label] = {
            "mean": float(vals.mean()) if len(vals) else None,
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
            "n": int(len(vals)),
        }
    recipe = recipe_claim(folders, per_seed) if folders else None
    return {
        "recipe_claim": recipe,
        "seeds": [int(s) for s in per_seed],
        "split_fingerprint": next(iter(fps.values())),
        "rows": rows,
        "summary": summary,
        "verdicts": {str(s): (m.get("claim") or {}).get("verdict") for s, m in per_seed.items()},
        "claim_intervals": {
            str(s): {k: (m.get("claim") or {}).get(k, {}).get("ci") for k in ("balanced_accuracy", "real_recall")}
            for s, m in per_seed.items()
        },  # fmt: skip
    }
