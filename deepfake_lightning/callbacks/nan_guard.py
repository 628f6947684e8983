"""NanGuard: stop on a NaN/inf training loss, naming epoch, step and batch, before any checkpoint is written."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch


class NanGuard(L.Callback):
    """Check every training loss for NaN/inf.

    On a GPU, reading the loss each step would stall the pipeline (one device sync per step), so the
    flag is copied without blocking and read at the next step (`defer`). Pending flags are read before
    validation, at the epoch's end and in `on_save_checkpoint`, which Lightning calls before it writes
    any checkpoint file: a poisoned step never reaches last.ckpt or a best checkpoint.
    """

    def __init__(self, defer: bool | None = None):
        self.defer = defer  # None: defer on CUDA only
        self._pending: list[tuple[torch.Tensor, torch.Tensor, int, int, int, Any]] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        flag = (~torch.isfinite(loss.detach())).reshape(1)
        defer = loss.device.type == "cuda" if self.defer is None else self.defer
        event = None
        if loss.device.type == "cuda":
            flag = flag.to("cpu", non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        # global_step has already advanced past this batch's optimizer step.
        entry = (flag, loss.detach(), trainer.current_epoch, trainer.global_step - 1, batch_idx, event)
        if defer:
            older, self._pending = self._pending, [entry]
            self._raise_if_any(pl_module, older)
        else:
            self._raise_if_any(pl_module, [entry])

    def flush(self, pl_module: L.LightningModule) -> None:
        """Read every pending flag now (raises on a non-finite loss)."""
        pending, self._pending = self._pending, []
        self._raise_if_any(pl_module, pending)

    @staticmethod
    def _raise_if_any(pl_module: L.LightningModule, pending: list) -> None:
        for flag, value, epoch, step, batch_idx, event in pending:
            if event is not None:
                event.synchronize()
            if bool(flag.item()):
                name = getattr(pl_module, "hparams", {}).get("name", type(pl_module).__name__)
                raise FloatingPointError(
                    f"{name}: loss is {value.item()} at epoch {epoch}, step {step}, batch {batch_idx}; "
                    "stopping before a poisoned checkpoint is written"
                )

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.flush(pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.flush(pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.flush(pl_module)
