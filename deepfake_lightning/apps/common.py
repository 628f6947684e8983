"""Shared app plumbing: where the configs live, and the offline defaults set before heavy imports."""

from __future__ import annotations

import os
from pathlib import Path

from deepfake_lightning.config import register_resolvers

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")


def offline_defaults() -> None:
    """W&B offline and ultralytics offline unless the user said otherwise."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("YOLO_OFFLINE", "true")


register_resolvers()
