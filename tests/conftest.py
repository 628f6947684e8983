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


def make_dm(root, cache_dir, data="celebdf", **kw):
    """The `data` group's DataModule (every value from the configs) with the tests' small sizes and `kw`:
    an extraction key goes to data.extract, `split` is a dict of split keys, anything else a data key."""
    from dataclasses import fields

    from deepfake_lightning.data.datamodule import datamodule_from_overrides
    from deepfake_lightning.data.extract import ExtractConfig

    extract = {f.name for f in fields(ExtractConfig)}
    kw = {"image_size": 40, "batch_size": 8, "eval_batch_size": 16, "extract_workers": 1, **kw}
    overrides = [f"data.root={root}", f"paths.cache_dir={cache_dir}"]
    for k, v in kw.items():
        if k == "split":
            overrides += [f"split.{sk}={override_value(sv)}" for sk, sv in v.items()]
        else:
            overrides.append(f"data.{'extract.' if k in extract else ''}{k}={override_value(v)}")
    return datamodule_from_overrides(overrides, data)


def override_value(v):
    """A Python value in Hydra's override grammar."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    return str(v)


@pytest.fixture(scope="session")
def tiny_dm(tiny_root, tmp_path_factory):
    """A DataModule over the tiny dataset, set up (cache built, split made)."""
    dm = make_dm(tiny_root, tmp_path_factory.mktemp("cache"), frames_per_video=2)
    dm.setup()
    return dm


@pytest.fixture(scope="session")
def tiny_runs(tiny_root, tmp_path_factory):
    """Baseline, general and specialist trained once per session on the tiny dataset (one cache, 2 frames per
    video, 2 epochs), and their dfl-ensemble folder: every test that needs trained models shares these, and
    none writes into them except beside their files."""
    from deepfake_lightning.apps.ensemble import run as run_ensemble
    from deepfake_lightning.apps.train import train
    from tests.helpers import compose_cfg, tiny_train_overrides

    cache = tmp_path_factory.mktemp("runs-cache")
    runs = {}
    for name in ("baseline", "general", "specialist"):
        out = tmp_path_factory.mktemp(name)
        overrides = tiny_train_overrides(tiny_root, cache, f"model=resnet50_{name}", "data.extract.frames_per_video=2")
        train(compose_cfg("train", [*overrides, "trainer.max_epochs=2"], out))
        runs[name] = out
    out = tmp_path_factory.mktemp("ensemble")
    members = [f"{k}={runs[k]}" for k in ("general", "specialist")]
    run_ensemble(compose_cfg("ensemble", [*members, f"out_dir={out}"], out))
    runs["ensemble"] = out
    return runs
