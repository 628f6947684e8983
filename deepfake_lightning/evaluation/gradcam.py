"""Grad-CAM heatmaps with the grad-cam package (pytorch-grad-cam) for the ResNets, the ensemble and YOLO."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from deepfake_lightning.evaluation.plots import save_figure


class LogitsOnly(nn.Module):
    """Wraps a model whose eval forward returns (probabilities, logits), as ultralytics' Classify head does."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[1] if isinstance(out, (tuple, list)) else out


def cam_maps(
    model: nn.Module,
    target_layers: Sequence[nn.Module],
    inputs: torch.Tensor,
    target_class: int,
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """Grad-CAM [B, H, W] in [0, 1] for `target_class` (project index: 1 = fake) of preprocessed inputs."""
    model.eval()
    with GradCAM(model=model, target_layers=list(target_layers), reshape_transform=reshape_transform) as cam:
        maps = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(target_class)] * len(inputs))
    return np.clip(np.nan_to_num(maps), 0.0, 1.0)


def overlays(images_uint8: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Heatmaps over RGB frames [B, H, W, 3] uint8 (maps are resized to the frame)."""
    import cv2

    out = []
    for img, m in zip(images_uint8, maps):
        m = cv2.resize(m.astype(np.float32), (img.shape[1], img.shape[0]))
        out.append(show_cam_on_image(img.astype(np.float32) / 255.0, m, use_rgb=True))
    return np.stack(out)


def resnet_layers(net: nn.Module) -> list[nn.Module]:
    """The usual Grad-CAM layer of a torchvision ResNet: the last bottleneck of layer4."""
    return [net.layer4[-1]]


def vit_tokens_to_map(tokens: torch.Tensor) -> torch.Tensor:
    """ViT activations [B, 1 + h*w, C] -> [B, C, h, w], the class token dropped (grad-cam's documented transform)."""
    grid = int(round((tokens.shape[1] - 1) ** 0.5))
    return tokens[:, 1:, :].reshape(tokens.shape[0], grid, grid, tokens.shape[2]).permute(0, 3, 1, 2)


def nhwc_to_nchw(x: torch.Tensor) -> torch.Tensor:
    """Swin's stages are channels-last [B, H, W, C]."""
    return x.permute(0, 3, 1, 2)


def cam_target(net: nn.Module) -> tuple[list[nn.Module], Callable[[torch.Tensor], torch.Tensor] | None]:
    """(target layers, reshape transform) for a torchvision backbone: the last conv stage of a CNN, the last
    encoder block's first LayerNorm of a ViT, the last stage of a Swin."""
    children = dict(net.named_children())
    arch = str(getattr(net, "arch", ""))
    if "_blocks" in children:  # EfficientNet-Lite (models/lite.py): the head conv's BatchNorm, before ReLU6
        return [net._bn1], None
    if "layer4" in children:
        return resnet_layers(net), None
    if "trunk_output" in children:
        return [net.trunk_output[-1]], None
    if "conv_proj" in children:
        return [net.encoder.layers[-1].ln_1], vit_tokens_to_map
    if "features" in children:
        return [net.features[-1]], (nhwc_to_nchw if arch.startswith("swin") else None)
    raise ValueError(f"no Grad-CAM target layer known for {type(net).__name__}")


def yolo_layers(model: nn.Module) -> list[nn.Module]:
    """The block before ultralytics' Classify head."""
    return [model.model[-2]]


def write_grid(
    rows: dict[str, tuple[np.ndarray, Sequence[str]]], path: str | Path, col_titles: Sequence[str] | None = None
) -> Path:
    """A PNG grid: one row per model (overlays [N, H, W, 3] and a caption per image)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = len(rows)
    n_cols = max(len(v[0]) for v in rows.values())
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.7 * n_cols, 1.9 * n_rows), squeeze=False)
    for r, (name, (imgs, captions)) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(imgs):
                ax.imshow(imgs[c])
                ax.set_title(captions[c], fontsize=6)
        axes[r][0].text(-0.1, 0.5, name, transform=axes[r][0].transAxes, ha="right", va="center", fontsize=8)
    return save_figure(fig, Path(path))


def captions(labels: Sequence[int], p_fake: Sequence[float]) -> list[str]:
    """`true <label>, p_fake <p>` per image."""
    return [f"true {'fake' if y else 'real'}\np_fake {p:.2f}" for y, p in zip(labels, p_fake)]
