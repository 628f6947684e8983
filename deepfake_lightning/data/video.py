"""Frame extraction with OpenCV: K evenly spaced frames per video by seeking (exact), or one image.

OpenCV seeks by timestamp (frame index / average fps). On a constant-frame-rate stream that is
exact; on a variable-frame-rate one it lands a few frames off. So the stream's timestamps are probed
first (PyAV demuxes the packets without decoding them) and a variable-rate video is read with a
sequential grab loop, which is exact by construction.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

# A seek costs about as much as decoding this many frames (decode from the previous keyframe).
SEEK_COST = 12


class UnreadableMediaError(Exception):
    """A file that cannot give a single frame; the message says why."""


def evenly_spaced(n_frames: int, k: int) -> list[int]:
    """K frame indices spread evenly over [0, n_frames): the centres of K equal segments (K=1: the middle)."""
    if n_frames <= 0 or k <= 0:
        return []
    k = min(k, n_frames)
    return sorted({int((2 * i + 1) * n_frames // (2 * k)) for i in range(k)})


def to_bgr8(frame: np.ndarray) -> np.ndarray:
    """Any decoded image (grey, BGRA, 16-bit) as a contiguous uint8 BGR array."""
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.integer):
            frame = (frame.astype(np.float32) / np.iinfo(frame.dtype).max * 255.0).round()
        else:
            frame = np.nan_to_num(frame.astype(np.float32)) * (255.0 if frame.max() <= 1.0 else 1.0)
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 1:
        frame = cv2.cvtColor(frame[..., 0], cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(frame)


def _readable(path: str | Path) -> Path:
    """The path, or UnreadableMediaError when it is no file or an empty one."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableMediaError("file not found")
    if path.stat().st_size == 0:
        raise UnreadableMediaError("empty file (0 bytes)")
    return path


def read_image(path: str | Path) -> np.ndarray:
    """One image file as uint8 BGR; raises UnreadableMediaError with the reason."""
    data = np.fromfile(str(_readable(path)), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise UnreadableMediaError("not a readable image")
    return to_bgr8(img)


@functools.lru_cache(maxsize=1)
def _pyav() -> object | None:
    try:
        import av

        return av
    except ImportError:  # optional: without it every video is treated as constant-rate
        log.warning("PyAV is not installed: variable-frame-rate videos cannot be detected; seeks may be inexact")
        return None


def constant_frame_rate(path: str | Path, tolerance: float = 0.01) -> bool | None:
    """Whether the video's frame timestamps are evenly spaced (None when they cannot be read).

    Demuxes the packets (no decoding) and compares the spacing of the sorted presentation times.
    """
    av = _pyav()
    if av is None:
        return None
    try:
        with av.open(str(path)) as container:  # type: ignore[attr-defined]
            stream = container.streams.video[0]
            pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
    except Exception:  # noqa: BLE001 - any demuxer failure: unknown, OpenCV decides
        return None
    if len(pts) < 3:
        return True
    d = np.diff(np.asarray(pts, dtype=np.float64))
    d = d[d > 0]
    if len(d) == 0:
        return None
    return bool(d.max() - d.min() <= tolerance * np.median(d) + 1)


def read_frames(path: str | Path, k: int) -> list[tuple[int, np.ndarray]]:
    """K evenly spaced frames of a video as (frame index, uint8 BGR) pairs, seeking instead of decoding all.

    Falls back to one sequential pass when the container reports no frame count or a seek fails
    (broken or truncated files often do). Raises UnreadableMediaError when no frame can be read.
    """
    path = _readable(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UnreadableMediaError("OpenCV cannot open it as a video")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        wanted = evenly_spaced(n, k)
        out: list[tuple[int, np.ndarray]] = []
        # Seeking is by timestamp: only exact when frames are evenly spaced in time.
        if wanted and k * SEEK_COST < n and constant_frame_rate(path) is not False:
            for idx in wanted:
                # Seeking to frame 0 is a no-op; for the rest OpenCV decodes from the nearest keyframe.
                if idx > 0 and not cap.set(cv2.CAP_PROP_POS_FRAMES, idx):
                    break
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                out.append((idx, to_bgr8(frame)))
        elif wanted:
            # Many frames per video, or seeks that would be inexact: one pass with grab() (no colour conversion).
            want = set(wanted)
            for i in range(wanted[-1] + 1):
                if not cap.grab():
                    break
                if i in want:
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        break
                    out.append((i, to_bgr8(frame)))
        if wanted and len(out) == len(wanted):
            return out
        # The reported count was wrong or missing: decode what is really there, once.
        cap.release()
        cap = cv2.VideoCapture(str(path))
        frames: list[np.ndarray] = []
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            frames.append(frame)
        if not frames:
            raise UnreadableMediaError("no decodable frame (truncated, header-only or not a video)")
        return [(i, to_bgr8(frames[i])) for i in evenly_spaced(len(frames), k)]
    except cv2.error as exc:
        raise UnreadableMediaError(f"OpenCV error: {exc}") from exc
    finally:
        cap.release()
