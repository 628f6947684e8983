"""SweepSummary: a Hydra callback that, at the end of a multirun, tabulates and plots its jobs' metrics.json."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _get(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def collect_runs(sweep_dir: str | Path, params: Sequence[str], block: str) -> list[dict[str, Any]]:
    """One row per job folder: the swept values (from its config.yaml / overrides) and `block` test metrics."""
    rows = []
    for job in sorted(Path(sweep_dir).iterdir(), key=lambda p: (len(p.name), p.name)):
        mfile = job / "metrics.json"
        if not mfile.is_file():
            continue
        metrics = json.loads(mfile.read_text())
        ov = job / ".hydra" / "overrides.yaml"
        overrides = dict(o.split("=", 1) for o in OmegaConf.load(ov)) if ov.is_file() else {}
        row: dict[str, Any] = {"job": job.name}
        for p in params:
            row[p] = overrides.get(p)
        m = _get(metrics, block) or {}
        for k in ("real_recall", "fake_recall", "balanced_accuracy", "roc_auc", "threshold"):
            row[k] = m.get(k)
        rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]], x: str, group_out: Path, title: str) -> Path:
    """Write summary.csv, summary.md (mean and std over the other swept values) and summary.png against `x`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    group_out.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0]) if rows else []
    with open(group_out / "runs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    metrics = ("real_recall", "fake_recall", "balanced_accuracy", "roc_auc")
    xs = sorted({r[x] for r in rows}, key=lambda v: float(v))
    stats = []
    for v in xs:
        sel = [r for r in rows if r[x] == v]
        entry: dict[str, Any] = {x: v, "runs": len(sel)}
        for m in metrics:
            vals = np.array([r[m] for r in sel if r[m] is not None], dtype=float)
            entry[f"{m}_mean"] = float(vals.mean()) if len(vals) else None
            entry[f"{m}_std"] = float(vals.std()) if len(vals) else None
        stats.append(entry)
    lines = [f"# {title}", "", f"| {x} | runs | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 2) + "|"]
    for e in stats:
        cells = ["n/a" if e[f"{m}_mean"] is None else f"{e[f'{m}_mean']:.3f} ± {e[f'{m}_std']:.3f}" for m in metrics]
        lines.append(f"| {e[x]} | {e['runs']} | " + " | ".join(cells) + " |")
    (group_out / "summary.md").write_text("\n".join(lines) + "\n")
    (group_out / "summary.json").write_text(json.dumps(stats, indent=2))
    fig, ax = plt.subplots(figsize=(6, 4))
    xv = [float(e[x]) for e in stats]
    for m in metrics:
        mean = [np.nan if e[f"{m}_mean"] is None else e[f"{m}_mean"] for e in stats]
        std = [0 if e[f"{m}_std"] is None else e[f"{m}_std"] for e in stats]
        ax.errorbar(xv, mean, yerr=std, marker="o", capsize=3, label=m)
    if all(v > 0 for v in xv) and max(xv) / max(min(xv), 1e-9) >= 8:
        ax.set_xscale("log", base=2)
    ax.set(xlabel=x, ylabel="test metric (mean ± std)", title=title, ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(group_out / "summary.png", dpi=110)
    plt.close(fig)
    return group_out / "summary.md"


class SweepSummary(Callback):
    """At multirun end: collect every job's metrics.json into `out_dir` (table, JSON, plot)."""

    def __init__(self, out_dir: str, x: str, params: Sequence[str], block: str = "test", title: str = "sweep"):
        self.out_dir, self.x, self.params, self.block, self.title = out_dir, x, list(params), block, title

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = collect_runs(sweep_dir, self.params, self.block)
        if not rows:
            log.error("sweep summary: no job in %s wrote metrics.json", sweep_dir)
            return
        path = summarize(rows, self.x, Path(self.out_dir), self.title)
        print(f"sweep summary ({len(rows)} runs): {path}")
