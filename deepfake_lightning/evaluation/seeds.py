"""Several model seeds of one experiment: per-seed rows, mean and standard deviation, and their report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.report import num

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


def seed_summary(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
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
    return {
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
    lines += ["", "The claim's paired test per seed (intervals of the differences, ensemble - baseline):", ""]

    def interval(ci: list[float] | None) -> str:
        return "n/a" if not ci else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"

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
