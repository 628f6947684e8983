"""dfl-report: write REPORT.md (table 1, classification reports, sweep, plots) from a results folder."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.evaluation.report import write_report
from deepfake_lightning.results import check_results_split


def report(cfg: DictConfig) -> None:
    """Check the results folder's split, write REPORT.md, log the results to W&B."""
    app_start(cfg)
    check_results_split(cfg.out_dir)
    path = write_report(cfg.out_dir)
    print(f"report: {path}")
    if cfg.wandb:
        from deepfake_lightning.evaluation.wandb_results import log_results

        group = cfg.get("wandb_group") or f"paper-{Path(str(cfg.out_dir)).resolve().name}"
        folder = log_results(cfg.out_dir, group)
        print(f"W&B results run (group {group}): {folder}")


main = hydra_app("report", report)


if __name__ == "__main__":
    main()
