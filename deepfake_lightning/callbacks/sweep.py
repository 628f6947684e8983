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


def _get(d: Any, dotted: str) -> Any:
    """d["a"]["b.c"] for "a.b.c": keys may hold dots themselves (test_at_0.5)."""
    if not isinstance(d, dict):
        return None
    if dotted in d:
        return d[dotted]
    head, _, rest = dotted.partition(".")
    return _get(d.get(head), rest) if rest else None


def collect_runs(sweep_dir: str | Path, params: Sequence[str], block: str) -> list[dict[str, Any]]:
    """One row per job folder: the swept values (from its overrides) and the metrics of `block` in metrics.json."""
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


def summarize_blocks(
    sweep_dir: str | Path, params: Sequence[str], blocks: Sequence[str], x: str, out: Path, title: str
) -> Path:
    """One summary per metrics block (e.g. test at the val-chosen threshold, test at 0.5), in sub-folders, plus an index."""
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}", ""]
    n = 0
    for block in blocks:
        rows = collect_runs(sweep_dir, params, block)
        if not rows:
            continue
        n = len(rows)
        name = block.replace(".", "_")
        md = summarize(rows, x, out / name, f"{title}: {block}")
        parts += [
            f"## `{block}` ({len(rows)} runs)",
            "",
            *md.read_text().splitlines()[2:],
            "",
            f"![{block}]({name}/summary.png)",
            "",
        ]
    parts.append(f"Sweep folder: `{sweep_dir}`; per-run rows in `<block>/runs.csv`.")
    (out / "summary.md").write_text("\n".join(parts) + "\n")
    if not n:
        log.error("sweep summary: no job in %s wrote metrics.json", sweep_dir)
    return out / "summary.md"


def summarize(rows: list[dict[str, Any]], x: str, group_out: Path, title: str) -> Path:
    """Write runs.csv, summary.md (mean and std over the other swept values) and summary.png against `x`."""
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

    def __init__(
        self, out_dir: str, x: str, params: Sequence[str], blocks: Sequence[str] = ("test",), title: str = "sweep"
    ):
        self.out_dir, self.x, self.params, self.blocks, self.title = out_dir, x, list(params), list(blocks), title

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        path = summarize_blocks(sweep_dir, self.params, self.blocks, self.x, Path(self.out_dir), self.title)
        print(f"sweep summary: {path}")
