"""Any torchvision classifier or EfficientNet-Lite with the paper's heads, readable freezing and weight loading.

`model.net.arch` is any name `torchvision.models.get_model` knows (resnet18/50/101, efficientnet_b0..b4,
efficientnet_v2_s, convnext_tiny, regnet_*, mobilenet_v3_large, vit_b_16, swin_t, ...); the family's last
Linear layer, whatever its attribute, is replaced by the head, and `freeze: early` means the stem and the
first half of the feature stages (ResNet: conv1, bn1, layer1, layer2, as in the paper).
`efficientnet_lite0|1|2` (models/lite.py) have ImageNet weights that install from the package registry, so
`weights: imagenet` works offline for them. Each built network carries `input_scaling` (how pixels in [0, 1] are
scaled before it: `imagenet` mean/std for torchvision's weights, `symmetric` [-1, 1] for the Lite family).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from deepfake_lightning.models import lite

log = logging.getLogger(__name__)

HEADS = ("baseline", "enhanced")


def make_head(kind: str, in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    """`baseline`: Dropout + Linear (listing 2); `enhanced`: Dropout-Linear(512)-BN-ReLU-Dropout(0.2)-Linear (listing 3)."""
    if kind == "baseline":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))
    if kind == "enhanced":
        return nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_features, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(512, num_classes),
        )
    raise ValueError(f"model.net.head must be one of {HEADS}, got {kind!r}")


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state_dict or a Lightning .ckpt (its `state_dict`, `net.` prefix removed), loaded with weights_only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.weights={path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted, truncated or a pickle that needs arbitrary code
        raise ValueError(f"model.weights={path}: cannot load it as a weights-only checkpoint ({exc})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"model.weights={path}: not a state_dict (a mapping of names to tensors)")
    # A Lightning checkpoint of DeepfakeClassifier stores the backbone under `net.`.
    if any(k.startswith("net.") for k in obj):
        obj = {k[4:]: v for k, v in obj.items() if k.startswith("net.")}
    return obj


def load_weights(net: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint (a file, or a run folder: its best checkpoint) into `net`, saying what it loaded.

    Logs the file, how many tensors were loaded, and the missing and unexpected keys. Keys that match are
    loaded (e.g. a backbone without this head); a shape mismatch, or a checkpoint that matches no key of the
    network, is an error naming the file: never a silent random start.
    """
    from deepfake_lightning.results import find_checkpoint

    file = find_checkpoint(path) if Path(path).is_dir() else Path(path)
    state = load_state_dict_file(file)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    matched = sorted(set(own) & set(state))

    def some(keys: list[str]) -> str:
        return f"{keys[:8]}{' ...' if len(keys) > 8 else ''}"

    if shape:
        raise ValueError(
            f"model.net.weights={file} does not fit this network: shape mismatch: "
            + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shape[:8])
        )
    if not matched:
        raise ValueError(
            f"model.net.weights={file} matches no tensor of this network ({len(state)} tensors in the file, e.g. "
            f"{some(sorted(state))}; the network has e.g. {some(sorted(own))}): refusing a silent random start"
        )
    net.load_state_dict(state, strict=False)
    report = {"file": str(file), "loaded": len(matched), "of": len(own), "missing": missing, "unexpected": unexpected}
    log.info("model.net.weights=%s: loaded %d of the network's %d tensors", file, len(matched), len(own))
    if missing:
        log.warning(
            "model.net.weights=%s: %d tensor(s) missing, left as initialised: %s", file, len(missing), some(missing)
        )
    if unexpected:
        log.warning(
            "model.net.weights=%s: %d tensor(s) in the file not used: %s", file, len(unexpected), some(unexpected)
        )
    return report


def stages(net: nn.Module) -> tuple[list[str], list[str]]:
    """(stem modules, feature stages in order) of a torchvision classifier, as dotted module names."""
    children = dict(net.named_children())
    if str(getattr(net, "arch", "")) in lite.LITE_ARCHS:
        return lite.stages(net)
    if "layer1" in children:  # ResNet, ResNeXt, Wide ResNet
        return ["conv1", "bn1"], [n for n in ("layer1", "layer2", "layer3", "layer4") if n in children]
    if "trunk_output" in children:  # RegNet
        return ["stem"], [f"trunk_output.{n}" for n, _ in net.trunk_output.named_children()]
    if "conv_proj" in children:  # ViT
        return ["conv_proj"], [f"encoder.layers.{n}" for n, _ in net.encoder.layers.named_children()]
    if "features" in children:  # EfficientNet, MobileNet, ConvNeXt, Swin, DenseNet, VGG
        names = [f"features.{n}" for n, _ in net.features.named_children()]
        return names[:1], names[1:]
    raise ValueError(f"cannot find the feature stages of {type(net).__name__}; give model.net.freeze_layers by name")


def early_layers(net: nn.Module) -> list[str]:
    """`freeze: early`: the stem and the first half of the feature stages."""
    stem, body = stages(net)
    return stem + body[: len(body) // 2]


def freeze(net: nn.Module, names: Sequence[str] | str) -> list[str]:
    """Freeze named parts (dotted names, e.g. conv1, layer1, features.3, or `early`): no gradients, BatchNorm kept
    in eval mode."""
    if isinstance(names, str):
        if names != "early":
            raise ValueError(f"model.net.freeze_layers: a list of module names or 'early', got {names!r}")
        names = early_layers(net)
    frozen = []
    for name in names:
        try:
            module = net.get_submodule(name)
        except AttributeError:
            raise ValueError(f"model.net.freeze_layers: {name!r} is not a part of the network") from None
        for p in module.parameters():
            p.requires_grad_(False)
        frozen.append(name)
    net._frozen_children = tuple(frozen)  # read by keep_frozen_bn_eval
    return frozen


def keep_frozen_bn_eval(net: nn.Module) -> None:
    """Put BatchNorm layers inside frozen parts back in eval mode (call after `.train()`)."""
    for name in getattr(net, "_frozen_children", ()):
        for m in net.get_submodule(name).modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def classifier_name(net: nn.Module) -> str:
    """The dotted name of the family's final Linear layer (fc, classifier.1, heads.head, head, ...)."""
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(net).__name__} has no Linear classifier layer to replace with the head")
    return names[-1]


def build_backbone(
    arch: str,
    head: str,
    dropout: float,
    num_classes: int,
    weights: str | None = None,
    freeze_layers: Sequence[str] | str = (),
    input_size: int | None = None,
) -> nn.Module:
    """A torchvision classifier or EfficientNet-Lite with the paper's head (the `model.net` config: its values live
    in conf/model/*.yaml); `weights` = None, "imagenet", or a checkpoint path. `input_size`: the Lite family is built for it (static padding); torchvision ignores it."""
    if arch in lite.LITE_ARCHS:
        if input_size is None:
            raise ValueError(f"model.net.arch={arch} is built for its input size: give model.net.input_size")
        net = lite.build_lite(arch, int(input_size), imagenet=weights == "imagenet")
        net.input_scaling = lite.INPUT_SCALING
    else:
        net = _torchvision(arch, weights)
        net.input_scaling = "imagenet"
    name = classifier_name(net)
    width = net.get_submodule(name).in_features
    parent, _, leaf = name.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, leaf, make_head(head, width, num_classes, dropout))
    if weights and weights != "imagenet":
        load_weights(net, weights)
    net.arch = arch  # read by Grad-CAM, stages() and the input-size check
    net.weights_source = describe_weights(arch, weights)
    if freeze_layers:
        freeze(net, freeze_layers)
    return net


def describe_weights(arch: str, weights: str | None) -> str:
    """What the network started from, in words (REPORT.md, metrics.json)."""
    if weights == "imagenet":
        where = "the package registry (installed, offline)" if arch in lite.LITE_ARCHS else "torchvision"
        return f"ImageNet, from {where}"
    if weights:
        return f"the checkpoint {weights}"
    return "random initialisation (from scratch)"


def _torchvision(arch: str, weights: str | None) -> nn.Module:
    """A torchvision classifier by name, with its default ImageNet weights when `weights` is imagenet."""
    try:
        weight_enum = get_model_weights(arch)
    except (ValueError, KeyError):
        raise ValueError(
            f"model.net.arch={arch!r} is not a torchvision classification model name nor one of {sorted(lite.LITE_ARCHS)}"
        ) from None
    if weights == "imagenet":
        default = weight_enum.DEFAULT
        try:
            net = get_model(arch, weights=default)
        except Exception as exc:  # no internet and no warm torch hub cache
            raise RuntimeError(
                f"model.net.weights=imagenet: torchvision could not load the {arch} ImageNet weights "
                f"({type(exc).__name__}: {exc}). Offline, either put {default.url} into "
                f"{torch.hub.get_dir()}/checkpoints/, or pass model.net.weights=<path to a state_dict>, "
                "or model.net.weights=null to train from scratch."
            ) from exc
        return net
    return get_model(arch, weights=None)


def check_input_size(net: nn.Module, size: int) -> None:
    """Fail at start, naming the keys, when the backbone cannot take `size` px inputs (ViT wants 224)."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, size, size))
    except Exception as exc:  # noqa: BLE001 - any shape error of any family
        arch = getattr(net, "arch", type(net).__name__)
        hint = " (ViT's positional embedding fixes the input at 224 px)" if "vit" in arch else ""
        raise ValueError(
            f"model.net.arch={arch} cannot take model.input_size={size}{hint}: {type(exc).__name__}: {exc}. "
            "Raise model.input_size (and data.extract.image_size, which must be at least as large)."
        ) from exc
    finally:
        net.train(was_training)


# ResNet-50 by name: the `_target_` of configs written before `model.net.arch` existed (they carry every other key).
build_resnet50 = functools.partial(build_backbone, "resnet50")
