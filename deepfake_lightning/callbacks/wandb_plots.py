"""WandbPlots: the validation confusion matrix, ROC/PR curves and the threshold sweep in W&B (no-op without W&B)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import WandbLogger

from deepfake_lightning.callbacks.threshold import ThresholdCalibration


class WandbPlots(L.Callback):
    """Each validation epoch: `wandb.plot.confusion_matrix` at the module's threshold; at the end of fit,
    ROC and PR curves and the threshold sweep as a W&B table."""

    def _loggers(self, trainer: L.Trainer) -> list[WandbLogger]:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return []
        return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loggers = self._loggers(trainer)
        labels, p_fake = pl_module.val_metrics.gathered()
        if not loggers or labels.numel() == 0:
            return
        import wandb

        preds = (p_fake >= float(pl_module.threshold)).long()
        plot = wandb.plot.confusion_matrix(y_true=labels.tolist(), preds=preds.tolist(), class_names=["real", "fake"])
        for lg in loggers:
            lg.experiment.log({"val/confusion_matrix": plot, "epoch": trainer.current_epoch})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)] if trainer.is_global_zero else []
        labels, p_fake = pl_module.val_metrics.gathered()
        if not loggers or labels.numel() == 0 or labels.min() == labels.max():
            return
        import wandb
        from torchmetrics.functional.classification import binary_precision_recall_curve, binary_roc

        # Built from torchmetrics' curves: wandb.plot.roc_curve would need pandas.
        fpr, tpr, _ = binary_roc(p_fake, labels)
        prec, rec, _ = binary_precision_recall_curve(p_fake, labels)
        roc = wandb.Table(columns=["fpr", "tpr"], data=[[float(a), float(b)] for a, b in zip(fpr, tpr)])
        pr = wandb.Table(columns=["recall", "precision"], data=[[float(a), float(b)] for a, b in zip(rec, prec)])
        # The sweep the threshold was chosen from (the calibration callback's, on the `threshold` group's grid).
        sweep = next((c.sweep for c in trainer.callbacks if isinstance(c, ThresholdCalibration)), [])
        table = wandb.Table(
            columns=["threshold", "real_recall", "fake_recall"],
            data=[[r["threshold"], r["real_recall"], r["fake_recall"]] for r in sweep],
        )
        payload = {
            "val/roc": wandb.plot.line(roc, "fpr", "tpr", title="ROC (val, fake = positive)"),
            "val/pr": wandb.plot.line(pr, "recall", "precision", title="Precision-recall (val)"),
            "val/threshold_sweep": table,
        }
        for lg in loggers:
            lg.experiment.log(payload)
