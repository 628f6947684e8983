"""The FrameCache format: one uint8 [N, H, W, 3] memmap (frames.u8), its faces' geometry (geometry.f32),
index.csv and manifest.json.

The cache holds frames and their index only; splits belong to runs (data/splits.py, split.json).
Building one (parallel, resumable, sharded) is data/build.py's job.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE_VERSION = 5  # bump when extraction changes what it writes (3: no split column; 4: face kinds, tracks;
# 5: face geometry per frame)
FRAMES_FILE = "frames.u8"
GEOMETRY_FILE = "geometry.f32"  # float32 [N, GEOMETRY_DIM]: face box and landmarks in each stored crop
INDEX_FILE = "index.csv"
MANIFEST_FILE = "manifest.json"
INDEX_FIELDS = ("row", "video", "frame", "label", "identity", "face")


@dataclass
class FrameCache:
    """A built cache: frames as a read-only memmap and the index as column arrays."""

    path: Path
    frames: np.ndarray
    index: dict[str, np.ndarray]
    manifest: dict
    geometry: np.ndarray | None = None  # float32 [N, GEOMETRY_DIM]; None in a cache written without it

    @classmethod
    def load(cls, path: str | Path) -> FrameCache:
        path = Path(path)
        manifest = json.loads((path / MANIFEST_FILE).read_text())
        n, s = manifest["n_frames"], manifest["config"]["image_size"]
        frames = (
            np.memmap(path / FRAMES_FILE, dtype=np.uint8, mode="r", shape=(n, s, s, 3))
            if n
            else np.zeros((0, s, s, 3), np.uint8)
        )
        with open(path / INDEX_FILE, newline="") as f:
            rows = list(csv.DictReader(f))
        index = {
            "row": np.array([int(r["row"]) for r in rows], dtype=np.int64),
            "video": np.array([r["video"] for r in rows], dtype=object),
            "frame": np.array([int(r["frame"]) for r in rows], dtype=np.int64),
            "label": np.array([int(r["label"]) for r in rows], dtype=np.int64),
            "identity": np.array([r["identity"] for r in rows], dtype=object),
            "face": np.array([r["face"] for r in rows], dtype=object),
        }
        geometry = None
        if (path / GEOMETRY_FILE).is_file():
            from deepfake_lightning.data.faces import GEOMETRY_DIM

            geometry = np.fromfile(path / GEOMETRY_FILE, dtype=np.float32).reshape(n, GEOMETRY_DIM)
        return cls(path, frames, index, manifest, geometry)

    def __len__(self) -> int:
        return len(self.index["row"])


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """{"real": n, "fake": n} over the whole cache."""
    return {"real": int((labels == 0).sum()), "fake": int((labels == 1).sum())}


def read_json(path: Path, kind: type, expected: str) -> Any:
    """JSON of type `kind` from `path`; ValueError naming what was expected when it is malformed or another type."""
    try:
        obj = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(obj, kind):
        raise ValueError(f"expected {expected}")
    return obj


def write_json(path: Path, obj: Any, indent: int = 2, sort_keys: bool = True) -> Path:
    """Write JSON atomically (temp file, then rename): the one writer of the cache's, split.json's and
    metrics.json's files, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=indent, sort_keys=sort_keys))
    os.replace(tmp, path)
    return path


def write_index(path: Path, index: dict[str, np.ndarray] | dict[str, list]) -> None:
    """Write index.csv atomically."""
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(INDEX_FIELDS)
        for i in range(len(index["row"])):
            w.writerow([index[k][i] for k in INDEX_FIELDS])
    os.replace(tmp, path)
