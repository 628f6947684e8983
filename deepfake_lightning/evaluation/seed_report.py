"""The several-seeds REPORT.md: one column per seed, mean and spread, the verdict over seeds and each seed's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deepfake_lightning.evaluation.claims import CLAIM_METRICS, SEEDS_ADVISED
from deepfake_lightning.evaluation.seeds import SEED_COLUMNS
from deepfake_lightning.evaluation.wording import few_groups_sentence, num, signed_diff


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
        + ", ".join(
            f"{k.replace('_', ' ')} {signed_diff(rc[k]['estimate'], rc[k]['ci'], False)}" for k in CLAIM_METRICS
        )
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
