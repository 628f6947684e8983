"""Degradations before the face crop: parameters per level, deterministic per seed, H.264 re-encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_lightning.data.perturb import KINDS, LEVELS, Perturbation, degrade, parameter


def _frames(n: int = 3) -> list[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(0)
    base = np.clip(rng.normal(128, 40, (64, 80, 3)), 0, 255).astype(np.uint8)
    return [(i, np.roll(base, 3 * i, axis=1)) for i in range(n)]


def test_levels_follow_deeperforensics_where_it_defines_them():
    assert LEVELS["blur"] == (7, 9, 13, 17, 21) and LEVELS["h264"] == (30, 32, 35, 38, 40)
    assert parameter("contrast", 5) == 0.35 and parameter("noise", 1) == 0.001
    with pytest.raises(ValueError, match="severity level"):
        parameter("jpeg", 6)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "h264"])
def test_each_degradation_changes_the_frame_more_at_higher_severity(kind):
    f = _frames(1)[0][1]
    err = [np.abs(degrade(f, kind, lv, np.random.default_rng(0)).astype(float) - f).mean() for lv in (1, 5)]
    assert 0 < err[0] < err[1]


def test_the_same_seed_gives_the_same_noise(tmp_path):
    frames = _frames()
    a = Perturbation("noise", 3, seed=1)(frames, Path("v.mp4"))
    b = Perturbation("noise", 3, seed=1)(frames, Path("v.mp4"))
    c = Perturbation("noise", 3, seed=2)(frames, Path("v.mp4"))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))
    assert Perturbation("noise", 3, 1).key != Perturbation("noise", 3, 2).key


def test_h264_reencodes_the_whole_video_and_keeps_the_frame_indices(tmp_path):
    from benchmarks.measures import write_h264
    from deepfake_lightning.data.video import read_frames

    path = tmp_path / "v.mp4"
    write_h264(path, 20, (96, 64), None)
    frames = read_frames(path, 4)
    out = Perturbation("h264", 5)(frames, path)
    assert [i for i, _ in out] == [i for i, _ in frames]
    assert all(o.shape == f.shape for (_, o), (_, f) in zip(out, frames))
    assert any(np.abs(o.astype(int) - f).mean() > 0.1 for (_, o), (_, f) in zip(out, frames))


def test_a_file_the_degradation_cannot_handle_is_skipped_with_its_reason(tmp_path):
    import cv2

    from deepfake_lightning.data.extract import extract_item, packaged_extract_config
    from deepfake_lightning.data.items import VideoItem

    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", _frames(1)[0][1])[1].tobytes())

    def broken(frames, path):
        raise RuntimeError("codec not available")

    kept, reason = extract_item(
        tmp_path, VideoItem("a.png", 0, "a"), packaged_extract_config(face_crop=False), "box", broken
    )
    assert kept == [] and "codec not available" in reason
