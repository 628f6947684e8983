"""Self-blended pseudo-fakes (Shiohara & Yamasaki, CVPR 2022), made on the device from real training frames.

A real face is blended with a slightly altered copy of itself: the copy (the source) gets colour jitter
(RGB shift, saturation, brightness, contrast, a small hue turn) and a frequency change (downscale-upscale
or sharpen), then a small affine (translate up to 3%, scale 0.95-1.05) and an elastic warp; the mask is
the face's convex hull (68 landmarks, or an ellipse in the face box when no landmark model is installed),
deformed with the source, eroded or dilated, blurred and scaled by a blend ratio; the pseudo-fake is
mask * source + (1 - mask) * frame. Only the source copy is altered, so a pseudo-fake differs from its
real frame only inside its mask: the model learns blending boundaries and statistical mismatches, not one
generator's fingerprint.

Own code rather than the paper's albumentations pipeline: that one works on one image at a time on the
CPU; this draws per-sample parameters for a whole uint8 batch and runs on the training device (one
grid_sample and a few convolutions per batch), so the loader keeps only slicing the memmap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

PSEUDO_FAKE_METHODS = ("none", "sbi")  # data.pseudo_fakes
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # the paper's dynamic blend
POLYGON_POINTS = 68


def face_polygons(geometry: np.ndarray) -> np.ndarray:
    """One convex polygon per frame [N, 68, 2] (crop pixels): the convex hull of the 68 landmarks where
    stored, else an ellipse inscribed in the face box; padded by repeating the last vertex."""
    geometry = np.asarray(geometry, dtype=np.float32)
    out = np.zeros((len(geometry), POLYGON_POINTS, 2), dtype=np.float32)
    t = np.linspace(0, 2 * np.pi, POLYGON_POINTS, endpoint=False)
    for i, g in enumerate(geometry):
        pts = g[4:].reshape(-1, 2)
        if np.isfinite(pts).all():
            hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)
        else:
            x, y, w, h = g[:4]
            hull = np.stack([x + w / 2 + w / 2 * np.cos(t), y + h / 2 + h / 2 * np.sin(t)], 1)
        n = len(hull)
        out[i, :n] = hull
        out[i, n:] = hull[-1]
    return out


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def polygon_masks(polygons: torch.Tensor, size: int) -> torch.Tensor:
    """Filled convex polygons [n, V, 2] (pixel coordinates) as float masks [n, 1, size, size].

    A pixel is inside when it lies on the same side of every edge; the edges are visited one at a time, so
    memory stays [n, size * size] (all edges at once would be V times that: gigabytes at 224 px).
    """
    n, v = polygons.shape[:2]
    coords = torch.arange(size, device=polygons.device, dtype=torch.float32) + 0.5
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    px, py = xs.reshape(1, -1), ys.reshape(1, -1)  # [1, P]
    pos = torch.ones(n, size * size, dtype=torch.bool, device=polygons.device)
    neg = torch.ones_like(pos)
    for i in range(v):
        a, b = polygons[:, i], polygons[:, (i + 1) % v]  # [n, 2]
        ex, ey = (b[:, 0] - a[:, 0])[:, None], (b[:, 1] - a[:, 1])[:, None]
        cross = ex * (py - a[:, 1:2]) - ey * (px - a[:, 0:1])
        pos &= cross >= 0
        neg &= cross <= 0
    return (pos | neg).float().view(n, 1, size, size)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample Gaussian blur of [n, c, H, W] with sigma [n] (pixels), separable, one grouped conv per axis."""
    n, c, h, w = x.shape
    radius = int(math.ceil(3 * float(sigma.max())))
    radius = max(1, min(radius, (min(h, w) - 1) // 2))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t[None, :] ** 2) / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [n*c, K]
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), k.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


def _colour(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """RGB shift (+-20/255), saturation and brightness/contrast jitter, a small hue turn; x in [0, 1]."""
    n, dev = len(x), x.device
    x = x + (torch.rand(n, 3, 1, 1, generator=g, device=dev) * 2 - 1) * (20 / 255)
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    sat = _uniform(n, 0.7, 1.3, g, dev).view(n, 1, 1, 1)
    x = grey + (x - grey) * sat
    # Hue: rotate the chroma (I, Q) plane of YIQ by up to +-0.3 rad.
    a = _uniform(n, -0.3, 0.3, g, dev)
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=dev)
    rot = torch.zeros(n, 3, 3, device=dev)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = a.cos(), -a.sin(), a.sin(), a.cos()
    m = torch.linalg.inv(yiq) @ rot @ yiq  # [n, 3, 3]
    x = torch.einsum("nij,njhw->nihw", m, x)
    bright = _uniform(n, -0.1, 0.1, g, dev).view(n, 1, 1, 1)
    contrast = _uniform(n, 0.9, 1.1, g, dev).view(n, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + bright).clamp(0, 1)


def _frequency(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """Half the samples downscaled by 2-4x and upscaled again, half sharpened (unsharp mask, alpha 0.2-0.5)."""
    n, _, h, w = x.shape
    down = torch.rand(n, generator=g, device=x.device) < 0.5
    out = x.clone()
    factor = torch.randint(2, 5, (n,), generator=g, device=x.device)
    for f in (2, 3, 4):
        sel = down & (factor == f)
        if sel.any():
            small = F.interpolate(x[sel], size=(max(1, h // f), max(1, w // f)), mode="area")
            out[sel] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    sharp = ~down
    if sharp.any():
        xs = x[sharp]
        blurred = _gaussian_blur(xs, torch.full((len(xs),), 1.0, device=x.device))
        alpha = _uniform(len(xs), 0.2, 0.5, g, x.device).view(-1, 1, 1, 1)
        out[sharp] = (xs + alpha * (xs - blurred)).clamp(0, 1)
    return out


def _warp_grid(n: int, size: int, g: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """A sampling grid per sample: small affine (translate <= 3%, scale 0.95-1.05) plus a smooth elastic field."""
    scale = _uniform(n, 0.95, 1.05, g, device)
    tx, ty = (_uniform(n, -0.03, 0.03, g, device) * 2 for _ in range(2))  # grid units span 2
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 1, 1] = 1 / scale, 1 / scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, (n, 1, size, size), align_corners=False)
    # Elastic: white noise blurred to a smooth field of up to ~1.5% of the side.
    noise = torch.rand(n, 2, size, size, generator=g, device=device) * 2 - 1
    field = _gaussian_blur(noise, torch.full((n,), max(1.0, size / 16), device=device))
    field = field / field.abs().amax((1, 2, 3), keepdim=True).clamp_min(1e-6) * 0.03
    return grid + field.permute(0, 2, 3, 1)


def self_blend(
    images: torch.Tensor, polygons: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-fakes of real frames: (uint8 [n, 3, S, S], the blend masks float [n, 1, S, S]).

    `images`: uint8 real frames [n, 3, S, S]; `polygons`: their face polygons [n, V, 2] (face_polygons).
    Where the mask is 0 the pseudo-fake equals its frame exactly.
    """
    n, _, size, _ = images.shape
    dev = images.device
    target = images.float() / 255.0
    source = _frequency(_colour(target, generator), generator)
    # The hull, grown or shrunk around its centre a little, as the paper's hull variants do.
    centre = polygons.mean(1, keepdim=True)
    grow = _uniform(n, 0.9, 1.1, generator, dev).view(n, 1, 1)
    mask = polygon_masks(centre + (polygons - centre) * grow, size)
    grid = _warp_grid(n, size, generator, dev)
    source = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mask = F.grid_sample(mask, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Erode or dilate (threshold a blurred mask), then blur the edge and scale by the blend ratio.
    soft = _gaussian_blur(mask, _uniform(n, 0.5, 2.0, generator, dev) * size / 64)
    level = _uniform(n, 0.3, 0.7, generator, dev).view(n, 1, 1, 1)
    mask = (soft > level).float()
    mask = _gaussian_blur(mask, _uniform(n, 1.0, 3.0, generator, dev) * size / 64)
    ratios = torch.tensor(BLEND_RATIOS, device=dev)
    ratio = ratios[torch.randint(0, len(BLEND_RATIOS), (n,), generator=generator, device=dev)].view(n, 1, 1, 1)
    mask = torch.where(mask > 1e-3, mask, torch.zeros_like(mask)) * ratio
    fake = mask * source + (1 - mask) * target
    return (fake * 255.0).round().clamp(0, 255).to(torch.uint8), mask


class PseudoFakes:
    """Replaces a share of each training batch with self-blended pseudo-fakes of the batch's real frames.

    `polygons`: face polygons of every cache-index position [N, V, 2]; batches carry positions. Made by the
    DataModule for its training split only: val and test batches never pass through it.
    """

    def __init__(self, polygons: np.ndarray, ratio: float, landmarks: str):
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"data.pseudo_fake_ratio must be in (0, 1), got {ratio}")
        self.ratio, self.landmarks = float(ratio), landmarks
        self._polygons = torch.from_numpy(np.ascontiguousarray(polygons))
        self._on: dict[str, torch.Tensor] = {}

    def polygons(self, device: torch.device) -> torch.Tensor:
        key = str(device)
        if key not in self._on:  # moved once per device
            self._on[key] = self._polygons.to(device)
        return self._on[key]

    def __call__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        positions: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch with its last round(ratio * B) slots replaced by pseudo-fakes (label 1) made from the real
        frames among the others (cycled when there are fewer); unchanged when the batch has no real frame."""
        b = len(labels)
        k = min(b - 1, int(round(self.ratio * b)))
        keep = b - k
        real = torch.nonzero(labels[:keep] == 0).flatten()
        if k <= 0 or len(real) == 0:
            return images, labels
        src = real[torch.arange(k, device=real.device) % len(real)]
        fakes, _ = self_blend(images[src], self.polygons(images.device)[positions[src]], generator)
        images = torch.cat([images[:keep], fakes])
        labels = torch.cat([labels[:keep], torch.ones(k, dtype=labels.dtype, device=labels.device)])
        return images, labels


def seen_counts(real: int, fake: int, ratio: float, balanced: bool, only_reals: bool) -> dict[str, float]:
    """Frames of each class the model sees per epoch with pseudo-fakes replacing a share `ratio` of each batch:
    what class weights and the specialist's multiplier count. `balanced`: the sampler draws classes 1:1;
    `only_reals`: the loader serves real frames only (the SBI setting)."""
    n = real + (0 if only_reals else fake)
    if only_reals:
        loader_real, loader_fake = n, 0.0
    elif balanced:
        loader_real, loader_fake = n / 2, n / 2
    else:
        loader_real, loader_fake = float(real), float(fake)
    return {"real": (1 - ratio) * loader_real, "fake": (1 - ratio) * loader_fake + ratio * n}


def describe(landmarks: str) -> str:
    return "convex hull of dlib's 68 landmarks" if landmarks == "dlib68" else "ellipse in the face box"


__all__: Sequence[str] = ("PseudoFakes", "face_polygons", "self_blend", "seen_counts")
