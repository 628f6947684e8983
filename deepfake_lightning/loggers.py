"""Lightning's W&B logger, minus the `anonymous` argument that wandb deprecates and warns about on every run."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger


class WandbLogger(_LightningWandbLogger):
    """lightning.pytorch.loggers.WandbLogger; Lightning 2.6 always passes `anonymous` (None by default) to
    wandb.init, and wandb >= 0.19 warns that the setting has no effect whenever it is passed at all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
