"""One file -> its frames: decode K frames (or the image), find the face once per video, crop and resize."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deepfake_lightning.data.celebdf import IMAGE_EXTENSIONS, VideoItem
from deepfake_lightning.data.faces import DETECTORS, center_crop, detect_face, square_crop, track_boxes
from deepfake_lightning.data.video import UnreadableMediaError, read_frames, read_image

FACE_KINDS = ("detected", "tracked", "center", "full")  # the index's `face` column


@dataclass(frozen=True)
class ExtractConfig:
    """What decides the content of the cache."""

    frames_per_video: int = 1
    image_size: int = 64
    face_crop: bool = True
    face_margin: float = 0.3
    no_face: str = "center"  # center | skip, for a video with no face in any of its K frames
    face_detector: str = "dlib"  # dlib | haar
    face_min_score: float = 0.0  # dlib's detection score cutoff

    def validate(self) -> None:
        if self.frames_per_video < 1:
            raise ValueError(f"data.frames_per_video must be >= 1, got {self.frames_per_video}")
        if self.image_size < 8:
            raise ValueError(f"data.image_size must be >= 8, got {self.image_size}")
        if self.no_face not in ("center", "skip"):
            raise ValueError(f"data.no_face must be 'center' or 'skip', got {self.no_face!r}")
        if self.face_margin < 0:
            raise ValueError(f"data.face_margin must be >= 0, got {self.face_margin}")
        if self.face_detector not in DETECTORS:
            raise ValueError(f"data.face_detector must be one of {DETECTORS}, got {self.face_detector!r}")


def resize_rgb(crop_bgr: np.ndarray, size: int) -> np.ndarray:
    """A BGR crop as an RGB uint8 [size, size, 3]."""
    interp = cv2.INTER_AREA if crop_bgr.shape[0] > size else cv2.INTER_LINEAR
    return cv2.cvtColor(cv2.resize(crop_bgr, (size, size), interpolation=interp), cv2.COLOR_BGR2RGB)


def crop_frames(
    frames: list[tuple[int, np.ndarray]], cfg: ExtractConfig
) -> tuple[list[tuple[int, np.ndarray, str]], str]:
    """Crop a video's frames with one face track: [(frame index, RGB image, face kind)], and a reason when none."""
    if not cfg.face_crop:
        return [(i, resize_rgb(center_crop(f), cfg.image_size), "full") for i, f in frames], ""
    boxes = [detect_face(f, cfg.face_detector, cfg.face_min_score) for _, f in frames]
    tracked = track_boxes(boxes)
    if tracked and tracked[0][1] == "none":
        if cfg.no_face == "skip":
            return [], "no face found in any frame and data.no_face=skip"
        return [(i, resize_rgb(center_crop(f), cfg.image_size), "center") for i, f in frames], ""
    out = []
    for (i, f), (box, kind) in zip(frames, tracked):
        assert box is not None
        out.append((i, resize_rgb(square_crop(f, box, cfg.face_margin), cfg.image_size), kind))
    return out, ""


def extract_item(root: Path, item: VideoItem, cfg: ExtractConfig) -> tuple[list[tuple[int, np.ndarray, str]], str]:
    """Frames of one file as [(frame index, RGB image, face kind)], and a reason when nothing was kept."""
    path = Path(root) / item.path
    try:
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            raw = [(0, read_image(path))]
        else:
            raw = read_frames(path, cfg.frames_per_video)
    except UnreadableMediaError as exc:
        return [], str(exc)
    except OSError as exc:  # vanished or unreadable between listing and reading
        return [], f"cannot read: {exc.strerror or exc}"
    for _, frame in raw:
        if min(frame.shape[:2]) < 2:
            return [], f"frame too small ({frame.shape[1]}x{frame.shape[0]})"
    return crop_frames(raw, cfg)
