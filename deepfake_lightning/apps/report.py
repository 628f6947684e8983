"""dfl-report: write REPORT.md (table 1, classification reports, sweep, plots) from a results folder."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from deepfake_lightning.apps.common import CONFIG_DIR
from deepfake_lightning.evaluation.report import write_report


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="report")
def main(cfg: DictConfig) -> None:
    path = write_report(cfg.out_dir)
    print(f"report: {path}")


if __name__ == "__main__":
    main()
