"""Shared fixtures: a tiny generated Celeb-DF style dataset and its cache, made once per session."""

from __future__ import annotations

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("YOLO_OFFLINE", "true")

import pytest  # noqa: E402

from deepfake_lightning.data.synthetic import generate_dataset  # noqa: E402

TINY = dict(num_real=16, num_fake=40, num_identities=6, frames_per_video=8, resolution=64, test_fraction=0.15)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """A generated Celeb-DF v2 layout folder (16 real, 40 fake videos, 8 frames of 64 px)."""
    root = tmp_path_factory.mktemp("celebdf")
    generate_dataset(root, seed=1, **TINY)
    return root


def make_dm(root, cache_dir, **kw):
    from deepfake_lightning.data.datamodule import CelebDFDataModule

    args = dict(
        root=str(root), cache_dir=str(cache_dir), image_size=40, batch_size=8, eval_batch_size=16, extract_workers=1
    )
    args.update(kw)
    return CelebDFDataModule(**args)


@pytest.fixture(scope="session")
def tiny_dm(tiny_root, tmp_path_factory):
    """A DataModule over the tiny dataset, set up (cache built, split made)."""
    dm = make_dm(tiny_root, tmp_path_factory.mktemp("cache"), frames_per_video=2)
    dm.setup()
    return dm
