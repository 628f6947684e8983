"""ResNet-50 with the paper's heads, layer freezing and weight loading (random, ImageNet, or a local checkpoint)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

log = logging.getLogger(__name__)

HEADS = ("baseline", "enhanced")
STEM = ("conv1", "bn1")


def make_head(kind: str, in_features: int = 2048, num_classes: int = 2, dropout: float = 0.4) -> nn.Sequential:
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


def load_weights(net: nn.Module, path: str | Path) -> None:
    """Load a checkpoint into `net`; a shape or key mismatch names the file and the keys."""
    state = load_state_dict_file(path)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shape:
        detail = []
        if shape:
            detail.append(
                "shape mismatch: "
                + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shape[:8])
            )
        if missing:
            detail.append(f"missing keys: {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            detail.append(f"unexpected keys: {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        raise ValueError(f"model.weights={path} does not fit this network: " + "; ".join(detail))
    net.load_state_dict(state)


def freeze(net: nn.Module, names: Sequence[str]) -> list[str]:
    """Freeze the named children (e.g. conv1, bn1, layer1, layer2): no gradients, BatchNorm kept in eval mode."""
    frozen = []
    for name in names:
        module = getattr(net, name, None)
        if module is None:
            raise ValueError(f"model.net.freeze: {name!r} is not a part of the network")
        for p in module.parameters():
            p.requires_grad_(False)
        frozen.append(name)
    net._frozen_children = tuple(frozen)  # read by keep_frozen_bn_eval
    return frozen


def keep_frozen_bn_eval(net: nn.Module) -> None:
    """Put BatchNorm layers inside frozen parts back in eval mode (call after `.train()`)."""
    for name in getattr(net, "_frozen_children", ()):
        for m in getattr(net, name).modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def build_resnet50(
    head: str = "enhanced",
    dropout: float = 0.4,
    num_classes: int = 2,
    weights: str | None = None,
    freeze_layers: Sequence[str] = (),
) -> nn.Module:
    """torchvision ResNet-50 with the paper's head; `weights` = None, "imagenet", or a checkpoint path."""
    if weights == "imagenet":
        try:
            net = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)
        except Exception as exc:  # no internet and no warm torch hub cache
            raise RuntimeError(
                "model.net.weights=imagenet: torchvision could not load the ResNet-50 ImageNet weights "
                f"({type(exc).__name__}: {exc}). Offline, either put {ResNet50_Weights.IMAGENET1K_V2.url} "
                f"into {torch.hub.get_dir()}/checkpoints/, or pass model.net.weights=<path to a state_dict>, "
                "or model.net.weights=null to train from scratch."
            ) from exc
        net.fc = make_head(head, net.fc.in_features, num_classes, dropout)
    else:
        net = resnet50(weights=None)
        net.fc = make_head(head, net.fc.in_features, num_classes, dropout)
        if weights:
            load_weights(net, weights)
    if freeze_layers:
        freeze(net, freeze_layers)
    return net
