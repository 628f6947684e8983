"""Frame cache: one uint8 [N, H, W, 3] memmap plus index.csv and manifest.json, keyed by config and file list.

The cache holds frames and their index only; splits belong to runs (data/splits.py, split.json).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from deepfake_lightning.data.celebdf import IMAGE_EXTENSIONS, VideoItem
from deepfake_lightning.data.faces import center_crop, crop_face
from deepfake_lightning.data.video import UnreadableMediaError, read_frames, read_image

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # bump when extraction changes what it writes (2: Haar on a <= 640 px copy; 3: no split column)
FRAMES_FILE = "frames.u8"
INDEX_FILE = "index.csv"
MANIFEST_FILE = "manifest.json"
INDEX_FIELDS = ("row", "video", "frame", "label", "identity", "face")


@dataclass(frozen=True)
class ExtractConfig:
    """What decides the content of the cache."""

    frames_per_video: int = 1
    image_size: int = 64
    face_crop: bool = True
    face_margin: float = 0.3
    no_face: str = "center"  # center | skip

    def validate(self) -> None:
        if self.frames_per_video < 1:
            raise ValueError(f"data.frames_per_video must be >= 1, got {self.frames_per_video}")
        if self.image_size < 8:
            raise ValueError(f"data.image_size must be >= 8, got {self.image_size}")
        if self.no_face not in ("center", "skip"):
            raise ValueError(f"data.no_face must be 'center' or 'skip', got {self.no_face!r}")
        if self.face_margin < 0:
            raise ValueError(f"data.face_margin must be >= 0, got {self.face_margin}")


def cache_key(root: str | Path, items: Sequence[VideoItem], cfg: ExtractConfig, extra: str = "") -> str:
    """Hash of the extraction config and the file list (path, label, size, mtime), so a change rebuilds."""
    h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "cfg": asdict(cfg), "extra": extra}, sort_keys=True).encode())
    root = Path(root)
    for it in items:
        try:
            st = (root / it.path).stat()
            sig = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            sig = "missing"
        h.update(f"{it.path}|{it.label}|{it.identity}|{sig}\n".encode())
    return h.hexdigest()[:16]


def process_frame(frame_bgr: np.ndarray, cfg: ExtractConfig) -> tuple[np.ndarray | None, bool]:
    """Crop (face or centre) and resize one BGR frame to an RGB uint8 [S, S, 3]; None when it is to be skipped."""
    if cfg.face_crop:
        crop, found = crop_face(frame_bgr, cfg.face_margin, cfg.no_face)
        if crop is None:
            return None, False
    else:
        crop, found = center_crop(frame_bgr), False
    interp = cv2.INTER_AREA if crop.shape[0] > cfg.image_size else cv2.INTER_LINEAR
    out = cv2.resize(crop, (cfg.image_size, cfg.image_size), interpolation=interp)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB), found


def extract_item(root: Path, item: VideoItem, cfg: ExtractConfig) -> tuple[list[tuple[int, np.ndarray, bool]], str]:
    """Frames of one file as [(frame index, RGB image, face found)], and a reason when nothing was kept."""
    path = root / item.path
    try:
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            raw = [(0, read_image(path))]
        else:
            raw = read_frames(path, cfg.frames_per_video)
    except UnreadableMediaError as exc:
        return [], str(exc)
    except OSError as exc:  # vanished or unreadable between listing and reading
        return [], f"cannot read: {exc.strerror or exc}"
    kept = []
    for idx, frame in raw:
        if min(frame.shape[:2]) < 2:
            return [], f"frame too small ({frame.shape[1]}x{frame.shape[0]})"
        img, found = process_frame(frame, cfg)
        if img is not None:
            kept.append((idx, img, found))
    if not kept:
        return [], "no face found and data.no_face=skip"
    return kept, ""


@dataclass
class FrameCache:
    """A built cache: frames as a read-only memmap and the index as column arrays."""

    path: Path
    frames: np.ndarray
    index: dict[str, np.ndarray]
    manifest: dict

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
            "face": np.array([int(r["face"]) for r in rows], dtype=np.int64),
        }
        return cls(path, frames, index, manifest)

    def __len__(self) -> int:
        return len(self.index["row"])


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """{"real": n, "fake": n} over the whole cache."""
    return {"real": int((labels == 0).sum()), "fake": int((labels == 1).sum())}


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _write_index(path: Path, index: dict[str, np.ndarray]) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(INDEX_FIELDS)
        for i in range(len(index["row"])):
            w.writerow([index[k][i] for k in INDEX_FIELDS])
    os.replace(tmp, path)


def _extract_into(
    tmp: Path, root: Path, items: Iterable[VideoItem], cfg: ExtractConfig, total: int
) -> tuple[dict[str, list], list[dict[str, str]], dict[str, int]]:
    index: dict[str, list] = {k: [] for k in INDEX_FIELDS}
    skipped: list[dict[str, str]] = []
    faces = {"found": 0, "fallback_center": 0, "skipped_no_face": 0}
    row = 0
    t0 = time.monotonic()
    with open(tmp / FRAMES_FILE, "wb") as out:
        for n, item in enumerate(items, start=1):
            kept, reason = extract_item(root, item, cfg)
            if not kept:
                log.warning("skipping %s: %s", root / item.path, reason)
                skipped.append({"path": item.path, "reason": reason})
                if "no face" in reason:
                    faces["skipped_no_face"] += 1
                continue
            for idx, img, found in kept:
                out.write(img.tobytes())
                kind = "found" if found else ("fallback_center" if cfg.face_crop else "no_crop")
                faces[kind] = faces.get(kind, 0) + 1
                for k, v in zip(INDEX_FIELDS, (row, item.path, idx, item.label, item.identity, int(found))):
                    index[k].append(v)
                row += 1
            if n % 500 == 0:
                log.info("extract: %d/%d files, %.1f files/s", n, total, n / (time.monotonic() - t0))
    return index, skipped, faces


def _finish(
    tmp: Path,
    final: Path,
    index: dict[str, list],
    skipped: list[dict[str, str]],
    faces: dict[str, int],
    root: Path,
    key: str,
    cfg: ExtractConfig,
    n_files: int,
) -> None:
    """Write index and manifest into `tmp`, then move it to `final` in one rename."""
    s = cfg.image_size
    n = len(index["row"])
    manifest = {
        "version": CACHE_VERSION,
        "key": key,
        "root": str(root.resolve()),
        "config": asdict(cfg),
        "n_files": n_files,
        "n_frames": n,
        "shape": [n, s, s, 3],
        "faces": faces,
        "skipped": skipped,
        "counts": class_counts(np.array(index["label"], dtype=np.int64)),
    }
    _write_index(tmp / INDEX_FILE, {k: np.array(v, dtype=object) for k, v in index.items()})
    _write_json(tmp / MANIFEST_FILE, manifest)
    if final.exists():  # another process finished first; keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)


def shard_dir(cache_dir: str | Path, key: str, shard: int, num_shards: int) -> Path:
    """Where shard `shard` of `num_shards` of cache `key` is built."""
    return Path(cache_dir) / f"shards-{key}" / f"{shard}-of-{num_shards}"


def build_cache(
    root: str | Path,
    items: Sequence[VideoItem],
    cfg: ExtractConfig,
    cache_dir: str | Path,
    pre_skipped: Sequence[dict[str, str]] = (),
    extra_key: str = "",
    shard: int | None = None,
    num_shards: int = 1,
) -> FrameCache:
    """Build the cache for `items` under `cache_dir/<key>/`, or reuse it when nothing changed.

    The build writes into a temporary folder and renames it into place at the end, so a killed
    build never leaves a folder that looks complete. `pre_skipped` (e.g. malformed list lines)
    is recorded in the manifest with the files skipped here. With `shard` and `num_shards`, only
    items[shard::num_shards] are extracted, into a shard folder that `merge_shards` combines.
    """
    cfg.validate()
    root = Path(root)
    key = cache_key(root, items, cfg, extra_key)
    final = Path(cache_dir) / key
    if (final / MANIFEST_FILE).is_file():
        log.info("frame cache up to date, reusing %s (%d files)", final, len(items))
        return FrameCache.load(final)
    todo: Sequence[VideoItem] = items
    if num_shards > 1:
        if shard is None or not 0 <= shard < num_shards:
            raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
        final = shard_dir(cache_dir, key, shard, num_shards)
        todo = list(items)[shard::num_shards]
        pre_skipped = pre_skipped if shard == 0 else ()
        if (final / MANIFEST_FILE).is_file():
            log.info("shard %d/%d up to date, reusing %s", shard, num_shards, final)
            return FrameCache.load(final)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(cache_dir) / f".building-{key}-{shard if shard is not None else 'all'}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log.info("building frame cache %s from %d files under %s", final, len(todo), root)
    try:
        index, skipped, faces = _extract_into(tmp, root, todo, cfg, len(todo))
        _finish(tmp, final, index, list(pre_skipped) + skipped, faces, root, key, cfg, len(todo))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cache = FrameCache.load(final)
    log.info(
        "frame cache built: %d frames from %d files, %d skipped, faces %s",
        len(cache),
        len(todo),
        len(cache.manifest["skipped"]),
        faces,
    )
    return cache


def merge_shards(
    root: str | Path,
    items: Sequence[VideoItem],
    cfg: ExtractConfig,
    cache_dir: str | Path,
    num_shards: int,
    extra_key: str = "",
) -> FrameCache:
    """Combine the shard caches into the one cache an unsharded build would have written, byte for byte."""
    root = Path(root)
    key = cache_key(root, items, cfg, extra_key)
    final = Path(cache_dir) / key
    if (final / MANIFEST_FILE).is_file():
        log.info("frame cache up to date, reusing %s", final)
        return FrameCache.load(final)
    shards = [shard_dir(cache_dir, key, i, num_shards) for i in range(num_shards)]
    missing = [str(p) for p in shards if not (p / MANIFEST_FILE).is_file()]
    if missing:
        raise FileNotFoundError(f"cannot merge: shards not built yet: {missing}")
    loaded = [FrameCache.load(p) for p in shards]
    by_video: dict[str, tuple[int, list[int]]] = {}
    for si, c in enumerate(loaded):
        for r, v in enumerate(c.index["video"]):
            by_video.setdefault(v, (si, []))[1].append(r)
    tmp = Path(cache_dir) / f".merging-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    index: dict[str, list] = {k: [] for k in INDEX_FIELDS}
    try:
        with open(tmp / FRAMES_FILE, "wb") as out:
            for item in items:  # the unsharded build's order
                if item.path not in by_video:
                    continue
                si, rows = by_video[item.path]
                c = loaded[si]
                for r in rows:
                    out.write(np.asarray(c.frames[r]).tobytes())
                    for k in INDEX_FIELDS:
                        index[k].append(len(index["row"]) if k == "row" else c.index[k][r])
        order = {it.path: i for i, it in enumerate(items)}
        pre = [s for s in loaded[0].manifest["skipped"] if s["path"] not in order]
        skipped = sorted(
            (s for c in loaded for s in c.manifest["skipped"] if s["path"] in order), key=lambda s: order[s["path"]]
        )
        faces: dict[str, int] = {}
        for c in loaded:
            for k, v in c.manifest["faces"].items():
                faces[k] = faces.get(k, 0) + v
        _finish(tmp, final, index, pre + skipped, faces, root, key, cfg, len(items))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("merged %d shards into %s", num_shards, final)
    return FrameCache.load(final)
