"""Shared app plumbing: where the configs live, offline defaults, and multirun-safe job wrapping."""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepfake_lightning.config import register_resolvers

# The configs ship inside the package: Hydra finds them through pkg://, so an installed wheel works from
# any folder. CONFIG_DIR is the same folder on disk, for code that lists a config group.
CONFIG_PATH = "pkg://deepfake_lightning.conf"
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def offline_defaults() -> None:
    """W&B offline and ultralytics offline unless the user said otherwise."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("YOLO_OFFLINE", "true")


def app_start(cfg: Any) -> None:
    """What every app does first: offline defaults, and this process's thread counts from `runtime`."""
    from deepfake_lightning.runtime import apply_runtime

    offline_defaults()
    apply_runtime(cfg.get("runtime") if cfg is not None else None)


class _NoTips(logging.Filter):
    """Drops Lightning's advertisement for its hosted logger, printed by every Trainer (several per chain)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())


def in_multirun() -> bool:
    """Whether this job is one of a Hydra multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job(fn: Callable[[], Any], out_dir: str | Path | None = None) -> Any:
    """Run one app body; W&B is closed in every case, and in a multirun a failed job is logged and
    recorded (error.txt in its folder) instead of ending the whole sweep."""
    try:
        return fn()
    except Exception:
        if not in_multirun():
            raise
        logging.getLogger(__name__).exception("job failed; the multirun goes on")
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / "error.txt").write_text(traceback.format_exc())
        return None
    finally:
        close_wandb()


def sweep_value(value: float | None) -> float | None:
    """What an app returns to a Hydra sweeper: the objective as a float, or None for a failed job.

    Not NaN: hydra-optuna-sweeper 1.3 with the pinned optuna 2.10 raises on a NaN objective (study.tell
    refuses it, then the sweeper's own FAIL branch tells it again) and ends the sweep, while None is
    recorded as a failed trial and the sweep goes on (tests/test_scale.py checks both sweepers).
    """
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def close_wandb() -> None:
    """Finish a W&B run if one is open."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=1 if sys.exc_info()[0] is not None else 0)


register_resolvers()
