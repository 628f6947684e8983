"""Self-blended pseudo-fakes (Shiohara & Yamasaki, CVPR 2022), made on the device from real training frames.

As the reference code does it (mapooon/SelfBlendedImages: src/utils/sbi.py, blend.py):

- one copy of a real frame is altered, the source or the target, 50/50: RGB shift (+-20, p 0.3), a small HSV
  shift (+-0.3 on OpenCV's uint8 scales), brightness and contrast (+-0.1), then either a downscale (x2 or x4,
  nearest, upscaled bilinear) or a sharpen (alpha 0.2-0.5, lightness 0.5-1.0). When the target is the altered
  copy, the real frame that enters the batch is that altered copy too, so "recoloured or blurred" is never a
  cue by itself;
- the source and the mask get an affine (translate x +-3%, y +-1.5%, scale 0.95-1/0.95, about the face hull's
  centroid), the mask an elastic warp;
- the mask is the convex hull of the 68 landmarks (or an ellipse in the face box when no landmark model is
  installed), eroded (a pixel stays only where a 5-25 px window, at a 224 px face, lies inside the hull),
  blurred, and scaled by a blend ratio from (0.25, 0.5, 0.75, 1, 1, 1);
- JPEG (quality 40-100, p 0.5) after blending, drawn once per pair, the same for a real frame and its blend;
- a pseudo-fake gets exactly the augmentation its source real gets (`pair`, read by BatchAugment).

Differences, on purpose: SBI's hull variants (dfl_full, extended, components) are one convex hull here, and its
mask is not resized to a random 192-256 px aspect before the erosion. Own code rather than albumentations:
albumentations works on one image at a time on the CPU; this draws per-sample parameters for a whole uint8
batch and runs on the training device (JPEG aside, which OpenCV encodes on the CPU).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

PSEUDO_FAKE_METHODS = ("none", "sbi")  # data.pseudo_fakes
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # the paper's dynamic blend
POLYGON_POINTS = 68


def face_polygons(geometry: np.ndarray) -> np.ndarray:
    """One convex polygon per frame [N, 68, 2] (crop pixels): the convex hull of the 68 landmarks where
    stored, else an ellipse inscribed in the face box; padded by repeating the last vertex (a zero-length edge:
    the filled polygon and its area centroid, `hull_centres`, do not change; its vertex mean would)."""
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


def hull_centres(polygons: torch.Tensor) -> torch.Tensor:
    """The area centroid [n, 2] of each convex polygon [n, V, 2] (shoelace formula): repeated vertices add
    zero-length edges, so a padded hull has the centroid of its own vertices' polygon."""
    a, b = polygons, torch.roll(polygons, -1, dims=1)
    cross = a[..., 0] * b[..., 1] - b[..., 0] * a[..., 1]  # [n, V]
    area = cross.sum(1, keepdim=True) / 2
    cx = ((a[..., 0] + b[..., 0]) * cross).sum(1, keepdim=True) / (6 * area)
    cy = ((a[..., 1] + b[..., 1]) * cross).sum(1, keepdim=True) / (6 * area)
    centre = torch.cat([cx, cy], 1)
    # A degenerate hull (no area): its vertex mean.
    return torch.where(area.abs() > 1e-6, centre, polygons.mean(1))


def _blur(x: torch.Tensor, sigma: torch.Tensor, radius: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample Gaussian blur of [n, c, H, W] with sigma [n] (pixels), separable; `radius` [n] truncates each
    sample's kernel (as OpenCV's GaussianBlur with a kernel size does)."""
    n, c, h, w = x.shape
    r_max = int(math.ceil(3 * float(sigma.max()))) if radius is None else int(radius.max())
    r_max = max(1, min(r_max, (min(h, w) - 1) // 2))
    t = torch.arange(-r_max, r_max + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t[None, :] ** 2) / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    if radius is not None:
        k = k * (t[None, :].abs() <= radius[:, None].to(x.dtype))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [n*c, K]
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (r_max, r_max, 0, 0), mode="replicate"), k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, r_max, r_max), mode="replicate"), k.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


def _hue_turn(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma (I, Q) plane of YIQ by `angle` [n] radians."""
    n, dev = len(x), x.device
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=dev)
    rot = torch.zeros(n, 3, 3, device=dev)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
    return torch.einsum("nij,njhw->nihw", torch.linalg.inv(yiq) @ rot @ yiq, x)


def _colour(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """SBI's source colour transforms on x in [0, 1]: RGBShift(+-20, p 0.3), HueSaturationValue(+-0.3 on
    OpenCV's uint8 scales: hue 0-180, saturation and value 0-255), RandomBrightnessContrast(+-0.1, +-0.1)."""
    n, dev = len(x), x.device
    shift = (torch.rand(n, 3, 1, 1, generator=g, device=dev) * 2 - 1) * (20 / 255)
    x = x + shift * (torch.rand(n, 1, 1, 1, generator=g, device=dev) < 0.3)
    x = _hue_turn(x, _uniform(n, -0.3, 0.3, g, dev) * (2 * math.pi / 180))  # 0.3 of 180 units = 0.6 degrees
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    x = grey + (x - grey) * (1 + _uniform(n, -0.3, 0.3, g, dev) / 255).view(n, 1, 1, 1)
    x = x + (_uniform(n, -0.3, 0.3, g, dev) / 255).view(n, 1, 1, 1)
    alpha = _uniform(n, 0.9, 1.1, g, dev).view(n, 1, 1, 1)  # albumentations: x * alpha + beta * max
    beta = _uniform(n, -0.1, 0.1, g, dev).view(n, 1, 1, 1)
    return (x * alpha + beta).clamp(0, 1)


def _frequency(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """SBI's OneOf: half the samples downscaled x2 or x4 (nearest) and upscaled (bilinear), half sharpened
    (albumentations' Sharpen: (1 - alpha) * identity + alpha * [[-1,-1,-1],[-1,8+lightness,-1],[-1,-1,-1]])."""
    n, _, h, w = x.shape
    down = torch.rand(n, generator=g, device=x.device) < 0.5
    factor = torch.where(torch.rand(n, generator=g, device=x.device) < 0.5, 2, 4)
    alpha = _uniform(n, 0.2, 0.5, g, x.device)
    lightness = _uniform(n, 0.5, 1.0, g, x.device)
    out = x.clone()
    for f in (2, 4):
        sel = down & (factor == f)
        if sel.any():
            small = F.interpolate(x[sel], size=(max(1, h // f), max(1, w // f)), mode="nearest")
            out[sel] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    sharp = ~down
    if sharp.any():
        a, li = alpha[sharp], lightness[sharp]
        k = torch.full((int(sharp.sum()), 3, 3), -1.0, device=x.device) * a.view(-1, 1, 1)
        k[:, 1, 1] = (1 - a) + a * (8 + li)
        xs = x[sharp]
        m, c = xs.shape[:2]
        weight = k.repeat_interleave(c, 0).view(m * c, 1, 3, 3)
        y = F.conv2d(F.pad(xs.reshape(1, m * c, h, w), (1, 1, 1, 1), mode="replicate"), weight, groups=m * c)
        out[sharp] = y.view(m, c, h, w).clamp(0, 1)
    return out


def _affine_grid(centre: torch.Tensor, size: int, g: torch.Generator | None) -> torch.Tensor:
    """SBI's randaffine: translate x +-3%, y +-1.5% of the side, scale 0.95-1/0.95, here about `centre` [n, 2]
    (pixels: the face hull's centroid), as a sampling grid [n, S, S, 2]."""
    n, dev = len(centre), centre.device
    scale = _uniform(n, 0.95, 1 / 0.95, g, dev)
    tx, ty = _uniform(n, -0.03, 0.03, g, dev) * 2, _uniform(n, -0.015, 0.015, g, dev) * 2  # grid units span 2
    c = centre / size * 2 - 1  # the centre in grid units
    # Output point p samples the input at c + (p - c) / scale - t: scaled about c, then moved by t.
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 1, 1] = 1 / scale, 1 / scale
    theta[:, 0, 2] = c[:, 0] * (1 - 1 / scale) - tx
    theta[:, 1, 2] = c[:, 1] * (1 - 1 / scale) - ty
    return F.affine_grid(theta, (n, 1, size, size), align_corners=False)


def _elastic(mask: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """An elastic warp of the mask (SBI: ElasticTransform(alpha 50, sigma 7) on the mask only): white noise
    smoothed with sigma 7/224 of the side, displacing by up to about 2% of the side."""
    n, _, size, _ = mask.shape
    ident = F.affine_grid(torch.eye(2, 3, device=mask.device).expand(n, 2, 3), (n, 1, size, size), align_corners=False)
    noise = torch.rand(n, 2, size, size, generator=g, device=mask.device) * 2 - 1
    field = _blur(noise, torch.full((n,), max(1.0, 7 * size / 224), device=mask.device))
    field = field / field.abs().amax((1, 2, 3), keepdim=True).clamp_min(1e-6) * 0.04
    return F.grid_sample(
        mask, ident + field.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False
    )


def _odd_kernel(n: int, size: int, g: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """SBI's random.randrange(5, 26, 2) kernel sizes, given at a 224 px face and scaled to `size` (odd, >= 1)."""
    k = 5 + 2 * torch.randint(0, 11, (n,), generator=g, device=device)
    return (torch.round(k.float() * size / 224 / 2) * 2 + 1).long()


def blend_mask(mask: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """SBI's get_blend_mask: erode (a pixel stays where its k1 x k1 window lies inside the hull, what OpenCV's
    blur-then-keep-only-1 does), blur (kernel k2, sigma 5-45 at 224 px, truncated at the kernel), normalise
    to a maximum of 1."""
    n, _, size, _ = mask.shape
    dev = mask.device
    k1 = _odd_kernel(n, size, g, dev)
    out = torch.empty_like(mask)
    hard = (mask > 0.5).float()
    for k in k1.unique().tolist():
        sel = k1 == k
        out[sel] = 1 - F.max_pool2d(1 - hard[sel], k, stride=1, padding=k // 2) if k > 1 else hard[sel]
    k2 = _odd_kernel(n, size, g, dev)
    sigma = _uniform(n, 5.0, 46.0, g, dev) * size / 224
    out = _blur(out, sigma, radius=k2 // 2)
    return out / out.amax((1, 2, 3), keepdim=True).clamp_min(1e-6)


def self_blend(
    images: torch.Tensor, polygons: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pseudo-fakes of real frames: (fakes uint8 [n, 3, S, S], reals uint8 [n, 3, S, S], masks [n, 1, S, S]).

    `images`: uint8 real frames; `polygons`: their face polygons [n, V, 2] (face_polygons). `reals` is each frame
    as it enters the batch beside its pseudo-fake: the altered copy when the target was the one altered, else the
    frame itself. Where the mask is 0 a pseudo-fake equals its `reals` frame exactly.
    """
    n, _, size, _ = images.shape
    dev = images.device
    g = generator
    frame = images.float() / 255.0
    altered = _frequency(_colour(frame, g), g)
    alter_target = (torch.rand(n, generator=g, device=dev) < 0.5).view(n, 1, 1, 1)
    source = torch.where(alter_target, frame, altered)
    target = torch.where(alter_target, altered, frame)
    target_u8 = (target * 255.0).round().clamp(0, 255)
    grid = _affine_grid(hull_centres(polygons.float()), size, g)
    source = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mask = F.grid_sample(polygon_masks(polygons, size), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    mask = blend_mask(_elastic(mask, g), g)
    ratios = torch.tensor(BLEND_RATIOS, device=dev)
    ratio = ratios[torch.randint(0, len(BLEND_RATIOS), (n,), generator=g, device=dev)].view(n, 1, 1, 1)
    mask = torch.where(mask > 1e-3, mask, torch.zeros_like(mask)) * ratio
    fake = mask * (source * 255.0) + (1 - mask) * target_u8
    return fake.round().clamp(0, 255).to(torch.uint8), target_u8.to(torch.uint8), mask


def jpeg(images: torch.Tensor, quality: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """JPEG-compress the uint8 frames [n, 3, S, S] where `apply` [n], each at its `quality` [n] (OpenCV on the
    CPU: neither torch nor torchvision encodes JPEG at a per-sample quality on every device)."""
    out = images.clone()
    idx = torch.nonzero(apply).flatten().tolist()
    if not idx:
        return out
    host = images[idx].permute(0, 2, 3, 1).contiguous().cpu().numpy()
    for j, i in enumerate(idx):
        ok, buf = cv2.imencode(".jpg", host[j][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality[i])])
        host[j] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    out[idx] = torch.from_numpy(host).permute(0, 3, 1, 2).to(images.device)
    return out


def jpeg_pairs(images: torch.Tensor, pair: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """SBI's ImageCompression(40-100, p 0.5) over a whole batch, one draw per pair: a pseudo-fake (pair[i] = its
    source's slot) is compressed exactly as its real frame is; every frame, whatever its label, has p 0.5."""
    n, dev = len(images), images.device
    apply = (torch.rand(n, generator=g, device=dev) < 0.5)[pair]
    quality = torch.randint(40, 101, (n,), generator=g, device=dev)[pair]
    return jpeg(images, quality, apply)


VAL_BLEND_SEED = 0  # data.pseudo_fake_val's blends do not depend on the model seed: one val set per split


def blended_pairs(frames: np.ndarray, polygons: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Real frames [n, S, S, 3] uint8 followed by one self-blend of each (a fixed generator: the same blends every
    epoch and every run), and their labels (0 then 1): data.pseudo_fake_val's validation set."""
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    fakes, _, _ = self_blend(images, polygons, torch.Generator().manual_seed(VAL_BLEND_SEED))
    both = np.concatenate([frames, fakes.permute(0, 2, 3, 1).numpy()])
    return both, np.repeat(np.array([0, 1], dtype=np.int64), len(frames))


@dataclass
class Blended:
    """A training batch after PseudoFakes: images, labels, and `pair`: for each slot, the slot whose
    augmentation draw it shares (itself, or a pseudo-fake's source real)."""

    images: torch.Tensor
    labels: torch.Tensor
    pair: torch.Tensor


class PseudoFakes:
    """Self-blended pseudo-fakes in the training batches (the DataModule makes it for its training split only).

    `pairs=True` (data.pseudo_fakes_only, the SBI setting): every real frame of the batch gets its blend beside
    it, so each batch of B reals becomes B reals and their B pseudo-fakes, as SBI's pairs. `pairs=False`: the last
    round(ratio * B) slots are replaced by pseudo-fakes of the real frames among the others (cycled when there
    are fewer). `polygons`: face polygons of every cache-index position [N, V, 2]; batches carry positions.
    """

    def __init__(self, polygons: np.ndarray, ratio: float, landmarks: str, pairs: bool):
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"data.pseudo_fake_ratio must be in (0, 1), got {ratio}")
        self.ratio, self.landmarks, self.pairs = float(ratio), landmarks, bool(pairs)
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
    ) -> Blended:
        """The batch with its pseudo-fakes (label 1), then JPEG drawn once per pair; unchanged but for JPEG when
        it has no real frame."""
        b, dev = len(labels), images.device
        pair = torch.arange(b, device=dev)
        if self.pairs:
            src = torch.nonzero(labels == 0).flatten()
            keep = b
        else:
            k = min(b - 1, int(round(self.ratio * b)))
            keep = b - k
            real = torch.nonzero(labels[:keep] == 0).flatten()
            src = real[torch.arange(k, device=dev) % len(real)] if k > 0 and len(real) else real[:0]
        if len(src):
            fakes, reals, _ = self_blend(images[src], self.polygons(dev)[positions[src]], generator)
            images = images[:keep].clone()
            # The real slot takes its blend's target copy (altered when the target was); a real cycled into
            # several blends takes its first one's: `src` cycles through distinct reals, so the first n are those.
            n = len(torch.unique(src))
            images[src[:n]] = reals[:n]
            images = torch.cat([images, fakes])
            labels = torch.cat([labels[:keep], torch.ones(len(src), dtype=labels.dtype, device=dev)])
            pair = torch.cat([torch.arange(keep, device=dev), src])
        return Blended(jpeg_pairs(images, pair, generator), labels, pair)


@dataclass
class PseudoFakeConfig:
    """The DataModule's pseudo-fake block: data.pseudo_fakes (none | sbi) and the keys that go with it."""

    pseudo_fakes: str
    pseudo_fake_ratio: float
    pseudo_fakes_only: bool  # the SBI setting: train on real frames + pseudo-fakes only (val/test as given)
    pseudo_fake_val: bool  # with pseudo_fakes_only: dfl-train validates on val reals + one blend of each

    def __post_init__(self) -> None:
        if self.pseudo_fakes not in PSEUDO_FAKE_METHODS:
            raise ValueError(f"data.pseudo_fakes must be one of {PSEUDO_FAKE_METHODS}, got {self.pseudo_fakes!r}")
        if self.pseudo_fakes_only and self.pseudo_fakes == "none":
            raise ValueError("data.pseudo_fakes_only=true needs data.pseudo_fakes=sbi (nothing else would be fake)")
        if self.pseudo_fake_val and not self.pseudo_fakes_only:
            raise ValueError("data.pseudo_fake_val=true needs data.pseudo_fakes_only=true (val reals and their blends)")


def make_pseudo_fakes(cfg: PseudoFakeConfig, geometry: np.ndarray | None, landmarks: str, cache: str) -> PseudoFakes:
    """The pseudo-fakes of data.pseudo_fakes=sbi over the face geometry the cache stored at extraction (one
    row per cache-index position)."""
    if geometry is None:
        raise ValueError(
            f"data.pseudo_fakes=sbi needs the face geometry stored at extraction; {cache} has none "
            "(a cache written before it existed): delete it or point paths.cache_dir elsewhere to rebuild"
        )
    return PseudoFakes(face_polygons(geometry), cfg.pseudo_fake_ratio, landmarks, pairs=cfg.pseudo_fakes_only)


def seen_counts(real: int, fake: int, ratio: float, balanced: bool, only_reals: bool) -> dict[str, float]:
    """Frames of each class the model sees per epoch: what class weights and the specialist's multiplier count.
    `only_reals` (the SBI setting): every real frame once with its blend; else pseudo-fakes replace a share
    `ratio` of each batch, and `balanced`: the sampler draws classes 1:1."""
    if only_reals:
        return {"real": float(real), "fake": float(real)}
    n = real + fake
    loader_real, loader_fake = (n / 2, n / 2) if balanced else (float(real), float(fake))
    return {"real": (1 - ratio) * loader_real, "fake": (1 - ratio) * loader_fake + ratio * n}


def describe(landmarks: str) -> str:
    return "convex hull of dlib's 68 landmarks" if landmarks == "dlib68" else "ellipse in the face box"


def pseudo_fake_summary(cfg: PseudoFakeConfig, pf: PseudoFakes, seen: dict[str, int]) -> dict[str, Any]:
    """metrics.json `pseudo_fakes`: what was blended and how, and the classes seen per epoch."""
    only = cfg.pseudo_fakes_only
    how = (
        "each real training frame once per epoch, beside its blend (SBI's pairs; training on real frames + "
        "pseudo-fakes only)"
        if only
        else f"{100 * cfg.pseudo_fake_ratio:.0f}% of each training batch, made from its train-split real frames"
    )
    log.info(
        "pseudo-fakes: self-blended (mask: %s), %s; per epoch the model sees about %.0f real and %.0f fake frames",
        describe(pf.landmarks), how, seen["real"], seen["fake"],
    )  # fmt: skip
    return {
        "method": "sbi (self-blended images)",
        "ratio": None if only else cfg.pseudo_fake_ratio,
        "pairs": only,  # every real frame beside its own blend, once per epoch
        "only_reals_and_pseudo_fakes": only,
        "mask": describe(pf.landmarks),
        "landmarks": pf.landmarks,
        "made_from": "train-split real frames" + ("" if cfg.pseudo_fake_val else "; val and test never blended"),
        # What dfl-train chose its checkpoint and threshold on.
        "val": "val real frames and one self-blend of each (no fake video seen in training or validation)"
        if cfg.pseudo_fake_val
        else "the data's val split",
        "seen_per_epoch": seen,
    }
