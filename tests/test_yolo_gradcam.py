"""YOLO11-cls wrapper offline, its class mapping and export; Grad-CAM shapes and ranges."""

import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from deepfake_lightning.evaluation.gradcam import LogitsOnly, cam_maps, overlays, resnet_layers, yolo_layers
from deepfake_lightning.models.yolo import export_split_folders, p_fake_from_probs, predict_p_fake, train_yolo
from tests.helpers import build_resnet50


def test_class_index_mapping():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    # ultralytics sorts folders: fake = 0, real = 1
    assert np.allclose(p_fake_from_probs(probs, {0: "fake", 1: "real"}), [0.9, 0.2])
    assert np.allclose(p_fake_from_probs(probs, {0: "real", 1: "fake"}), [0.1, 0.8])
    with pytest.raises(ValueError, match="real"):
        p_fake_from_probs(probs, {0: "cat", 1: "dog"})


def test_export_counts_equal_split_counts(tiny_dm, tmp_path):
    idx, split = tiny_dm.cache.index, tiny_dm.split
    out = tmp_path / "export"
    counts = export_split_folders(tiny_dm.cache.frames, idx["label"], split, idx["row"], out, "fp1")
    for s in ("train", "val", "test"):
        for c, lab in (("real", 0), ("fake", 1)):
            n = int(((split == s) & (idx["label"] == lab)).sum())
            assert counts[s][c] == n == len(list((out / s / c).glob("*.png")))
    # Another split with the same counts under the same folder is rewritten, not taken as a match.
    other = np.roll(split, 1)
    before = {p.relative_to(out) for p in out.rglob("*.png")}
    export_split_folders(tiny_dm.cache.frames, idx["label"], other, idx["row"], out, "fp2")
    after = {p.relative_to(out) for p in out.rglob("*.png")}
    expected = {
        Path(str(s), "real" if lab == 0 else "fake", f"{int(r):07d}.png")
        for s, lab, r in zip(other, idx["label"], idx["row"])
    }
    assert after == expected and (before != after or (other == split).all())


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_yolo_trains_one_epoch_offline(tiny_dm, tmp_path, no_network):
    idx = tiny_dm.cache.index
    export_split_folders(tiny_dm.cache.frames, idx["label"], tiny_dm.split, idx["row"], tmp_path / "data")
    best = train_yolo(tmp_path / "data", tmp_path / "run", "yolo11n-cls.yaml", epochs=1, imgsz=32, batch=16,
                      device=None, workers=0, seed=0)  # fmt: skip
    assert best.is_file()
    test_rows = idx["row"][tiny_dm.rows("test")][:5]
    p = predict_p_fake(best, [tiny_dm.cache.frames[r] for r in test_rows], tmp_path / "run", imgsz=32, batch=16)
    assert p.shape == (len(test_rows),) and ((p >= 0) & (p <= 1)).all()
    assert (tmp_path / "run" / "ultralytics_config").is_dir()


def test_resnet_cam_shape_and_range():
    net = build_resnet50(head="enhanced").eval()
    x = torch.randn(3, 3, 64, 64)
    maps = cam_maps(net, resnet_layers(net), x, 1)
    assert maps.shape == (3, 64, 64) and maps.min() >= 0 and maps.max() <= 1
    imgs = overlays(np.zeros((3, 40, 40, 3), np.uint8), maps)
    assert imgs.shape == (3, 40, 40, 3) and imgs.dtype == np.uint8


def test_logits_only_and_yolo_layers():
    class Fake(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.ModuleList([torch.nn.Conv2d(3, 4, 3), torch.nn.Identity()])

        def forward(self, x):
            y = self.model[0](x).mean((2, 3))[:, :2]
            return y.softmax(1), y

    m = LogitsOnly(Fake())
    out = m(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 2) and not torch.allclose(out.sum(1), torch.ones(2))
    assert yolo_layers(m.model)[0] is m.model.model[-2]


@pytest.mark.parametrize("experiment", ["yolo11n", "yolo11s", "demo_yolo11n", "demo_yolo11s", "demo_scratch_yolo11n"])
def test_yolo_experiments_compose(experiment):
    from tests.helpers import compose_cfg

    cfg = compose_cfg("yolo", [f"experiment={experiment}", "data.root=x"])
    assert cfg.yolo.model == f"{cfg.yolo.name}-cls.yaml" and cfg.yolo.name in experiment
    if experiment.startswith("demo_scratch"):  # the from-scratch demo's 72 px frames, as its ResNet-50s
        assert cfg.yolo.imgsz == 64 and cfg.data.extract.image_size == 72
    elif experiment.startswith("demo"):  # the demo's 128 px frames, 112 px input as its Lite0 models
        assert cfg.yolo.imgsz == 112 and cfg.data.extract.image_size == 128 and cfg.data.extract.frames_per_video == 2
    else:
        assert cfg.yolo.imgsz == 640 and cfg.yolo.epochs == 30
