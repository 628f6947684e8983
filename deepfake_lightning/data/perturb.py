"""Real-world degradations applied to decoded frames before the face crop (dfl-eval perturb=...), as an upload
pipeline would: JPEG, Gaussian blur, colour noise, down-up resizing, contrast, H.264 re-encoding.

Severity levels 1-5. Where DeeperForensics-1.0 defines the degradation its parameters are used (blur kernel
7-21, noise variance 0.001-0.05 in YCbCr, contrast 0.85-0.35, down-up resize 2-6x, which its code calls
JPEG, H.264 CRF 30-40); true JPEG re-compression (quality 90-10) is not in its list and is ours. Each is
deterministic for a seed: the noise of a frame is drawn from (seed, file, frame index).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_lightning.data.items import IMAGE_EXTENSIONS

LEVELS = {
    "jpeg": (90, 70, 50, 30, 10),  # JPEG quality (ours: DeeperForensics' "JPEG" is the down-up resize below)
    "blur": (7, 9, 13, 17, 21),  # Gaussian kernel size (DeeperForensics GB)
    "noise": (0.001, 0.002, 0.005, 0.01, 0.05),  # variance of white noise in YCbCr, [0, 1] scale (GNC)
    "resize": (2, 3, 4, 5, 6),  # down by this factor, then back up (DeeperForensics' JPEG, pixelation)
    "contrast": (0.85, 0.725, 0.6, 0.475, 0.35),  # pixel values scaled by this (CC)
    "h264": (30, 32, 35, 38, 40),  # libx264 CRF of a whole-video re-encode (VC); an image: one intra frame
}
KINDS = tuple(LEVELS)


def parameter(kind: str, level: int) -> float:
    """The parameter of `kind` at severity `level` (1-5)."""
    if kind not in LEVELS:
        raise ValueError(f"perturb: unknown kind {kind!r}; choose from {KINDS}")
    if not 1 <= int(level) <= len(LEVELS[kind]):
        raise ValueError(f"perturb_levels: {level} is not a severity level (1-{len(LEVELS[kind])})")
    return LEVELS[kind][int(level) - 1]


def _rng(seed: int, path: str, index: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{path}|{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def degrade(frame: np.ndarray, kind: str, level: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """One BGR uint8 frame degraded (every kind but h264, which needs the whole video)."""
    p = parameter(kind, level)
    if kind == "jpeg":
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(p)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else frame
    if kind == "blur":
        return cv2.GaussianBlur(frame, (int(p), int(p)), 0)
    if kind == "noise":
        ycc = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb).astype(np.float32) / 255.0
        noise = (rng or np.random.default_rng(0)).normal(0.0, np.sqrt(p), ycc.shape).astype(np.float32)
        ycc = np.clip((ycc + noise) * 255.0, 0, 255).astype(np.uint8)
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)
    if kind == "resize":
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (max(1, w // int(p)), max(1, h // int(p))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == "contrast":
        return np.clip(frame.astype(np.float32) * p, 0, 255).astype(np.uint8)
    raise ValueError(f"degrade: {kind} needs the whole video (reencode_h264)")


def encode_h264(frames: Iterable[np.ndarray], path: Path, rate: Any, crf: int, preset: str | None = None) -> int:
    """Write BGR frames to `path` with libx264 at `crf` (PyAV; sides cut to even numbers); returns how many."""
    import av

    n, stream = 0, None
    with av.open(str(path), "w") as dst:
        for img in frames:
            if stream is None:
                stream = dst.add_stream("libx264", rate=rate)
                stream.width, stream.height, stream.pix_fmt = img.shape[1] // 2 * 2, img.shape[0] // 2 * 2, "yuv420p"
                stream.options = {"crf": str(int(crf)), **({"preset": preset} if preset else {})}
            img = np.ascontiguousarray(img[: stream.height, : stream.width])
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                dst.mux(pkt)
            n += 1
        if stream is not None:
            for pkt in stream.encode():
                dst.mux(pkt)
    return n


def reencode_h264(path: Path, crf: int, indices: list[int]) -> dict[int, np.ndarray]:
    """The frames at `indices` of `path` after re-encoding every frame with libx264 at `crf`."""
    import av

    from deepfake_lightning.data.video import read_frames

    with tempfile.TemporaryDirectory(prefix="dfl-h264-") as tmp:
        out_path = Path(tmp) / "reencoded.mp4"
        with av.open(str(path)) as src:
            vin = src.streams.video[0]
            decoded = (frame.to_ndarray(format="bgr24") for frame in src.decode(vin))
            n = encode_h264(decoded, out_path, vin.average_rate or 25, crf, "veryfast")
        got = dict(read_frames(out_path, n)) if n else {}
    return {i: got[i] for i in indices if i in got}


@dataclass(frozen=True)
class Perturbation:
    """One kind at one severity level, for one seed: called on a file's decoded frames before the face crop."""

    kind: str
    level: int
    seed: int = 0

    def __post_init__(self) -> None:
        parameter(self.kind, self.level)  # validates

    @property
    def key(self) -> str:
        """What the frame cache's key adds for it: a perturbed cache never replaces the clean one."""
        return f"perturb={self.kind}:{self.level}:{self.seed}"

    def __call__(self, frames: list[tuple[int, np.ndarray]], path: Path) -> list[tuple[int, np.ndarray]]:
        if self.kind == "h264":
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                return [(0, _h264_image(frames[0][1], int(parameter("h264", self.level))))]
            re = reencode_h264(path, int(parameter("h264", self.level)), [i for i, _ in frames])
            # A frame the re-encoded stream lost keeps its original (rare: a broken tail).
            return [(i, _fit(re.get(i, f), f)) for i, f in frames]
        return [(i, degrade(f, self.kind, self.level, _rng(self.seed, str(path), i))) for i, f in frames]


def _fit(frame: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`frame` at the size of `like` (x264 needs even sides: one row or column may have been cut)."""
    if frame.shape[:2] == like.shape[:2]:
        return frame
    return cv2.resize(frame, (like.shape[1], like.shape[0]), interpolation=cv2.INTER_LINEAR)


def _h264_image(img: np.ndarray, crf: int) -> np.ndarray:
    """An image through libx264 as a one-frame video (an intra frame at that CRF)."""
    from deepfake_lightning.data.video import read_frames

    with tempfile.TemporaryDirectory(prefix="dfl-h264-") as tmp:
        p = Path(tmp) / "image.mp4"
        encode_h264([img], p, 1, crf)
        got = read_frames(p, 1)
    return _fit(got[0][1], img) if got else img
