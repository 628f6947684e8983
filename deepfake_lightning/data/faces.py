"""Face crop with OpenCV's Haar cascade (shipped in cv2.data), with a margin and a configured fallback."""

from __future__ import annotations

import functools

import cv2
import numpy as np


@functools.lru_cache(maxsize=1)
def haar_cascade() -> cv2.CascadeClassifier:
    """The frontal-face cascade that opencv-python 4.x ships; no download."""
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load the Haar cascade at {path}; opencv-python 4.x ships it in cv2.data")
    return cascade


DETECT_MAX_SIDE = 640  # Haar runs on a copy no larger than this (HD frames: ~10x faster), boxes scaled back


def detect_face(frame: np.ndarray, min_size_frac: float = 0.1) -> tuple[int, int, int, int] | None:
    """The largest face box (x, y, w, h) in a BGR frame, or None."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    scale = max(grey.shape[:2]) / DETECT_MAX_SIDE
    if scale > 1:
        grey = cv2.resize(
            grey, (round(grey.shape[1] / scale), round(grey.shape[0] / scale)), interpolation=cv2.INTER_AREA
        )
        box = _detect(grey, min_size_frac)
        return None if box is None else tuple(int(round(v * scale)) for v in box)  # type: ignore[return-value]
    return _detect(grey, min_size_frac)


def _detect(grey: np.ndarray, min_size_frac: float) -> tuple[int, int, int, int] | None:
    side = min(grey.shape[:2])
    min_size = max(12, int(side * min_size_frac))
    boxes = haar_cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    if len(boxes) == 0:
        return None
    x, y, w, h = max(boxes, key=lambda b: int(b[2]) * int(b[3]))
    return int(x), int(y), int(w), int(h)


def square_crop(frame: np.ndarray, box: tuple[int, int, int, int], margin: float) -> np.ndarray:
    """A square crop around `box`, grown by `margin` of its size on each side, clipped to the frame."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    half = max(w, h) * (1 + 2 * margin) / 2
    height, width = frame.shape[:2]
    half = min(half, width / 2, height / 2)
    x0 = int(round(min(max(cx - half, 0), width - 2 * half)))
    y0 = int(round(min(max(cy - half, 0), height - 2 * half)))
    side = int(round(2 * half))
    return frame[y0 : y0 + side, x0 : x0 + side]


def center_crop(frame: np.ndarray) -> np.ndarray:
    """The largest centred square."""
    h, w = frame.shape[:2]
    s = min(h, w)
    return frame[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]


def crop_face(frame: np.ndarray, margin: float, fallback: str) -> tuple[np.ndarray | None, bool]:
    """Crop the face; returns (crop or None when `fallback='skip'` and no face, whether a face was found)."""
    box = detect_face(frame)
    if box is not None:
        return square_crop(frame, box, margin), True
    if fallback == "center":
        return center_crop(frame), False
    if fallback == "skip":
        return None, False
    raise ValueError(f"data.no_face must be 'center' or 'skip', got {fallback!r}")
