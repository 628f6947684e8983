"""One file -> its frames: decode K frames (or the image), find the face once per video, crop and resize."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from omegaconf import OmegaConf

from deepfake_lightning.config import check_block, shipped
from deepfake_lightning.data.faces import (
    DETECTORS,
    LANDMARKS,
    center_window,
    crop_geometry,
    detect_face,
    landmarks68,
    square_window,
    track_boxes,
)
from deepfake_lightning.data.items import IMAGE_EXTENSIONS, VideoItem
from deepfake_lightning.data.video import UnreadableMediaError, read_frames, read_image

FACE_KINDS = ("detected", "tracked", "center", "full")  # the index's `face` column
NO_FACE = ("center", "skip")


@dataclass(frozen=True)
class ExtractConfig:
    """What decides the content of the cache: the `data.extract` node (its values live in conf/data/celebdf.yaml,
    their one home); the ranges and choices are checked when it is made, naming `data.extract.<key>`."""

    frames_per_video: int = field(metadata={"range": (1, 10**4)})
    image_size: int = field(metadata={"range": (8, 10**4)})  # side of the cached square frames
    face_crop: bool
    face_margin: float = field(metadata={"range": (0.0, 10.0)})
    no_face: str = field(metadata={"choices": NO_FACE})  # for a video with no face in any of its K frames
    face_detector: str = field(metadata={"choices": DETECTORS})
    face_min_score: float  # dlib's detection score cutoff
    # Face geometry stored beside each frame, for self-blended pseudo-fakes: dlib68 (the optional model
    # file), box (an ellipse in the face box), auto (dlib68 when installed). Resolved by the build.
    landmarks: str = field(metadata={"choices": LANDMARKS})

    @classmethod
    def from_node(cls, node: Any, key: str = "data.extract") -> ExtractConfig:
        """The ExtractConfig of a `data.extract` node, the one way to make one: an unknown or missing key, a
        wrong type, a value out of range is an error naming `key.<field>`."""
        typed = check_block(key, OmegaConf.create(dict(node)) if isinstance(node, dict) else node, cls)
        return cls(**OmegaConf.to_container(typed))

    def replace(self, **changes: Any) -> ExtractConfig:
        """A copy with `changes`, checked as a node is."""
        return ExtractConfig.from_node({**asdict(self), **changes})


def packaged_extract_config(**changes: Any) -> ExtractConfig:
    """The data.extract values the package ships (conf/data/celebdf.yaml), with `changes`: for code that runs
    without a composed config (benchmarks, tests)."""
    return ExtractConfig.from_node(shipped("data/celebdf.yaml").extract).replace(**changes)


def run_extract_config(data_config: dict[str, Any], frames_per_video: int | None = None) -> ExtractConfig:
    """The extraction settings a run was trained with (from its stored data config, as models/loading.py
    reads it), to score new files exactly as its own frames were made; `frames_per_video` replaces the run's."""
    cfg = ExtractConfig.from_node(dict(data_config["extract"]), "the run's data.extract")
    return cfg.replace(frames_per_video=int(frames_per_video)) if frames_per_video else cfg


def resize_rgb(crop_bgr: np.ndarray, size: int) -> np.ndarray:
    """A BGR crop as an RGB uint8 [size, size, 3]."""
    interp = cv2.INTER_AREA if crop_bgr.shape[0] > size else cv2.INTER_LINEAR
    return cv2.cvtColor(cv2.resize(crop_bgr, (size, size), interpolation=interp), cv2.COLOR_BGR2RGB)


Crop = tuple[int, np.ndarray, str, np.ndarray]  # (frame index, RGB image, face kind, geometry in the crop)


def crop_frames(
    frames: list[tuple[int, np.ndarray]], cfg: ExtractConfig, landmarks: str = "box"
) -> tuple[list[Crop], str]:
    """Crop a video's frames with one face track: [(frame index, RGB image, face kind, geometry)], and a
    reason when none. `landmarks` (resolved: dlib68 or box) says whether geometry carries 68 landmarks."""
    size = cfg.image_size

    def center(f: np.ndarray, kind: str) -> Crop:
        x0, y0, s = center_window(f.shape)
        return resize_rgb(f[y0 : y0 + s, x0 : x0 + s], size), kind, crop_geometry((x0, y0, s), size, None)

    if not cfg.face_crop:
        return [(i, *center(f, "full")) for i, f in frames], ""
    boxes = [detect_face(f, cfg.face_detector, cfg.face_min_score) for _, f in frames]
    tracked = track_boxes(boxes)
    if tracked and tracked[0][1] == "none":
        if cfg.no_face == "skip":
            return [], "no face found in any frame and data.extract.no_face=skip"
        return [(i, *center(f, "center")) for i, f in frames], ""
    out = []
    for (i, f), (box, kind) in zip(frames, tracked):
        assert box is not None
        x0, y0, side = square_window(f.shape, box, cfg.face_margin)
        points = landmarks68(f, box) if landmarks == "dlib68" else None
        geom = crop_geometry((x0, y0, side), size, box, points)
        out.append((i, resize_rgb(f[y0 : y0 + side, x0 : x0 + side], size), kind, geom))
    return out, ""


def extract_item(
    root: Path, item: VideoItem, cfg: ExtractConfig, landmarks: str = "box", perturb: Any = None
) -> tuple[list[Crop], str]:
    """Frames of one file as [(frame index, RGB image, face kind, geometry)], and a reason when nothing was kept.

    `perturb(frames, path)`, when given, degrades the decoded frames before the face crop (dfl-eval perturb=).
    """
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
    if perturb is not None:
        try:
            raw = perturb(raw, path)
        except Exception as exc:  # e.g. a stream OpenCV decodes but PyAV cannot re-encode: skip it, say why
            return [], f"cannot apply {getattr(perturb, 'key', 'the degradation')}: {type(exc).__name__}: {exc}"
    return crop_frames(raw, cfg, landmarks)
