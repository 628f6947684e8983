"""Several model seeds of one experiment: per-seed rows, mean and standard deviation, and their report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.claims import CLAIM_METRICS, SEEDS_ADVISED, two_level_claim
from deepfake_lightning.evaluation.report import few_groups_sentence, num
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

    lines += [""] + recipe_lines(summary.get("recipe_claim"), len(seeds)) + ["", practice_line(summary["summary"])]
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
    """REPORT.md lines for the claim over seeds: verdict, differences with intervals, what they count, and what the
    seed count means for them."""
    if not rc:
        return ["The claim over seeds was not computed (a seed lacks a baseline, stored scores or intervals)."]

    def d(k: str) -> str:
        ci = rc[k]["ci"]
        return f"{k.replace('_', ' ')} {rc[k]['estimate']:+.3f}" + ("" if not ci else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]")

    g = rc.get("groups") or {}
    rechosen = rc.get("threshold_rechosen_on_val_resamples")
    lines = [
        f"**The claim for the recipe** (ensemble at its val-chosen threshold minus baseline at 0.5, mean over "
        f"{n_seeds} model seeds; {100 * rc['level']:.0f}% intervals: mean +- t({n_seeds - 1}) x the square root of the "
        f"seeds' variance / {n_seeds} plus the test sampling variance the seeds share, the latter from "
        f"{rc['n_boot']} resamples of whole test {g.get('unit', 'video')} groups ({g.get('real', '?')} holding real "
        f"items, {g.get('fake', '?')} holding fakes), "
        + ("each seed's threshold re-chosen on val resamples" if rechosen else "thresholds held at their val choice")
        + f"): **{rc['verdict']}**. "
        + ", ".join(d(k) for k in CLAIM_METRICS)
        + ".",
        "",
        "This is the verdict about the method; each seed's own verdict below is about one trained model. "
        + seed_advice(n_seeds),
    ]
    if rechosen and rc.get("threshold_fallbacks"):
        lines[-1] += (
            f" {rc['threshold_fallbacks']} of the {n_seeds * rc['n_boot']} threshold re-choices fell back to the "
            "rule's fallback (no threshold met its constraint on that val resample)."
        )
    if g.get("few"):
        lines[-1] += few_groups_sentence(g)
    out = [k.replace("_", " ") for k in CLAIM_METRICS if rc[k].get("outside")]
    if out:
        lines[-1] += f" The estimate of {', '.join(out)} lies outside its own interval (see README, Intervals)."
    return lines


def practice_line(sm: dict[str, Any]) -> str:
    """What the two operating points do to real and fake test items, as means over the seeds."""

    def pct(label: str, flip: bool = False) -> str:
        m = sm.get(label, {}).get("mean")
        return "n/a" if m is None else f"{100 * (1 - m if flip else m):.0f}%"

    return (
        f"In practice (means over the seeds): the ensemble at its val-chosen threshold flags "
        f"{pct('ensemble real_recall', True)} of real test frames as fake and catches {pct('ensemble fake_recall')} of "
        f"fakes; the baseline at 0.5 flags {pct('baseline@0.5 real_recall', True)} of real test frames and catches "
        f"{pct('baseline@0.5 fake_recall')} of fakes."
    )


def seed_advice(n_seeds: int) -> str:
    """What the number of seeds means for the recipe interval (tests/test_coverage.py measures its coverage)."""
    if n_seeds < 2:
        return (
            "With one seed the spread between seeds is not measured: the interval counts the test sampling only "
            f"and says nothing about the recipe; run at least {SEEDS_ADVISED} seeds."
        )
    if n_seeds < SEEDS_ADVISED:
        return (
            f"With {n_seeds} seeds the interval is valid but wide (t with {n_seeds - 1} degree of freedom; in "
            f"simulation it covers more often than its level); {SEEDS_ADVISED} or more give a tighter one."
        )
    return (
        f"{n_seeds} seeds: in simulation (clustered test items, seed and test noise) this interval covers the true "
        f"recipe difference within simulation error of its level from {SEEDS_ADVISED} seeds on."
    )
