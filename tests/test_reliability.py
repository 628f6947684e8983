"""Reliability: a bad-input corpus, fuzzed bytes, config validation, NaN loss, safe loading, determinism."""

import re
import shutil

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepfake_lightning.config import validate
from deepfake_lightning.data.extract import extract_item, packaged_extract_config
from deepfake_lightning.data.items import VideoItem
from deepfake_lightning.data.splits import make_split
from deepfake_lightning.models.loading import load_classifier
from tests.conftest import make_dm
from tests.helpers import TINY_ARCH, compose_cfg, tiny_train_overrides

CFG = packaged_extract_config(image_size=24)


def _video(path, n, w=48, h=32, fourcc="mp4v"):
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (w, h))
    assert wr.isOpened(), f"cannot write {path}"
    for i in range(n):
        wr.write(np.full((h, w, 3), (i * 20) % 255, np.uint8))
    wr.release()
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every kind of bad or odd input, built here rather than checked in."""
    d = tmp_path_factory.mktemp("corpus")
    good = _video(d / "good.mp4", 60).read_bytes()
    for pct in (10, 50, 90):
        (d / f"trunc{pct}.mp4").write_bytes(good[: len(good) * pct // 100])
    (d / "header.mp4").write_bytes(good[:40])
    (d / "zero.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("hello, I am not a video\n" * 20)
    _video(d / "one.mp4", 1)
    _video(d / "tiny.avi", 3, 1, 1, fourcc="MJPG")  # OpenCV's mp4v writer refuses 1x1
    cv2.imwrite(str(d / "4k.png"), np.zeros((2160, 3840, 3), np.uint8))
    cv2.imwrite(str(d / "grey.png"), np.full((40, 40), 128, np.uint8))
    cv2.imwrite(str(d / "deep.png"), np.full((40, 40, 3), 40000, np.uint16))
    from PIL import Image

    Image.new("CMYK", (40, 30), (10, 200, 30, 0)).save(d / "cmyk.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    return d


@pytest.mark.parametrize(
    "name,ok",
    [
        ("trunc10.mp4", None), ("trunc50.mp4", None), ("trunc90.mp4", None), ("header.mp4", False),
        ("zero.mp4", False), ("text.mp4", False), ("one.mp4", True), ("tiny.avi", False), ("4k.png", True),
        ("grey.png", True), ("deep.png", True), ("cmyk.jpg", True), ("broken.jpg", False), ("vanished.mp4", False),
    ],
)  # fmt: skip
def test_every_bad_input_is_used_or_skipped_with_a_reason(corpus, name, ok):
    kept, reason = extract_item(corpus, VideoItem(name, 0, "x"), CFG)
    if ok is None:  # a truncated file may still hold whole frames before the cut
        ok = bool(kept)
    if ok:
        assert kept and all(img.shape == (24, 24, 3) and img.dtype == np.uint8 for _, img, *_ in kept)
    else:
        assert not kept and reason, f"{name} gave no reason"


def test_dataset_with_bad_files_completes_and_lists_them(tiny_root, tmp_path, corpus):
    root = tmp_path / "ds"
    shutil.copytree(tiny_root, root)
    for f in ("zero.mp4", "text.mp4", "header.mp4", "tiny.avi"):
        shutil.copy(corpus / f, root / "Celeb-synthesis" / f"id1_id2_{f}")
    with open(root / "List_of_testing_videos.txt", "a") as fh:
        fh.write("0 Celeb-synthesis/missing.mp4\n3 bad label\n")
    m = make_dm(root, tmp_path / "c").source.build().manifest
    paths = {s["path"] for s in m["skipped"]}
    assert {f"Celeb-synthesis/id1_id2_{f}" for f in ("zero.mp4", "text.mp4", "header.mp4", "tiny.avi")} <= paths
    assert "Celeb-synthesis/missing.mp4" in paths and m["n_frames"] == 56


def test_folder_without_videos_names_the_key(tmp_path):
    (tmp_path / "Celeb-real").mkdir()
    with pytest.raises(FileNotFoundError, match="data.root"):
        make_dm(tmp_path, tmp_path / "c").prepare_data()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=4096), ext=st.sampled_from([".mp4", ".avi", ".mov", ".png", ".jpg"]))
def test_fuzzed_bytes_never_crash(tmp_path_factory, data, ext):
    d = tmp_path_factory.mktemp("fuzz")
    (d / f"f{ext}").write_bytes(data)
    kept, reason = extract_item(d, VideoItem(f"f{ext}", 0, "x"), CFG)
    assert kept or reason


@pytest.mark.parametrize(
    "override,key",
    [
        ("split.fractions=[0.7,0.2,0.2]", "split.fractions"),
        ("threshold.min_fake_recall=1.5", "min_fake_recall"),
        ("model.real_weight_multiplier=-1", "real_weight_multiplier"),
        ("model.input_size=16", "model.input_size"),
        ("+threshold.min_fake_recal=0.9", "threshold.min_fake_recal: no such key"),  # misspelt: not ignored
        ("threshold.step=abc", "threshold.step: Value 'abc'"),
        ("threshold.criterion=recall", "threshold.criterion must be one of"),
        ("split.group_by=person", "split.group_by must be one of"),
        ("+split.stratify=true", "split.stratify: no such key"),
    ],
)
def test_config_validation_names_the_key(override, key):
    cfg = compose_cfg("train", [override, "data.root=x"])
    with pytest.raises(ValueError, match=re.escape(key)):
        validate(cfg)
    ens = compose_cfg("ensemble", ["general=a", "specialist=b", "ensemble.weight=1.2"])
    with pytest.raises(ValueError, match=r"ensemble\.weight"):
        validate(ens)
    yolo = compose_cfg("yolo", ["+report.bootstap=10"])  # a misspelt statistics key is named, not dropped
    with pytest.raises(ValueError, match=r"report\.bootstap: no such key"):
        validate(yolo)


def test_unknown_experiment_is_named():
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="no_such_experiment"):
        compose_cfg("train", ["experiment=no_such_experiment"])


def test_nan_loss_stops_with_step_and_batch(tiny_root, tmp_path, monkeypatch):
    from deepfake_lightning.apps.train import train
    from deepfake_lightning.models import classifier

    orig = classifier.DeepfakeClassifier.model_step

    def poisoned(self, batch):
        loss, logits, y = orig(self, batch)
        return loss * float("nan"), logits, y

    monkeypatch.setattr(classifier.DeepfakeClassifier, "model_step", poisoned)
    cfg = compose_cfg("train", tiny_train_overrides(tiny_root, tmp_path / "c"), tmp_path)
    with pytest.raises(FloatingPointError, match=r"step \d+, batch \d+"):
        train(cfg)
    assert not list((tmp_path / "checkpoints").glob("*.ckpt")) if (tmp_path / "checkpoints").exists() else True


def test_corrupted_and_foreign_checkpoints_name_the_file(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model: {}\n")
    bad = run / "checkpoints" / "last.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="last.ckpt"):
        load_classifier(run)
    import functools

    torch.save({"x": functools.partial(print)}, bad)  # a pickle that needs code to load
    with pytest.raises(ValueError, match="last.ckpt"):
        load_classifier(run)


def test_same_seed_same_split_and_batches(tiny_dm, tiny_root, tmp_path):
    idx = tiny_dm.cache.index
    a = make_split("grouped", idx["label"], idx["video"], idx["identity"], (0.7, 0.2, 0.1), 5, "identity", None)
    b = make_split("grouped", idx["label"], idx["video"], idx["identity"], (0.7, 0.2, 0.1), 5, "identity", None)
    assert (a == b).all()
    dm2 = make_dm(tiny_root, tmp_path, frames_per_video=2, balanced_sampler=True)
    dm3 = make_dm(tiny_root, tmp_path, frames_per_video=2, balanced_sampler=True)
    dm2.setup()
    dm3.setup()
    for (x1, y1), (x2, y2) in zip(dm2.train_dataloader(), dm3.train_dataloader()):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_metrics(tiny_root, tmp_path):
    """SIGKILL part-way, resume with ckpt_path=last: same final metrics as one uninterrupted deterministic run."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    def cmd(run, *extra):
        return [
            sys.executable, "-m", "deepfake_lightning.apps.train", "model=resnet50_general", f"model.net.arch={TINY_ARCH}",
            f"data.root={tiny_root}", f"paths.cache_dir={tmp_path / 'cache'}", "data.extract.image_size=40", "model.input_size=32", "data.batch_size=8",
            "trainer.max_epochs=8", "trainer.deterministic=true", "logger=csv", "trainer.enable_progress_bar=false",
            "model/optimizer=adamw", f"hydra.run.dir={run}", *extra,
        ]  # fmt: skip

    env = {**os.environ, "WANDB_MODE": "offline", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    whole = subprocess.run(cmd(tmp_path / "whole"), env=env, capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stderr[-2000:]
    proc = subprocess.Popen(cmd(tmp_path / "killed"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 600
    while time.time() < deadline and not last.is_file():
        time.sleep(0.05)
    size = -1
    while last.stat().st_size != size:  # the first last.ckpt written whole, then kill at once
        size = last.stat().st_size
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "metrics.json").is_file(), "the run finished before it was killed"
    resumed = subprocess.run(
        cmd(tmp_path / "killed", "ckpt_path=last"), env=env, capture_output=True, text=True, timeout=900
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = json.loads((tmp_path / "whole" / "metrics.json").read_text())["test"]
    b = json.loads((tmp_path / "killed" / "metrics.json").read_text())["test"]
    for k in ("roc_auc", "real_recall", "fake_recall", "threshold"):
        assert a[k] == pytest.approx(b[k], abs=1e-6), k


def test_nothing_under_the_root_is_passed_over_in_silence(tmp_path):
    import os

    from tests.conftest import make_dm

    root = tmp_path / "data"
    for d in ("Celeb-real", "Celeb-synthesis"):
        (root / d).mkdir(parents=True)
    (root / "Celeb-real" / "id0_0000.mp4").write_bytes(b"x")  # a bad file: skipped at extraction as before
    os.symlink(tmp_path / "nowhere.mp4", root / "Celeb-real" / "id0_0001.mp4")
    os.symlink(root / "Celeb-real" / "id0_0002.mp4", root / "Celeb-real" / "id0_0002.mp4")
    (root / "Celeb-synthesis" / "id0_id1_0000.mp4").mkdir()
    items, skipped = make_dm(root, tmp_path / "c").source.list_items()
    reasons = {s["path"]: s["reason"] for s in skipped}
    assert reasons["Celeb-real/id0_0001.mp4"].startswith("a dangling symlink")
    assert reasons["Celeb-real/id0_0002.mp4"] == "a symlink loop"
    assert reasons["Celeb-synthesis/id0_id1_0000.mp4"].startswith("a folder")
    assert [it.path for it in items] == ["Celeb-real/id0_0000.mp4"]
