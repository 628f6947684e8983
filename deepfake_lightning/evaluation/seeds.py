"""Several model seeds of one experiment: per-seed rows, mean and standard deviation, and their report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.report import num
from deepfake_lightning.evaluation.statistics import CLAIM_METRICS, two_level_claim
from deepfake_lightning.results import PREDICTIONS_FILE, load_predictions

# (label, path into one seed's metrics.json)
SEED_COLUMNS = (
    ("baseline@0.5 balanced_accuracy", ("models", "baseline", "test_at_0.5", "balanced_accuracy")),
    ("baseline@0.5 real_recall", ("models", "baseline", "test_at_0.5", "real_recall")),
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
    return {
        "test_labels": pr["test_labels"],
        "test_videos": pr["test_videos"].astype(str),
        "p_new": pr["test_p_fake_ensemble"],
        "p_base": pr["test_p_fake_baseline"],
        "t_new": float(metrics["models"]["ensemble"]["threshold"]),
        "t_base": 0.5,
        "reported": (metrics["models"]["ensemble"]["test"], metrics["models"]["baseline"]["test_at_0.5"]),
        "val_labels": pr["val_labels"],
        "val_videos": pr["val_videos"].astype(str),
        "val_p_new": pr["val_p_fake_ensemble"],
    }


def threshold_rule(block: dict[str, Any]) -> dict[str, Any]:
    """The rule that chose a block's threshold (threshold_choice), with the sweep's step."""
    rule = {k: v for k, v in block["threshold_choice"].items() if k not in ("chosen_on", "note")}
    rule.setdefault("step", round(1.0 / (len(block["threshold_sweep_val"]) - 1), 6))
    return rule


def recipe_claim(folders: dict[int, Path], per_seed: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """The claim over model seeds and test videos (two-level bootstrap), with the bootstrap settings the seeds
    used; None when a seed has no baseline or no stored scores."""
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
            for k in ("val_labels", "val_videos", "val_p_new"):
                del x[k]
    out = two_level_claim(
        inputs, int(boot["n"]), int(boot["seed"]), float(boot["level"]), float(boot["min_defined_share"]),
        threshold_rule(first),
    )  # fmt: skip
    out["compared"] = "ensemble at its val-chosen threshold minus baseline at 0.5, test split, mean over seeds"
    out["scope"] = "the recipe: resamples model seeds as well as test videos"
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


def write_seed_report(out: str | Path, summary: dict[str, Any]) -> Path:
    """OUT/REPORT.md: one column per seed, then mean and standard deviation; each seed's verdict."""
    out = Path(out)
    seeds = [str(s) for s in summary["seeds"]]

    lines = [
        "# deepfake-lightning report: several model seeds",
        "",
        f"Model seeds {', '.join(seeds)}; one extraction and one split (fingerprint `{summary['split_fingerprint']}`)",
        "shared by every seed. Each seed's full report is in `seed-N/REPORT.md`. Test figures; the ensemble at its",
        "val-chosen threshold, the baseline at 0.5. std: sample standard deviation over the seeds.",
        "",
        "| Figure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | std |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for label, _ in SEED_COLUMNS:
        sm = summary["summary"][label]
        vals = " | ".join(num(summary["rows"][s][label]) for s in seeds)
        lines.append(f"| {label} | {vals} | {num(sm['mean'])} | {num(sm['std'])} |")

    def interval(ci: list[float] | None) -> str:
        return "n/a" if not ci else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"

    lines += [""] + recipe_lines(summary.get("recipe_claim"), len(seeds))
    lines += [
        "",
        "The paired test per seed (this trained model, on this test split; intervals of ensemble - baseline):",
        "",
    ]
    for s in seeds:
        ci = summary["claim_intervals"][s]
        lines.append(
            f"- seed {s}: **{summary['verdicts'][s]}** (balanced accuracy {interval(ci['balanced_accuracy'])}, "
            f"real recall {interval(ci['real_recall'])})"
        )
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    (out / "seeds.json").write_text(json.dumps(summary, indent=2))
    return path


def recipe_lines(rc: dict[str, Any] | None, n_seeds: int) -> list[str]:
    """REPORT.md lines for the claim over seeds: verdict, differences with intervals, and how many seeds to run."""
    if not rc:
        return ["The claim over seeds was not computed (a seed lacks a baseline, stored scores or intervals)."]

    def d(k: str) -> str:
        ci = rc[k]["ci"]
        return f"{k.replace('_', ' ')} {rc[k]['estimate']:+.3f}" + ("" if not ci else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]")

    need = rc["seeds_recommended"]
    lines = [
        f"**The claim for the recipe** (ensemble at its val-chosen threshold minus baseline at 0.5, mean over "
        f"{n_seeds} model seeds; {100 * rc['level']:.0f}% intervals from a two-level bootstrap that resamples the "
        f"seeds and, within each resample, the test videos, thresholds re-chosen on val resamples): "
        f"**{rc['verdict']}**. " + ", ".join(d(k) for k in CLAIM_METRICS) + ".",
        "",
        "This is the verdict about the method; each seed's own verdict below is about one trained model. ",
    ]
    if n_seeds < need:
        lines[-1] += (
            f"With {n_seeds} seeds, a resample made of one seed repeated has probability {n_seeds ** (1 - n_seeds):.3f}, "
            f"more than the interval's tail ({(1 - rc['level']) / 2:.3f}), so one seed alone can set an end of the "
            f'interval: run at least {need} seeds (`SEEDS="{" ".join(str(i) for i in range(need))}"`) to trust it.'
        )
    else:
        lines[-1] += f"{n_seeds} seeds: at least the {need} needed for the seed level to be resampled meaningfully."
    return lines
