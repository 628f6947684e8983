"""Frame extraction on generated videos, other containers, odd images and broken files."""

import cv2
import numpy as np
import pytest

from deepfake_lightning.data.extract import extract_item, packaged_extract_config
from deepfake_lightning.data.items import VideoItem
from deepfake_lightning.data.video import UnreadableMediaError, evenly_spaced, read_frames, read_image


def test_evenly_spaced():
    assert evenly_spaced(10, 1) == [5]
    assert evenly_spaced(10, 2) == [2, 7]
    assert evenly_spaced(3, 5) == [0, 1, 2]
    assert evenly_spaced(0, 1) == []


def _write(path, n, size=(48, 32), fourcc="mp4v", grey=False):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, size, not grey)
    for i in range(n):
        f = np.full((size[1], size[0], 3), i * 10 % 255, np.uint8)
        w.write(f[..., 0] if grey else f)
    w.release()
    return path


@pytest.mark.parametrize("ext,fourcc", [(".mp4", "mp4v"), (".avi", "MJPG"), (".mov", "mp4v")])
def test_containers_and_seeking(tmp_path, ext, fourcc):
    p = _write(tmp_path / f"v{ext}", 20, fourcc=fourcc)
    frames = read_frames(p, 4)
    assert [i for i, _ in frames] == evenly_spaced(20, 4)
    for i, f in frames:
        assert f.shape == (32, 48, 3) and f.dtype == np.uint8
        assert abs(int(f.mean()) - i * 10) <= 6  # the frame we asked for, not another


def test_grey_video_and_images(tmp_path):
    p = _write(tmp_path / "g.avi", 5, fourcc="MJPG", grey=True)
    assert read_frames(p, 1)[0][1].shape == (32, 48, 3)
    grey16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    img = read_image(tmp_path / "g16.png")
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and img.max() > 200


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.mp4", b"", "empty"),
        ("text.mp4", b"this is not a video at all\n" * 50, ""),
        ("header.mp4", None, ""),
        ("trunc.mp4", "trunc", ""),
    ],
)
def test_bad_videos_are_skipped_with_reason(tmp_path, name, content, reason):
    good = _write(tmp_path / "good.mp4", 30)
    p = tmp_path / name
    if content is None:
        p.write_bytes(good.read_bytes()[:48])
    elif content == "trunc":
        p.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 10])
    else:
        p.write_bytes(content)
    kept, why = extract_item(tmp_path, VideoItem(name, 0, "x"), packaged_extract_config(image_size=16))
    if kept:  # a truncated file may still give its first frames: then they are real frames
        assert all(img.shape == (16, 16, 3) for _, img, *_ in kept)
    else:
        assert why and reason in why
    with pytest.raises(UnreadableMediaError):
        read_frames(tmp_path / "missing.mp4", 1)


def test_face_fallback_and_skip(tmp_path):
    _write(tmp_path / "noface.mp4", 5)
    kept, _ = extract_item(
        tmp_path, VideoItem("noface.mp4", 0, "x"), packaged_extract_config(image_size=16, no_face="center")
    )
    assert len(kept) == 1 and kept[0][2] == "center"
    kept, why = extract_item(
        tmp_path, VideoItem("noface.mp4", 0, "x"), packaged_extract_config(image_size=16, no_face="skip")
    )
    assert kept == [] and "no face" in why


def test_face_box_on_a_large_frame_maps_back(monkeypatch):
    from deepfake_lightning.data import faces

    seen = {}

    def fake_detect(grey, frac):
        seen["shape"] = grey.shape
        return (10, 20, 30, 40)

    monkeypatch.setattr(faces, "_detect", fake_detect)
    box = faces.detect_face(np.zeros((1080, 1920, 3), np.uint8), "haar", 0.0)
    assert max(seen["shape"]) == faces.DETECT_MAX_SIDE
    assert box == (30, 60, 90, 120)  # scaled by 1920 / 640 = 3
    assert faces.detect_face(np.zeros((100, 120, 3), np.uint8), "haar", 0.0) == (10, 20, 30, 40)


def test_one_face_track_per_video():
    from deepfake_lightning.data.faces import track_boxes

    a, b = (1, 2, 3, 4), (5, 6, 7, 8)
    assert track_boxes([None, a, None, None, b]) == [
        (a, "tracked"),
        (a, "detected"),
        (a, "tracked"),  # equidistant from a and b: the earlier frame
        (b, "tracked"),
        (b, "detected"),
    ]
    assert track_boxes([None, None]) == [(None, "none"), (None, "none")]


def test_dlib_finds_a_face_and_frames_without_one_are_tracked(tiny_root, monkeypatch):
    from deepfake_lightning.data import extract, faces
    from deepfake_lightning.data.video import read_frames

    videos = sorted((tiny_root / "Celeb-real").glob("*.mp4"))
    found = None
    for v in videos:
        frames = read_frames(v, 4)
        boxes = [faces.detect_face(f, "dlib", 0.0) for _, f in frames]
        if any(boxes):
            found = (v, frames, boxes)
            break
    assert found is not None, "dlib found no face in any generated video"
    v, frames, boxes = found
    h, w = frames[0][1].shape[:2]
    x, y, bw, bh = next(b for b in boxes if b)
    assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
    assert faces.detect_face(np.zeros((h, w, 3), np.uint8), "dlib", 0.0) is None
    # Hide the face in every frame but the first: the others take its box.
    first = next(b for b in boxes if b)
    calls = iter([first] + [None] * (len(frames) - 1))
    monkeypatch.setattr(extract, "detect_face", lambda *a, **k: next(calls))
    kept, _ = extract.crop_frames(frames, packaged_extract_config(image_size=16, face_detector="dlib"))
    assert [k for _, _, k, _ in kept] == ["detected"] + ["tracked"] * (len(frames) - 1)


def _write_numbered_h264(path, n=240, vfr=False, size=(96, 64)):
    """An H.264 MP4 (libx264 via PyAV, B-frames on) whose pixels spell each frame's index in binary."""
    import fractions

    av = pytest.importorskip("av")
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.time_base = fractions.Fraction(1, 1000)
        s.options = {"g": "48", "bf": "3", "crf": "18"}
        rng, t = np.random.default_rng(0), 0
        for i in range(n):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            for b in range(9):
                if (i >> b) & 1:
                    img[:, b * 10 : (b + 1) * 10] = 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = t, fractions.Fraction(1, 1000)
            t += int(rng.choice([20, 40, 80])) if vfr else 40
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _index_of(img):
    return sum(1 << b for b in range(9) if img[:, b * 10 + 2 : (b + 1) * 10 - 2].mean() > 127)


@pytest.mark.parametrize("vfr", [False, True], ids=["constant-rate", "variable-rate"])
def test_seeking_gives_the_frame_a_sequential_decode_gives(tmp_path, vfr):
    from deepfake_lightning.data.video import constant_frame_rate

    path = tmp_path / "numbered.mp4"
    _write_numbered_h264(path, vfr=vfr)
    assert constant_frame_rate(path) is (not vfr)
    cap = cv2.VideoCapture(str(path))
    sequential = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        sequential.append(_index_of(f))
    cap.release()
    assert sequential == list(range(240))
    for k in (1, 4, 7, 16, 32):
        got = read_frames(path, k)
        assert [i for i, _ in got] == evenly_spaced(240, k)
        assert [_index_of(f) for _, f in got] == [i for i, _ in got], f"K={k}: a frame other than the index"
