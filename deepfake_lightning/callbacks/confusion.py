"""ConfusionMatrixLogger: the validation confusion matrix as a W&B plot each epoch (no-op without W&B)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import WandbLogger


class ConfusionMatrixLogger(L.Callback):
    """Logs `wandb.plot.confusion_matrix` of val predictions at the module's threshold."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if not loggers:
            return
        import wandb

        labels, p_fake = pl_module.val_metrics.gathered()
        if labels.numel() == 0:
            return
        preds = (p_fake >= float(pl_module.threshold)).long()
        plot = wandb.plot.confusion_matrix(y_true=labels.tolist(), preds=preds.tolist(), class_names=["real", "fake"])
        for lg in loggers:
            lg.experiment.log({"val/confusion_matrix": plot, "epoch": trainer.current_epoch})
