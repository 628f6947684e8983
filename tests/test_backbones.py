"""Any torchvision backbone: heads, readable freezing, Grad-CAM layers, the input-size check, ONNX parity."""

import numpy as np
import pytest
import torch
from torch import nn

from deepfake_lightning.evaluation.gradcam import cam_maps, cam_target
from deepfake_lightning.models.backbones import (
    build_backbone,
    check_input_size,
    classifier_name,
    early_layers,
)
from tests.helpers import build_resnet50

# (arch, input size for the test, parts that `early` must freeze, parts that must stay trainable)
FAST = [
    ("resnet18", 64, ["conv1", "layer2"], ["layer3"]),
    ("efficientnet_b0", 64, ["features.0", "features.3"], ["features.5"]),
    ("mobilenet_v3_large", 64, ["features.0"], ["features.15"]),
    ("regnet_y_400mf", 64, ["stem", "trunk_output.block2"], ["trunk_output.block3"]),
]
HEAVY = [
    ("convnext_tiny", 64, ["features.0", "features.3"], ["features.5"]),
    ("efficientnet_v2_s", 64, ["features.0"], ["features.7"]),
    ("swin_t", 64, ["features.0", "features.3"], ["features.5"]),
    ("vit_b_16", 224, ["conv_proj", "encoder.layers.encoder_layer_5"], ["encoder.layers.encoder_layer_6"]),
]
FAMILIES = FAST + [pytest.param(*h, marks=pytest.mark.slow) for h in HEAVY]


def _trainable(net: nn.Module, name: str) -> bool:
    return any(p.requires_grad for p in net.get_submodule(name).parameters())


@pytest.mark.parametrize(("arch", "size", "frozen", "free"), FAMILIES)
def test_family_builds_trains_freezes_and_gives_a_cam(arch, size, frozen, free):
    torch.manual_seed(0)
    net = build_backbone(arch, "enhanced", 0.5, 2, freeze_layers="early")
    head = net.get_submodule(classifier_name(net).rpartition(".")[0] or classifier_name(net))
    assert isinstance(net.get_submodule(classifier_name(net)), nn.Linear)
    assert any(isinstance(m, nn.BatchNorm1d) for m in net.modules()), "the enhanced head (with BatchNorm) is in place"
    assert head is not None
    for name in frozen:
        assert not _trainable(net, name), f"{name} should be frozen"
    for name in free:
        assert _trainable(net, name), f"{name} should train"
    x = torch.randn(2, 3, size, size)
    out = net.train()(x)
    assert out.shape == (2, 2)
    out.sum().backward()
    assert all(p.grad is None for n in frozen for p in net.get_submodule(n).parameters())
    layers, reshape = cam_target(net)
    maps = cam_maps(net, layers, x, 1, reshape)
    assert maps.shape == (2, size, size) and 0 <= maps.min() and maps.max() <= 1


def test_resnet50_early_is_the_papers_freezing_and_the_old_builder_matches():
    net = build_backbone("resnet50", "enhanced", 0.5, 2, freeze_layers="early")
    assert early_layers(net) == ["conv1", "bn1", "layer1", "layer2"]
    torch.manual_seed(3)
    a = build_resnet50(head="enhanced")
    torch.manual_seed(3)
    b = build_backbone("resnet50", "enhanced", 0.5, 2)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_unknown_arch_and_too_small_input_name_the_keys():
    with pytest.raises(ValueError, match="model.net.arch='nope'"):
        build_backbone("nope", "enhanced", 0.5, 2)
    vit = build_backbone("vit_b_16", "enhanced", 0.5, 2)
    with pytest.raises(ValueError, match=r"model.net.arch=vit_b_16 cannot take model.input_size=64.*224"):
        check_input_size(vit, 64)
    check_input_size(vit, 224)


@pytest.mark.parametrize("arch", ["efficientnet_b0", pytest.param("convnext_tiny", marks=pytest.mark.slow)])
def test_onnx_export_parity(arch, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    net = build_backbone(arch, "enhanced", 0.5, 2).eval()
    x = torch.randn(2, 3, 64, 64)
    path = tmp_path / f"{arch}.onnx"
    torch.onnx.export(net, (x,), str(path), input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    got = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["y"], {"x": x.numpy()})[0]
    with torch.no_grad():
        ref = net(x).numpy()
    assert np.abs(got - ref).max() < 1e-3


@pytest.mark.parametrize(
    ("arch", "scaling"),
    [("efficientnet_b0", "imagenet"), ("efficientnet_lite0", "symmetric")],
)
def test_the_chain_on_another_backbone(tiny_root, tmp_path, arch, scaling):
    """General + specialist on EfficientNet-B0 (from scratch) and EfficientNet-Lite0 (ImageNet weights from the
    package registry): train, ensemble, Grad-CAM, predict and ONNX export, each scaling inputs as its backbone
    wants."""
    from omegaconf import OmegaConf

    from deepfake_lightning.apps.ensemble import run as run_ensemble
    from deepfake_lightning.apps.export import export
    from deepfake_lightning.apps.gradcam import run as run_gradcam
    from deepfake_lightning.apps.predict import predict
    from deepfake_lightning.apps.train import train
    from tests.helpers import compose_cfg, tiny_train_overrides

    runs = {}
    for name in ("general", "specialist"):
        out = tmp_path / name
        overrides = tiny_train_overrides(
            tiny_root, tmp_path / "c", f"model=resnet50_{name}", f"model.net.arch={arch}",
            *(["model.net.weights=imagenet"] if "lite" in arch else []),
        )  # fmt: skip
        train(compose_cfg("train", overrides, out))
        runs[name] = out
    ens = tmp_path / "ens"
    run_ensemble(compose_cfg("ensemble", [f"general={runs['general']}", f"specialist={runs['specialist']}",
                                          f"out_dir={ens}", "report.bootstrap=20"], ens))  # fmt: skip
    grid = run_gradcam(OmegaConf.create({"out_dir": str(ens), "n": 2, "seed": 0}))
    assert grid.is_file()
    video = next((tiny_root / "Celeb-real").glob("*.mp4"))
    res = predict(OmegaConf.create({"run": str(ens), "input": str(video), "output": None, "format": "jsonl",
                                    "aggregate": "mean", "frames_per_video": None, "threshold": None,
                                    "batch_size": 4, "device": "cpu"}))  # fmt: skip
    assert 0.0 <= res[0]["p_fake"] <= 1.0
    from deepfake_lightning.data.transforms import center_crop, normalize
    from deepfake_lightning.models.loading import load_predictor

    module = load_predictor(ens).module.eval()
    assert module.general.input_scaling == scaling == module.specialist.input_scaling
    frames = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
    x = normalize(center_crop(frames, module.input_size), scaling)
    with torch.no_grad():
        expected = torch.softmax(module.calibrated(module(x)), 1)[:, 1]
        assert torch.allclose(module.p_fake(frames), expected)
    rep = export(OmegaConf.create({"run": str(ens), "output": None, "opset": 17, "n_check": 4, "atol": 1e-4}))
    assert rep["parity"]


@pytest.mark.slow
def test_backbone_sweep_runs_the_chain_per_backbone(tiny_root, tmp_path):
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "summary"
    cmd = [
        sys.executable, "-m", "deepfake_lightning.apps.chain", "-m", "hparams_search=backbone_sweep",
        f"data_root={tiny_root}", f"paths.log_dir={tmp_path / 'logs'}", f"hydra.callbacks.summary.out_dir={out}",
        "arch=resnet18,mobilenet_v3_large",
        f"overrides=['paths.cache_dir={tmp_path / 'cache'}','logger=csv','report.bootstrap=50']",
    ]  # fmt: skip
    env = {**os.environ, "DFL_DEMO_EPOCHS": "1"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rows = json.loads((out / "summary.json").read_text())
    assert [r["arch"] for r in rows] == ["resnet18", "mobilenet_v3_large"]
    assert all(r["ensemble_balanced_accuracy_ci"] and r["params_m"] > 0 for r in rows)
    assert (out / "summary.png").is_file() and "mobilenet_v3_large" in (out / "summary.md").read_text()
