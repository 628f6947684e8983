"""Building a frame cache: hash-keyed, parallel over files, resumable in chunks, atomic, shardable across jobs.

A build extracts files in fixed chunks (`chunk_files` files each, in the file list's order); each chunk
is written to its own folder inside `.building-<key>/` and renamed into place when complete, so a killed
build keeps its finished chunks and the next run resumes from them. A shard (one job of a cluster array)
extracts only its share of the chunks into the same folder. The chunks are then concatenated in order into
the cache, which is renamed into place in one step: a one-process build, an N-process build, a resumed
build and N shards merged give the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
import types
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_lightning.data.cache import (
    CACHE_VERSION,
    FRAMES_FILE,
    GEOMETRY_FILE,
    INDEX_FIELDS,
    MANIFEST_FILE,
    FrameCache,
    class_counts,
    write_index,
    write_json,
)
from deepfake_lightning.data.extract import ExtractConfig, extract_item
from deepfake_lightning.data.faces import resolve_landmarks
from deepfake_lightning.data.items import Layout, VideoItem
from deepfake_lightning.runtime import available_cores

log = logging.getLogger(__name__)

CHUNK_ROWS = "rows.json"


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


def extract_chunk(
    root: str, items: Sequence[VideoItem], cfg: ExtractConfig, chunk_dir: str, landmarks: str = "box",
    perturb: Any = None,
) -> dict:  # fmt: skip
    """Extract `items` into `chunk_dir` (frames.u8, geometry.f32, rows.json), atomically; returns the chunk's
    summary. `landmarks`: the resolved data.extract.landmarks (dlib68 or box); `perturb`: see extract_item."""
    final = Path(chunk_dir)
    tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rows: list[list] = []
    skipped: list[dict[str, str]] = []
    faces: Counter[str] = Counter()
    with open(tmp / FRAMES_FILE, "wb") as out, open(tmp / GEOMETRY_FILE, "wb") as geo:
        for item in items:
            kept, reason = extract_item(Path(root), item, cfg, landmarks, perturb)
            if not kept:
                skipped.append({"path": item.path, "reason": reason})
                if "no face" in reason:
                    faces["skipped_no_face"] += 1
                continue
            for idx, img, kind, geom in kept:
                out.write(img.tobytes())
                geo.write(np.asarray(geom, dtype=np.float32).tobytes())
                faces[kind] += 1
                rows.append([item.path, int(idx), int(item.label), item.identity, kind])
    summary = {"rows": rows, "skipped": skipped, "faces": faces, "n_files": len(items)}
    (tmp / CHUNK_ROWS).write_text(json.dumps(summary))
    os.replace(tmp, final)
    return summary


class _Progress:
    """A tqdm bar on a terminal; otherwise a log line every ~10% (files done, files/s, ETA)."""

    def __init__(self, total: int, done: int):
        self.total, self.done, self.t0, self.start = total, done, time.monotonic(), done
        self.next_log = done + max(1, total // 10)
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="file", desc="extract", dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.done >= self.next_log or self.done == self.total:
            rate = (self.done - self.start) / max(time.monotonic() - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            log.info("extract: %d/%d files, %.1f files/s, ETA %.0fs", self.done, self.total, rate, eta)
            self.next_log = self.done + max(1, self.total // 10)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def pool_ping(x: int) -> int:
    """A no-op task of this light module: `make bench` times the worker start with it."""
    return x


def _worker_init() -> None:
    """An extraction worker decodes with one OpenCV thread: the workers divide the cores between them."""
    import cv2

    cv2.setNumThreads(1)


@contextlib.contextmanager
def light_main() -> Iterator[None]:
    """Start spawn workers without re-importing the parent's main module.

    A spawned child imports the parent's `__main__` (here a dfl-* app, which imports Hydra, Lightning and
    torch: ~2.5 s of CPU per worker, so 2 workers on small data were no faster than 1). The workers only
    need `extract_chunk`, which they import by name; while they start, `__main__` is a bare module, so
    multiprocessing tells them there is no main module to import.
    """
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


def _chunk(work: Path, i: int) -> Path:
    """Where chunk `i` of a build is written."""
    return work / f"chunk-{i:06d}"


def _run_chunks(
    root: Path, chunks: dict[int, list[VideoItem]], cfg: ExtractConfig, work: Path, workers: int,
    landmarks: str = "box", perturb: Any = None,
) -> None:  # fmt: skip
    """Extract every chunk {number: items} not yet complete in `work`, with `workers` processes; resumes
    finished ones."""
    pending = [i for i in chunks if not (_chunk(work, i) / CHUNK_ROWS).is_file()]
    total = sum(len(c) for c in chunks.values())
    n_done = total - sum(len(chunks[i]) for i in pending)
    if n_done:
        log.info("resuming: %d of %d files already extracted (%s)", n_done, total, work)
    progress = _Progress(total, n_done)

    def report(summary: dict) -> None:
        for s in summary["skipped"]:
            log.warning("skipping %s: %s", root / s["path"], s["reason"])
        progress.update(summary["n_files"])

    try:
        if workers <= 1 or len(pending) <= 1:
            for i in pending:
                report(extract_chunk(str(root), chunks[i], cfg, str(_chunk(work, i)), landmarks, perturb))
        else:
            # spawn: the parent may hold threads (torch, OpenCV); forking those is unsafe.
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
                with light_main():  # workers are started by submit(): while it runs
                    futures = [
                        pool.submit(extract_chunk, str(root), chunks[i], cfg, str(_chunk(work, i)), landmarks, perturb)
                        for i in pending
                    ]
                for fut in as_completed(futures):
                    report(fut.result())
    finally:
        progress.close()


def _assemble(work: Path, n_chunks: int, final: Path, manifest: dict[str, Any]) -> Counter[str]:
    """Concatenate the chunks in order into a cache folder beside `final` (frames, geometry, index, `manifest`
    completed with what the chunks hold), then move it to `final` in one rename; returns the face counts."""
    tmp = final.with_name(f".assembling-{final.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    index: dict[str, list] = {k: [] for k in INDEX_FIELDS}
    skipped, faces = list(manifest["skipped"]), Counter()
    try:
        with open(tmp / FRAMES_FILE, "wb") as out, open(tmp / GEOMETRY_FILE, "wb") as geo:
            for i in range(n_chunks):
                chunk = _chunk(work, i)
                summary = json.loads((chunk / CHUNK_ROWS).read_text())
                with open(chunk / FRAMES_FILE, "rb") as src:
                    shutil.copyfileobj(src, out, length=16 << 20)
                with open(chunk / GEOMETRY_FILE, "rb") as src:
                    shutil.copyfileobj(src, geo)
                for video, frame, label, identity, kind in summary["rows"]:
                    for k, v in zip(INDEX_FIELDS, (len(index["row"]), video, frame, label, identity, kind)):
                        index[k].append(v)
                skipped += summary["skipped"]
                faces.update(summary["faces"])
        n, s = len(index["row"]), manifest["config"]["image_size"]
        labels = np.array(index["label"], dtype=np.int64)
        manifest = {**manifest, "n_frames": n, "shape": [n, s, s, 3], "skipped": skipped}
        manifest.update(faces=dict(sorted(faces.items())), counts=class_counts(labels))
        write_index(tmp / "index.csv", index)
        write_json(tmp / MANIFEST_FILE, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # another process finished first; keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    return faces


def build_cache(
    root: str | Path,
    items: Sequence[VideoItem],
    cfg: ExtractConfig,
    cache_dir: str | Path,
    *,
    chunk_files: int,
    pre_skipped: Sequence[dict[str, str]] = (),
    extra_key: str = "",
    shard: int | None = None,
    num_shards: int = 1,
    merge: bool = False,
    workers: int | None = 1,
    perturb: Any = None,
    manifest_extra: dict[str, Any] | None = None,
) -> FrameCache | None:
    """Build the cache for `items` under `cache_dir/<key>/`, or reuse it when nothing changed.

    `workers` processes extract chunks of `chunk_files` files (None: all cores); an interrupted build
    resumes from its finished chunks; the finished cache is renamed into place at the end, so a folder
    that looks complete is complete. `pre_skipped` (e.g. malformed list lines) is recorded in the
    manifest with the files skipped here. With `shard` of `num_shards`, only the chunks i with
    i % num_shards == shard are extracted and None is returned; `merge` then assembles the cache, refusing
    while a chunk is missing.
    """
    root = Path(root)
    key = cache_key(root, items, cfg, extra_key)
    final = Path(cache_dir) / key
    if (final / MANIFEST_FILE).is_file():
        log.info("frame cache up to date, reusing %s (%d files)", final, len(items))
        return FrameCache.load(final)
    if chunk_files < 1:
        raise ValueError(f"extract.chunk_files must be >= 1, got {chunk_files}")
    chunks = [list(items[i : i + chunk_files]) for i in range(0, len(items), chunk_files)]
    work = Path(cache_dir) / f".building-{key}"  # stable name: a rerun (or another shard) finds the finished chunks
    work.mkdir(parents=True, exist_ok=True)
    landmarks = resolve_landmarks(cfg.landmarks)
    if merge:  # the shards extracted every chunk: only the assembly is left
        missing = sorted({i % num_shards for i in range(len(chunks)) if not (_chunk(work, i) / CHUNK_ROWS).is_file()})
        if missing:
            raise FileNotFoundError(f"cannot merge: shards not built yet: {missing} of {num_shards} ({work})")
    else:
        if shard is not None and not 0 <= shard < num_shards:
            raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
        mine = range(len(chunks)) if shard is None else range(shard, len(chunks), num_shards)
        workers = available_cores() if workers is None else max(1, int(workers))
        log.info(
            "building frame cache %s from %d files under %s (%d worker(s)%s); face geometry: %s",
            final, sum(len(chunks[i]) for i in mine), root, workers,
            "" if shard is None else f", shard {shard} of {num_shards}",
            "dlib's 68 landmarks" if landmarks == "dlib68" else "the face box (no landmark model installed)"
            if cfg.landmarks == "auto" else "the face box",
        )  # fmt: skip
        _run_chunks(root, {i: chunks[i] for i in mine}, cfg, work, workers, landmarks, perturb)
        if shard is not None:
            return None
    manifest = {
        "version": CACHE_VERSION,
        "key": key,
        "root": str(root.resolve()),
        "config": asdict(cfg),
        "n_files": len(items),
        "skipped": list(pre_skipped),
        "landmarks": landmarks,  # what geometry.f32 holds: dlib68 landmarks + box, or the box alone
        **(manifest_extra or {}),
    }
    faces = _assemble(work, len(chunks), final, manifest)
    shutil.rmtree(work, ignore_errors=True)
    cache = FrameCache.load(final)
    log.info(
        "frame cache built: %d frames from %d files, %d skipped, faces %s",
        len(cache),
        len(items),
        len(cache.manifest["skipped"]),
        dict(faces),
    )
    return cache


@dataclass
class CacheSource:
    """Where a DataModule's frames come from: the layout's files under `root`, extracted with `extract` into
    `cache_dir` (or a cache built elsewhere, e.g. merged shards, at `cache_path`, used as it is). dfl-eval's
    `perturb` degrades each file before the face crop (its own cache) and `only_videos` keeps some videos."""

    layout: Layout
    root: Path
    cache_dir: Path
    extract: ExtractConfig
    strategy: str  # split.strategy: a layout with official lists checks them while listing
    cache_path: Path | None
    workers: int | None  # extraction processes; None: all cores
    chunk_files: int
    perturb: Any
    only_videos: set[str] | None
    built: FrameCache | None = field(default=None, repr=False)  # what build() made or found

    def list_items(self) -> tuple[list[VideoItem], list[dict[str, str]]]:
        """(items, skipped entries such as malformed list lines, dangling symlinks), each skip logged."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"data.root={self.root} is not a folder (set data.root to the dataset folder)")
        items, skipped = self.layout.list_items(self.root, self.strategy)
        for entry in skipped:
            log.warning("skipping %s: %s", entry["path"], entry["reason"])
        if self.only_videos is not None:
            keep, video_of = self.only_videos, self.layout.video_of
            items = [it for it in items if it.path in keep or video_of(it.path) in keep]
            skipped = [s for s in skipped if s["path"] in keep or video_of(s["path"]) in keep]
        return items, skipped

    def build(self) -> FrameCache:
        """Build or reuse the frame cache (frames and index only); listed and loaded once per source, so a caller
        that builds before the DataModule's setup (dfl-eval) does not pay twice."""
        if self.built is None:
            if self.cache_path is None:
                self.built = self.build_cache()
            elif (self.cache_path / MANIFEST_FILE).is_file():
                self.built = FrameCache.load(self.cache_path)
            else:
                raise FileNotFoundError(f"data.cache_path={self.cache_path} is not a complete frame cache")
        return self.built

    def build_cache(self, shard: int | None = None, num_shards: int = 1, merge: bool = False) -> FrameCache | None:
        """build_cache over the layout's files: the whole cache, only the chunks of `shard` of `num_shards` (one
        job of a cluster array; returns None), or with `merge` the cache assembled from all the shards' chunks."""
        items, skipped = self.list_items()
        key = self.perturb.key if self.perturb is not None else ""
        return build_cache(self.root, items, self.extract, self.cache_dir, pre_skipped=skipped, shard=shard,
                           num_shards=num_shards, merge=merge, workers=self.workers, chunk_files=self.chunk_files,
                           extra_key=key, perturb=self.perturb,
                           manifest_extra=None if self.perturb is None else {"perturb": key})  # fmt: skip
