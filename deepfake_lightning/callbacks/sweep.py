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

from deepfake_lightning.evaluation.wording import value_with_ci
from deepfake_lightning.results import METRICS_FILE, load_metrics

log = logging.getLogger(__name__)


def _get(d: Any, dotted: str) -> Any:
    """d["a"]["b.c"] for "a.b.c": keys may hold dots themselves (test_at_0.5)."""
    if not isinstance(d, dict):
        return None
    if dotted in d:
        return d[dotted]
    head, _, rest = dotted.partition(".")
    return _get(d.get(head), rest) if rest else None


def job_folders(sweep_dir: str | Path) -> list[Path]:
    """The multirun's job folders that wrote metrics.json, in job order (0, 1, ..., 10)."""
    jobs = sorted(Path(sweep_dir).iterdir(), key=lambda p: (len(p.name), p.name))
    return [job for job in jobs if (job / METRICS_FILE).is_file()]


def collect_runs(sweep_dir: str | Path, params: Sequence[str], block: str) -> list[dict[str, Any]]:
    """One row per job folder: the swept values (from its overrides) and the metrics of `block` in metrics.json."""
    rows = []
    for job in job_folders(sweep_dir):
        metrics = load_metrics(job)
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

    from deepfake_lightning.evaluation.plots import save_figure

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
    save_figure(fig, group_out / "summary.png", [ax])
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


def backbone_rows(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Per job of a backbone sweep: arch, baseline@0.5 and ensemble@val-threshold figures with intervals, verdict."""
    rows = []
    for job in job_folders(sweep_dir):
        cfg = job / ".hydra" / "config.yaml"
        if not cfg.is_file():
            continue
        m = load_metrics(job)
        arch = str(OmegaConf.load(cfg).arch)
        base, ens = m["models"].get("baseline", {}), m["models"]["ensemble"]
        row: dict[str, Any] = {"job": job.name, "arch": arch, "ensemble_threshold": ens["threshold"]}
        for k in ("balanced_accuracy", "real_recall", "fake_recall", "roc_auc"):
            row[f"baseline_{k}"] = (base.get("test_at_0.5") or {}).get(k)
            row[f"baseline_{k}_ci"] = (base.get("test_at_0.5_ci") or {}).get(k)
            row[f"ensemble_{k}"] = ens["test"].get(k)
            row[f"ensemble_{k}_ci"] = (ens.get("test_ci") or {}).get(k)
        row["verdict"] = (m.get("claim") or {}).get("verdict")
        row["claim_balanced_accuracy"] = (m.get("claim") or {}).get("balanced_accuracy")
        rows.append(row)
    return rows


def backbone_cost(arch: str, input_size: int, batch: int = 32, reps: int = 3) -> tuple[float, float]:
    """(parameters in millions, inference img/s on this machine's CPU at `input_size`) of the backbone with its head."""
    import time

    import torch

    from deepfake_lightning.models.backbones import build_backbone

    # Parameters and speed only: dropout and the starting weights change neither.
    net = build_backbone(arch, head="enhanced", dropout=0.0, num_classes=2, input_size=input_size).eval()
    params = sum(p.numel() for p in net.parameters()) / 1e6
    x = torch.randn(batch, 3, input_size, input_size)
    with torch.inference_mode():
        net(x)
        t0 = time.perf_counter()
        for _ in range(reps):
            net(x)
    return params, batch * reps / (time.perf_counter() - t0)


def write_backbone_summary(rows: list[dict[str, Any]], out: Path, input_size: int) -> Path:
    """summary.md, summary.json and summary.png: balanced accuracy and real recall per backbone, with intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepfake_lightning.evaluation.plots import save_figure

    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        r["params_m"], r["img_per_s_cpu"] = backbone_cost(r["arch"], input_size)

    lines = [
        "# Backbone sweep: the recipe on each backbone (test split)",
        "",
        f"Inference img/s: forward passes of a batch of 32 at {input_size} px on this machine's CPU.",
        "",
        "| backbone | params (M) | img/s | baseline@0.5 balanced acc | ensemble@val balanced acc | "
        "baseline@0.5 real recall | ensemble@val real recall | ensemble ROC AUC | claim |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    shown = ("baseline_balanced_accuracy", "ensemble_balanced_accuracy", "baseline_real_recall",
             "ensemble_real_recall", "ensemble_roc_auc")  # fmt: skip
    for r in rows:
        cells = [value_with_ci(r[k], r[f"{k}_ci"], pct=False) for k in shown]
        lines.append(
            f"| {r['arch']} | {r['params_m']:.1f} | {r['img_per_s_cpu']:.0f} | {' | '.join(cells)} | {r['verdict']} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    xs = np.arange(len(rows))
    for ax, k in zip(axes, ("balanced_accuracy", "real_recall")):
        for dx, who in ((-0.15, "baseline"), (0.15, "ensemble")):
            vals = [np.nan if r[f"{who}_{k}"] is None else r[f"{who}_{k}"] for r in rows]
            cis = [r[f"{who}_{k}_ci"] or [v, v] for r, v in zip(rows, vals)]
            err = np.array([[v - c[0], c[1] - v] for v, c in zip(vals, cis)]).T
            ax.errorbar(xs + dx, vals, yerr=err, fmt="o", capsize=3, label=who)
        ax.set_xticks(xs, [r["arch"] for r in rows], rotation=20)
        ax.set(title=k.replace("_", " "), ylim=(-0.02, 1.02))
        ax.legend(fontsize=8)
    save_figure(fig, out / "summary.png")
    return out / "summary.md"


class BackboneSummary(Callback):
    """At the end of a backbone sweep: one row per backbone in `out_dir` (table, JSON, plot)."""

    def __init__(self, out_dir: str, input_size: int = 64):
        self.out_dir, self.input_size = out_dir, int(input_size)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        rows = backbone_rows(Path(config.hydra.sweep.dir))
        if not rows:
            log.error("backbone summary: no job in %s wrote metrics.json", config.hydra.sweep.dir)
            return
        print(f"backbone summary: {write_backbone_summary(rows, Path(self.out_dir), self.input_size)}")
