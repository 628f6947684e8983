"""ThresholdCalibration: sweep thresholds on validation predictions and store the choice in the checkpoint."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L

from deepfake_lightning.evaluation.thresholds import select_threshold, sweep_thresholds

log = logging.getLogger(__name__)


class ThresholdCalibration(L.Callback):
    """After each validation epoch, choose the threshold on val (never on test) and set `pl_module.threshold`.

    The module's `threshold` buffer is part of its state_dict, so the checkpoint carries it and
    `trainer.test` uses it; the sweep itself is also stored under `checkpoint["threshold_sweep"]`.
    """

    def __init__(self, criterion: str, min_fake_recall: float, fallback: str, step: float, target_fpr: float):
        # The `threshold` group's values (callbacks/default.yaml interpolates them), checked at app start.
        self.criterion, self.min_fake_recall, self.fallback, self.step = criterion, min_fake_recall, fallback, step
        self.target_fpr = target_fpr
        self.sweep: list[dict[str, float]] = []
        self.choice: dict[str, Any] = {}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        labels, p_fake = pl_module.val_metrics.gathered()
        if labels.numel() == 0 or labels.min() == labels.max():
            log.error("threshold calibration skipped: the validation split lacks one of the classes")
            return
        self.sweep = sweep_thresholds(labels.numpy(), p_fake.numpy(), self.step)
        c = select_threshold(self.sweep, self.criterion, self.min_fake_recall, self.fallback, self.target_fpr)
        pl_module.threshold.fill_(c.threshold)
        self.choice = {"threshold": c.threshold, "criterion": c.criterion, "note": c.note}
        pl_module.log("val/chosen_threshold", c.threshold)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["threshold"] = float(pl_module.threshold)
        checkpoint["threshold_choice"] = dict(self.choice)
        checkpoint["threshold_sweep"] = list(self.sweep)
