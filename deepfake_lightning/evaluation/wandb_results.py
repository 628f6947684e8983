"""Log a results folder (table 1, every model's figures with intervals, the verdict, plots, REPORT.md) to W&B.

One W&B run (job_type `results`) in the same group as the chain's training runs, so a dashboard shows
the trainings and their evaluation together. Offline unless WANDB_MODE=online, like every W&B run here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from deepfake_lightning.evaluation.report import ROW_NAMES
from deepfake_lightning.results import load_metrics

TABLE_KEYS = ("accuracy", "balanced_accuracy", "real_recall", "fake_recall", "roc_auc", "pr_auc", "eer")


def _interval(ci: dict | None, k: str) -> str:
    v = (ci or {}).get(k)
    return "" if v is None else f"[{v[0]:.3f}, {v[1]:.3f}]"


def log_results(out_dir: str | Path, group: str, project: str | None = None) -> str | None:
    """Log OUT as one W&B run of `group` in `project` (None: the project of conf/logger/wandb.yaml, where the
    trainings log); returns the run's local folder (None when wandb is missing)."""
    try:
        import wandb
    except ImportError:
        return None
    if project is None:
        from deepfake_lightning.config import shipped

        project = str(shipped("logger/wandb.yaml").wandb.project)
    out = Path(out_dir)
    metrics = load_metrics(out)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(project=project, group=group, job_type="results", name=f"results-{out.name}", dir=str(out),
                     config={"split": metrics.get("dataset", {}), "ensemble": metrics.get("ensemble", {})},
                     reinit="finish_previous")  # fmt: skip
    try:
        models = metrics["models"]
        rows = []
        for name, block in models.items():
            for label, m, ci in (
                ("val-chosen", block["test"], block.get("test_ci")),
                ("0.5", block["test_at_0.5"], block.get("test_at_0.5_ci")),
            ):
                rows.append(
                    [name, label, m["threshold"]] + [x for k in TABLE_KEYS for x in (m.get(k), _interval(ci, k))]
                )
        cols = ["model", "threshold_rule", "threshold"] + [c for k in TABLE_KEYS for c in (k, f"{k}_ci")]
        payload: dict[str, Any] = {"test/models": wandb.Table(columns=cols, data=rows)}
        ens, base = models["ensemble"], models.get("baseline", {})
        t1 = [[ROW_NAMES[k], (base.get("test_at_0.5") or {}).get(k), ens["test"].get(k),
               json.dumps((metrics.get("claim") or {}).get(k))] for k in ROW_NAMES]  # fmt: skip
        payload["table1"] = wandb.Table(
            columns=["metric", "baseline@0.5", "ensemble@val", "paired difference"], data=t1
        )
        sweep = ens["threshold_sweep_val"]
        st = wandb.Table(
            columns=["threshold", "real_recall", "fake_recall"],
            data=[[r["threshold"], r["real_recall"], r["fake_recall"]] for r in sweep],
        )
        payload["val/threshold_sweep"] = st
        payload["val/threshold_sweep_real"] = wandb.plot.line(st, "threshold", "real_recall", title="Real recall (val)")
        for png in sorted((out / "plots").glob("*.png")) + sorted((out / "gradcam").glob("grid.png")):
            payload[f"plots/{png.stem}"] = wandb.Image(str(png))
        run.log(payload)
        claim = metrics.get("claim") or {}
        run.summary["claim/verdict"] = claim.get("verdict", "not checked")
        for k in ("balanced_accuracy", "real_recall", "fake_recall"):
            if k in claim:
                run.summary[f"claim/{k}_difference"] = claim[k]["estimate"]
                run.summary[f"claim/{k}_difference_ci"] = claim[k]["ci"]
        run.summary["split_fingerprint"] = metrics.get("dataset", {}).get("split_fingerprint")
        art = wandb.Artifact(f"results-{out.name}", type="results")
        for f in ("REPORT.md", "metrics.json", "split.json"):
            if (out / f).is_file():
                art.add_file(str(out / f))
        run.log_artifact(art)
        return str(run.dir)
    finally:
        run.finish()
