"""Batched augmentation on the device (crop, flip, rotation, colour jitter), optionally different per class.

Written here rather than with torchvision.transforms.v2 because those draw one set of parameters
per call: per-sample parameters for a whole uint8 batch on the GPU, with a different policy for
real and fake frames (paper section 3.7), take one affine_grid/grid_sample call this way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# How a backbone wants pixels in [0, 1] scaled (its `input_scaling`): ImageNet mean/std for torchvision's
# weights, [-1, 1] for EfficientNet-Lite's (models/lite.py).
SCALINGS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "symmetric": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}


@dataclass(frozen=True)
class AugmentPolicy:
    """Ranges for one class's augmentation; zeros turn a part off."""

    scale: tuple[float, float] = (0.8, 1.0)  # side of the random crop as a fraction of the frame
    flip: float = 0.5
    rotation: float = 10.0  # degrees, uniform in [-rotation, rotation]
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    @classmethod
    def from_any(cls, value: AugmentPolicy | dict | None) -> AugmentPolicy:
        if isinstance(value, AugmentPolicy):
            return value
        value = dict(value or {})
        if "scale" in value:
            value["scale"] = tuple(value["scale"])
        return cls(**value)


def normalize(images: torch.Tensor, scaling: str = "imagenet") -> torch.Tensor:
    """uint8 or [0, 1] float images [B, 3, H, W] to the float input a backbone wants (`scaling`: SCALINGS)."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    mean, std = _constants(scaling, x.device, x.dtype)
    return (x - mean) / std


_CONSTANTS: dict[tuple[str, str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _constants(scaling: str, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    # Made once per device: torch.tensor(..., device="cuda") copies from pageable memory, a sync every call.
    key = (scaling, str(device), dtype)
    if key not in _CONSTANTS:
        if scaling not in SCALINGS:
            raise ValueError(f"input scaling must be one of {sorted(SCALINGS)}, got {scaling!r}")
        mean, std = SCALINGS[scaling]
        _CONSTANTS[key] = (
            torch.tensor(mean, dtype=dtype).view(1, 3, 1, 1).to(device),
            torch.tensor(std, dtype=dtype).view(1, 3, 1, 1).to(device),
        )
    return _CONSTANTS[key]


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """Centre crop [B, C, H, W] to size x size (resizing up when the frame is smaller)."""
    h, w = images.shape[-2:]
    if h < size or w < size:
        return F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top : top + size, left : left + size]


def _draw(policy: AugmentPolicy, n: int, device: torch.device, gen: torch.Generator | None) -> dict[str, torch.Tensor]:
    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, device=device, generator=gen)

    return {
        "scale": u(*policy.scale),
        "flip": (torch.rand(n, device=device, generator=gen) < policy.flip).float() * -2 + 1,
        "angle": u(-policy.rotation, policy.rotation) * (math.pi / 180),
        "tx": u(-1, 1),
        "ty": u(-1, 1),
        "brightness": u(1 - policy.brightness, 1 + policy.brightness),
        "contrast": u(1 - policy.contrast, 1 + policy.contrast),
        "saturation": u(1 - policy.saturation, 1 + policy.saturation),
    }


class BatchAugment(torch.nn.Module):
    """Train-time augmentation of a uint8 batch to float [0, 1] at `size`; `fake` may differ from `real`."""

    def __init__(self, size: int, real: AugmentPolicy | dict | None = None, fake: AugmentPolicy | dict | None = None):
        super().__init__()
        self.size = size
        self.real = AugmentPolicy.from_any(real)
        self.fake = AugmentPolicy.from_any(fake) if fake is not None else self.real

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator | None = None,
        pair: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`pair` [B]: slot i takes slot pair[i]'s draw (and policy): a pseudo-fake is augmented exactly as the
        real frame it was blended from, so no augmentation is tied to its label."""
        n, dev = images.shape[0], images.device
        pr = _draw(self.real, n, dev, generator)
        if self.fake == self.real:
            p = pr
        else:
            pf = _draw(self.fake, n, dev, generator)
            is_fake = labels.to(dev).bool()
            p = {k: torch.where(is_fake, pf[k], pr[k]) for k in pr}
        if pair is not None:
            p = {k: v[pair.to(dev)] for k, v in p.items()}
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        # One affine warp per sample: random crop (scale + offset), flip and rotation.
        s = p["scale"]
        cos, sin = torch.cos(p["angle"]), torch.sin(p["angle"])
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0] = s * cos * p["flip"]
        theta[:, 0, 1] = -s * sin
        theta[:, 1, 0] = s * sin * p["flip"]
        theta[:, 1, 1] = s * cos
        theta[:, 0, 2] = (1 - s) * p["tx"]
        theta[:, 1, 2] = (1 - s) * p["ty"]
        grid = F.affine_grid(theta, [n, 3, self.size, self.size], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        # Colour jitter: brightness, contrast, saturation, each per sample.
        x = x * p["brightness"].view(-1, 1, 1, 1)
        grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
        mean = grey.mean(dim=(2, 3), keepdim=True)
        x = (x - mean) * p["contrast"].view(-1, 1, 1, 1) + mean
        x = (x - grey) * p["saturation"].view(-1, 1, 1, 1) + grey
        return x.clamp_(0, 1)
