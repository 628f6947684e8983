"""dfl-chain: the whole chain (extract, train x3, ensemble, Grad-CAM, report) as one Hydra job, for sweeps.

`dfl-chain -m hparams_search=backbone_sweep data_root=...` runs it once per backbone; the sweep's
summary (per backbone: baseline@0.5 vs ensemble@val-threshold with intervals, parameters, img/s) is
written by a Hydra callback when the multirun ends.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.pipeline import run as run_chain


def run(cfg: DictConfig) -> dict:
    """One chain into cfg.out_dir (with model.net.arch=cfg.arch for the three trainings, when given), by the runner
    `make paper` also calls (pipeline.run)."""
    app_start(cfg)
    arch = [f"model.net.arch={cfg.arch}"] if cfg.get("arch") else []  # null: the profile's experiments' own
    overrides = [str(o) for o in cfg.get("overrides") or []]
    return run_chain(Path(str(cfg.data_root)), Path(str(cfg.out_dir)), str(cfg.data_profile), overrides,
                     no_yolo=bool(cfg.no_yolo), seed=int(cfg.seed), train_args=arch)  # fmt: skip


main = hydra_app("chain", run, lambda m: m["models"]["ensemble"]["val"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
