"""Embedded dataset: procedurally rendered face videos, real and face-swapped, in the Celeb-DF v2 layout."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_lightning.data.items import Layout
from deepfake_lightning.data.layouts import layout_class
from deepfake_lightning.data.layouts.celebdf import CelebDF

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """The look of one rendered person."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    face_w: float  # half-width of the face ellipse, in units of frame size
    face_h: float
    eye_dx: float
    eye_r: float
    brow: int
    mouth_w: float
    nose_len: float
    hair_h: float


@dataclass(frozen=True)
class Scene:
    """Everything about one source video that does not depend on whose face is shown."""

    background: tuple[float, float, float]
    stripes: float
    amp_x: float
    amp_y: float
    freq: float
    phase: float
    blink_period: int
    light_amp: float
    light_freq: float
    noise: float
    blur: int


def _rng(seed: int, *key: object) -> np.random.Generator:
    """A generator seeded by the run seed and a name, so each object is reproducible on its own."""
    digest = hashlib.sha256(repr((seed, *key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def make_identity(seed: int, name: str) -> Identity:
    """Draw the look of identity `name`."""
    r = _rng(seed, "identity", name)
    tone = r.uniform(0.25, 0.95)
    skin = (
        60 + 150 * tone * r.uniform(0.75, 0.95),
        70 + 160 * tone * r.uniform(0.85, 1.0),
        90 + 160 * tone,
    )
    return Identity(
        skin=skin,
        hair=tuple(float(x) for x in r.uniform(10, 200, 3)),
        face_w=r.uniform(0.17, 0.23),
        face_h=r.uniform(0.23, 0.29),
        eye_dx=r.uniform(0.06, 0.10),
        eye_r=r.uniform(0.018, 0.032),
        brow=int(r.integers(1, 3)),
        mouth_w=r.uniform(0.04, 0.09),
        nose_len=r.uniform(0.03, 0.07),
        hair_h=r.uniform(0.06, 0.14),
    )


def make_scene(seed: int, name: str) -> Scene:
    """Draw the camera, background, motion and lighting of source video `name`."""
    r = _rng(seed, "scene", name)
    return Scene(
        background=tuple(float(x) for x in r.uniform(20, 235, 3)),
        stripes=r.uniform(0, 40),
        amp_x=r.uniform(0.0, 0.08),
        amp_y=r.uniform(0.0, 0.05),
        freq=r.uniform(0.5, 2.0),
        phase=r.uniform(0, 2 * np.pi),
        blink_period=int(r.integers(6, 20)),
        light_amp=r.uniform(0.0, 0.25),
        light_freq=r.uniform(0.3, 1.5),
        noise=r.uniform(1.0, 6.0),
        blur=int(r.choice([0, 0, 3])),
    )


def _pose(scene: Scene, t: float, size: int) -> tuple[float, float, float]:
    """Face centre (x, y) in pixels and a small in-plane tilt in degrees at time t in [0, 1]."""
    w = 2 * np.pi * scene.freq * t + scene.phase
    cx = size * (0.5 + scene.amp_x * np.sin(w))
    cy = size * (0.5 + scene.amp_y * np.sin(1.7 * w))
    return cx, cy, 6.0 * np.sin(0.8 * w)


def _draw_face(img: np.ndarray, ident: Identity, cx: float, cy: float, tilt: float, blink: bool) -> None:
    """Draw a face (skin, eyes, brows, nose, mouth) in place; hair is drawn separately."""
    s = img.shape[0]
    c = (int(round(cx)), int(round(cy)))
    axes = (int(ident.face_w * s), int(ident.face_h * s))
    cv2.ellipse(img, c, axes, tilt, 0, 360, ident.skin, -1, cv2.LINE_AA)
    rot = np.deg2rad(tilt)
    cos, sin = np.cos(rot), np.sin(rot)

    def at(dx: float, dy: float) -> tuple[int, int]:
        x, y = dx * s, dy * s
        return int(round(cx + x * cos - y * sin)), int(round(cy + x * sin + y * cos))

    dark = tuple(0.35 * v for v in ident.skin)
    er = max(1, int(ident.eye_r * s))
    for side in (-1, 1):
        eye = at(side * ident.eye_dx, -0.05)
        if blink:
            cv2.line(img, (eye[0] - er, eye[1]), (eye[0] + er, eye[1]), dark, 1, cv2.LINE_AA)
        else:
            cv2.circle(img, eye, er, (235, 235, 235), -1, cv2.LINE_AA)
            cv2.circle(img, eye, max(1, er // 2), (40, 30, 20), -1, cv2.LINE_AA)
        b0, b1 = at(side * ident.eye_dx - 0.03, -0.09), at(side * ident.eye_dx + 0.03, -0.095)
        cv2.line(img, b0, b1, ident.hair, ident.brow, cv2.LINE_AA)
    cv2.line(img, at(0, -0.02), at(0.01, -0.02 + ident.nose_len), dark, 1, cv2.LINE_AA)
    m = at(0, 0.12)
    cv2.ellipse(
        img, m, (max(1, int(ident.mouth_w * s)), max(1, int(0.012 * s))), tilt, 0, 180, (60, 50, 150), -1, cv2.LINE_AA
    )


def _draw_hair(img: np.ndarray, ident: Identity, cx: float, cy: float, tilt: float) -> None:
    s = img.shape[0]
    top = (int(round(cx)), int(round(cy - ident.face_h * s * 0.75)))
    axes = (int(ident.face_w * s * 1.1), int(ident.hair_h * s))
    cv2.ellipse(img, top, axes, tilt, 180, 360, ident.hair, -1, cv2.LINE_AA)


def _background(scene: Scene, size: int) -> np.ndarray:
    img = np.empty((size, size, 3), np.float32)
    img[:] = scene.background
    ramp = np.sin(np.linspace(0, 6 * np.pi, size, dtype=np.float32))[None, :, None]
    return img + scene.stripes * ramp


def render_frame(
    seed: int,
    scene: Scene,
    target: Identity,
    frame: int,
    n_frames: int,
    size: int,
    source: Identity | None = None,
    strength: float = 0.0,
    swap_key: tuple = (),
) -> np.ndarray:
    """Render one BGR uint8 frame; with `source`, that identity's face is swapped onto `target` in the video."""
    t = frame / max(1, n_frames - 1)
    cx, cy, tilt = _pose(scene, t, size)
    blink = frame % scene.blink_period == 0
    canvas = _background(scene, size)
    _draw_face(canvas, target, cx, cy, tilt, blink)
    _draw_hair(canvas, target, cx, cy, tilt)
    if source is not None and strength > 0:
        canvas = _swap_face(seed, swap_key, frame, canvas, source, target, (cx, cy, tilt, blink), strength)
    light = 1.0 + scene.light_amp * np.sin(2 * np.pi * scene.light_freq * t)
    canvas *= light
    r = _rng(seed, "noise", swap_key, frame)
    canvas += r.normal(0.0, scene.noise, canvas.shape).astype(np.float32)
    out = np.clip(canvas, 0, 255).astype(np.uint8)
    if scene.blur:
        out = cv2.GaussianBlur(out, (scene.blur, scene.blur), 0)
    return out


def _swap_face(
    seed: int,
    swap_key: tuple,
    frame: int,
    canvas: np.ndarray,
    source: Identity,
    target: Identity,
    pose: tuple,
    strength: float,
) -> np.ndarray:
    """Paste `source`'s face over the target's at `pose` (centre x, y, tilt, blink) with the traces of a face swap,
    scaled by `strength`."""
    (cx, cy, tilt, blink), size = pose, canvas.shape[0]
    r = _rng(seed, "swap", swap_key, frame)
    # Frame-to-frame jitter: the swapped face is not locked to the head.
    jx, jy = r.normal(0.0, 1.2 * strength, 2)
    patch = canvas.copy()
    _draw_face(patch, source, cx + jx, cy + jy, tilt, blink)
    # Resolution mismatch: the generator works at a lower resolution than the video.
    factor = 1.0 + 2.5 * strength
    small = max(8, int(size / factor))
    patch = cv2.resize(cv2.resize(patch, (small, small), interpolation=cv2.INTER_AREA), (size, size))
    # Colour mismatch between the swapped face and the target's skin and lighting.
    vr = _rng(seed, "swap-colour", swap_key)
    patch *= (1.0 + 0.12 * strength * vr.uniform(-1, 1, 3)).astype(np.float32)
    # Blending boundary: a feathered elliptical mask, slightly off the face outline.
    mask = np.zeros((size, size), np.float32)
    axes = (int(target.face_w * size * 0.92), int(target.face_h * size * 0.92))
    cv2.ellipse(mask, (int(round(cx)), int(round(cy))), axes, tilt, 0, 360, 1.0, -1, cv2.LINE_AA)
    k = 2 * int(1 + 2 * (1 - strength)) + 1
    mask = cv2.GaussianBlur(mask, (k, k), 0)[..., None]
    return mask * patch + (1 - mask) * canvas


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with the mp4v codec")
    for f in frames:
        writer.write(f)
    writer.release()


def synth_defaults() -> dict[str, Any]:
    """The generated dataset's settings as conf/synth/default.yaml has them (their one home)."""
    from omegaconf import OmegaConf

    from deepfake_lightning.config import shipped

    return dict(OmegaConf.to_container(shipped("synth/default.yaml")))


def generate_dataset(out_dir: str | Path, seed: int = 0, progress: bool = False, **settings: Any) -> dict[str, int]:
    """Write a Celeb-DF v2 style folder (`settings`: keys of conf/synth/default.yaml; one left out takes its value
    there); returns the number of videos written per sub-folder. `progress`: a progress bar over the videos."""
    known = synth_defaults()
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"synth: unknown setting(s) {unknown}; the settings are {sorted(known)}")
    return _generate(Path(out_dir), seed=seed, progress=progress, **{**known, **settings})


def _generate(
    out_dir: Path,
    num_real: int,
    num_fake: int,
    num_identities: int,
    youtube_fraction: float,
    test_fraction: float,
    frames_per_video: int,
    resolution: int,
    fps: float,
    artifact_strength: float,
    seed: int,
    layout: str,
    progress: bool,
) -> dict[str, int]:
    """Write a Celeb-DF v2 style folder; returns the number of videos written per sub-folder.

    Fakes reuse a Celeb-real source video (same scene and motion) with another identity's face,
    as in Celeb-DF; each fake's artifact strength is drawn from [0.15, 1] x `artifact_strength`
    so that some fakes are nearly clean and a classifier cannot be perfect.
    """
    if num_real < 2 or num_fake < 1 or num_identities < 2:
        raise ValueError("synth: need num_real >= 2, num_fake >= 1 and num_identities >= 2")
    if layout != "celebdf":
        writer(layout)  # an unknown layout, or one dfl-synth cannot write, is refused before any video is written
    out = Path(out_dir)
    for sub in ("Celeb-real", "YouTube-real", "Celeb-synthesis"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    n_yt = max(1, int(round(num_real * youtube_fraction)))
    n_celeb = num_real - n_yt
    ids = [f"id{i}" for i in range(num_identities)]
    looks = {i: make_identity(seed, i) for i in ids}
    per_id = [n_celeb // num_identities + (1 if k < n_celeb % num_identities else 0) for k in range(num_identities)]
    celeb_videos = [(ids[k], v) for k in range(num_identities) for v in range(per_id[k])]

    from tqdm import tqdm

    bar = tqdm(total=num_real + num_fake, unit="video", desc="dfl-synth", disable=not progress)

    def write(rel: str, scene: Scene, target: Identity, source: Identity | None, strength: float) -> None:
        bar.update(1)
        frames = [
            render_frame(seed, scene, target, f, frames_per_video, resolution, source, strength, (rel,))
            for f in range(frames_per_video)
        ]
        _write_video(out / rel, frames, fps)

    listed: list[tuple[int, str]] = []
    reals: list[str] = []
    for ident, v in celeb_videos:
        rel = f"Celeb-real/{ident}_{v:04d}.mp4"
        write(rel, make_scene(seed, f"{ident}_{v}"), looks[ident], None, 0.0)
        reals.append(rel)
    for v in range(n_yt):
        rel = f"YouTube-real/{v:05d}.mp4"
        write(rel, make_scene(seed, f"yt{v}"), make_identity(seed, f"yt{v}"), None, 0.0)
        reals.append(rel)
    r = _rng(seed, "pairs")
    fakes: list[str] = []
    used: set[str] = set()
    while len(fakes) < num_fake:
        a_ident, v = celeb_videos[int(r.integers(len(celeb_videos)))]
        b_ident = ids[int(r.integers(num_identities))]
        rel = f"Celeb-synthesis/{a_ident}_{b_ident}_{v:04d}.mp4"
        if b_ident == a_ident or rel in used:
            if len(used) >= len(celeb_videos) * (num_identities - 1):
                raise ValueError(f"synth: cannot make {num_fake} distinct fakes from {len(celeb_videos)} sources")
            continue
        used.add(rel)
        strength = artifact_strength * float(r.uniform(0.15, 1.0))
        write(rel, make_scene(seed, f"{a_ident}_{v}"), looks[a_ident], looks[b_ident], strength)
        fakes.append(rel)
    bar.close()
    tr = _rng(seed, "test-list")
    test_real = tr.choice(len(reals), max(1, int(round(test_fraction * len(reals)))), replace=False)
    test_fake = tr.choice(len(fakes), max(1, int(round(test_fraction * len(fakes)))), replace=False)
    # The official list writes 1 = real, 0 = fake.
    listed = [(1, reals[i]) for i in sorted(test_real)] + [(0, fakes[i]) for i in sorted(test_fake)]
    (out / "List_of_testing_videos.txt").write_text("".join(f"{lab} {p}\n" for lab, p in listed))
    counts = {"Celeb-real": n_celeb, "YouTube-real": n_yt, "Celeb-synthesis": len(fakes), "test_list": len(listed)}
    if layout != "celebdf":
        counts = relayout(out, layout, seed)
    log.info("synth: wrote %s to %s", counts, out)
    return counts


def writer(layout: str) -> Any:
    """`from_celebdf` of a layout's module: how dfl-synth moves its generated Celeb-DF folder into that layout."""
    cls = layout_class(layout, "synth.layout")
    if cls.from_celebdf is Layout.from_celebdf:
        raise ValueError(f"synth.layout={layout}: dfl-synth cannot write this layout (its Layout has no from_celebdf)")
    return cls.from_celebdf


def relayout(root: str | Path, layout: str, seed: int = 0) -> dict[str, int]:
    """Move a generated Celeb-DF folder into another layout (same videos, that layout's lists): its module's
    Layout.from_celebdf."""
    root = Path(root)
    counts = writer(layout)(root, _rng(seed, f"{layout}-split"))
    remove_written(root, [CelebDF])
    return counts


def remove_written(root: Path, layouts: Sequence[type[Layout]]) -> None:
    """Remove the top-level folders and files these layouts write (`Layout.written`) from `root`."""
    for name in {w for cls in layouts for w in cls.written}:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
