"""dfl-eval's REPORT.md: what was evaluated on what, the figures at the run's thresholds, robustness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepfake_lightning.evaluation.claims import COMPARISON_METRICS
from deepfake_lightning.evaluation.metrics import format_report
from deepfake_lightning.evaluation.statistics import ROBUST_METRICS
from deepfake_lightning.evaluation.wording import any_outside, brackets_note, figure_cell, value_with_ci


def robustness_lines(rob: dict[str, Any]) -> list[str]:
    """REPORT.md: each kind's table (level, parameter, each model's figures with intervals) and the plots."""
    lines = [
        "## Under real-world degradations",
        "",
        f"{rob['videos']} videos; each degradation applied {rob['applied']}; each model at its stored threshold "
        f"({', '.join(f'{n} {t:.2f}' for n, t in rob['thresholds'].items())}). Severity 0 is the clean data. "
        "Brackets: the same video bootstrap as above.",
        "",
    ]
    names = list(rob["clean"])
    for kind, rows in rob["kinds"].items():
        lines += [f"**{kind}**", "", "| level | parameter | " + " | ".join(f"{n} ROC AUC | {n} balanced acc" for n in names) + " |",
                  "|---|---|" + "---|---|" * len(names)]  # fmt: skip
        for r in [{"level": 0, "parameter": "clean", "models": rob["clean"]}, *rows]:
            cells = []
            for n in names:
                f = r["models"][n]
                cells += [value_with_ci(f[k], f.get(f"{k}_ci"), pct=False) for k in COMPARISON_METRICS]
            lines.append(f"| {r['level']} | {r['parameter']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"![{m}](plots/robustness_{m}.png)" for m in ROBUST_METRICS]
    return lines


def write_eval_report(out: Path, metrics: dict[str, Any]) -> Path:
    """A short REPORT.md: what was evaluated, on what, the figures and the plots."""
    name, block = next(iter(metrics["models"].items()))
    ev, t, v = metrics["eval"], block["test"], block["video_level"]

    lines = [
        "# dfl-eval report",
        "",
        f"Run `{ev['run']}` ({name}) evaluated on `{ev['data_root']}`: {ev['frames']}.",
        f"{ev['counts']['real']} real and {ev['counts']['fake']} fake frames from {ev['videos']} videos. "
        "Thresholds were chosen on the run's own validation split, never on these data.",
        "",
        "| Level | Threshold | accuracy | balanced acc | real recall | fake recall | ROC AUC | PR AUC | EER |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    vb = {**v, "bootstrap": block.get("bootstrap")}
    for label, thr, b, key in (
        ("frame", block["threshold"], block, "test"),
        ("frame", 0.5, block, "test_at_0.5"),
        (f"video ({v['aggregate']})", v["threshold"], vb, "test"),
    ):
        cells = [figure_cell(b, key, k, pct=False) for k in ("accuracy", "balanced_accuracy", "real_recall",
                                                        "fake_recall", "roc_auc", "pr_auc", "eer")]  # fmt: skip
        lines.append(f"| {label} | {thr:.2f} | " + " | ".join(cells) + " |")
    boot = block.get("bootstrap")
    if boot:
        note = brackets_note(boot, "evaluated", any_outside(block))
        if not boot["threshold_rechosen_on_val_resamples"]:
            note += f" Intervals conditional on the run's stored thresholds: {boot['conditional_on_reason']}."
        lines += ["", note]
        src = v.get("threshold_source")
        if src:
            lines += ["", f"Video threshold: {src}."]
    lines += ["", "```", format_report(t, f"{name} (threshold = {block['threshold']:.2f}, chosen on val)"), "```", ""]
    lines += [f"![{p}](plots/{p})" for p in ("roc_pr.png", "confusion.png") if (out / "plots" / p).is_file()]
    if metrics.get("robustness"):
        lines += ["", *robustness_lines(metrics["robustness"])]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path
