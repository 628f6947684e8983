"""Helpers for Lightning's ThroughputMonitor (train|samples_per_sec in the CSV and W&B logs)."""

from __future__ import annotations

from typing import Any


def batch_size(batch: Any) -> int:
    """Number of samples in an (images, labels) batch."""
    images = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(images.shape[0])
