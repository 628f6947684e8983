"""Training: every experiment composes, each model trains, the specialist weight, freezing, loading, W&B offline."""

import json

import hydra
import pytest
import torch
from omegaconf import open_dict

from deepfake_lightning.apps.train import train
from deepfake_lightning.config import CONF_DIR
from deepfake_lightning.models.backbones import keep_frozen_bn_eval
from deepfake_lightning.models.classifier import specialist_class_weights
from deepfake_lightning.models.loading import build_classifier
from tests.helpers import RESEARCH_CONF, build_resnet50, compose_cfg, tiny_train_overrides

EXPERIMENTS = sorted(p.stem for p in (RESEARCH_CONF / "experiment").glob("*.yaml") if "yolo" not in p.stem)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("train-cache")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(experiment, tiny_root, cache_dir, tmp_path):
    # paper_* ask for ImageNet weights, which this offline machine cannot fetch (tested on their own below).
    cfg = compose_cfg(
        "train",
        [
            f"experiment={experiment}",
            f"data.root={tiny_root}",
            f"paths.cache_dir={cache_dir}",
            "model.net.weights=null",
        ],
        tmp_path,
    )
    model = build_classifier(cfg.model)
    dm = hydra.utils.instantiate(cfg.data)
    assert model.hparams.name in ("baseline", "general", "specialist", "sbi_general")
    assert dm.loader_cfg.batch_size == cfg.data.batch_size
    if cfg.trainer.accelerator == "cpu":
        with open_dict(cfg):
            cfg.trainer.fast_dev_run = True
        hydra.utils.instantiate(cfg.trainer, logger=False)


@pytest.mark.parametrize("model", ["resnet50_baseline", "resnet50_general", "resnet50_specialist"])
def test_each_model_runs_fast_dev_run(model, tiny_root, cache_dir, tmp_path):
    cfg = compose_cfg(
        "train",
        tiny_train_overrides(
            tiny_root,
            cache_dir,
            f"model={model}",
            "model.net.arch=resnet50",
            "+trainer.fast_dev_run=true",
            "callbacks=none",
        ),
        tmp_path,
    )
    res = train(cfg)
    assert res["test"]["support"]["real"] + res["test"]["support"]["fake"] > 0
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "config.yaml").is_file()


def test_threshold_lands_in_checkpoint_and_is_used_at_test(tiny_root, cache_dir, tmp_path):
    cfg = compose_cfg("train", tiny_train_overrides(tiny_root, cache_dir, "threshold.criterion=youden"), tmp_path)
    res = train(cfg)
    ckpt = torch.load(tmp_path / res["checkpoint"], map_location="cpu", weights_only=True)
    assert "threshold" in ckpt and ckpt["threshold_choice"]["criterion"] == "youden"
    assert float(ckpt["state_dict"]["threshold"]) == ckpt["threshold"]
    assert res["test"]["threshold"] == pytest.approx(ckpt["threshold"])
    assert (tmp_path / "csv" / "metrics.csv").is_file()


def test_specialist_weight_from_train_counts(tiny_dm):
    counts = tiny_dm.class_counts("train")
    w = specialist_class_weights(counts["real"], counts["fake"], 8.0)
    assert w == [counts["fake"] / counts["real"] * 8.0, 1.0]
    assert specialist_class_weights(10, 40, 2.0) == [8.0, 1.0]
    with pytest.raises(ValueError, match="real_weight_multiplier"):
        specialist_class_weights(10, 40, -1.0)


def test_specialist_module_sets_its_weight(tiny_root, cache_dir, tmp_path):
    cfg = compose_cfg(
        "train",
        tiny_train_overrides(tiny_root, cache_dir, "model=resnet50_specialist", "model.real_weight_multiplier=4"),
        tmp_path,
    )
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    model = build_classifier(cfg.model)
    with pytest.raises(RuntimeError, match="set_class_counts"):  # never a silent [1, 1]
        model.setup("fit")
    c = dm.class_counts("train")
    model.set_class_counts(**c)
    model.setup("fit")
    assert model.class_weight.tolist() == pytest.approx([c["fake"] / c["real"] * 4, 1.0])
    assert "balanced_sampler" not in model.hparams  # a data setting, not the module's


def test_frozen_layers_get_no_gradient_and_keep_bn_stats():
    net = build_resnet50(head="enhanced", freeze_layers=["conv1", "bn1", "layer1", "layer2"])
    net.train()
    keep_frozen_bn_eval(net)
    before = net.layer1[0].bn1.running_mean.clone()
    loss = net(torch.randn(4, 3, 32, 32)).sum()
    loss.backward()
    assert all(p.grad is None for p in net.layer2.parameters()) and net.conv1.weight.grad is None
    assert net.layer3[0].conv1.weight.grad is not None
    assert torch.equal(before, net.layer1[0].bn1.running_mean)
    assert not net.layer3[0].bn1.running_mean.equal(torch.zeros_like(net.layer3[0].bn1.running_mean))


def test_weights_from_a_checkpoint_and_a_mismatch(tmp_path):
    src = build_resnet50(head="enhanced")
    torch.save(src.state_dict(), tmp_path / "plain.pt")
    torch.save({"state_dict": {f"net.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "light.ckpt")
    for f in ("plain.pt", "light.ckpt"):
        dst = build_resnet50(head="enhanced", weights=str(tmp_path / f))
        assert torch.equal(dst.fc[1].weight, src.fc[1].weight)
    with pytest.raises(ValueError, match=r"baseline.*does not fit.*fc"):
        torch.save(build_resnet50(head="baseline").state_dict(), tmp_path / "baseline.pt")
        build_resnet50(head="enhanced", weights=str(tmp_path / "baseline.pt"))
    with pytest.raises(FileNotFoundError, match="model.weights"):
        build_resnet50(weights=str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="junk.pt"):
        build_resnet50(weights=str(tmp_path / "junk.pt"))


def test_wandb_offline_run_folder(tiny_root, cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_cfg(
        "train",
        tiny_train_overrides(tiny_root, cache_dir, "logger=default"),  # default callbacks: W&B plots too
        tmp_path,
    )
    train(cfg)
    from deepfake_lightning.apps.common import close_wandb

    close_wandb()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs, "no offline W&B run folder"
    assert list(runs[0].glob("*.wandb")), "the offline run holds no data"
    assert json.loads((tmp_path / "metrics.json").read_text())["model"] == "general"


def test_gpu_trainer_turns_on_channels_last_and_mixed_precision():
    from deepfake_lightning.config import amp_precision

    assert compose_cfg("train", ["trainer=gpu", "data.root=x"]).model.channels_last is True
    assert compose_cfg("train", ["trainer=cpu", "data.root=x"]).model.channels_last is False
    cfg = compose_cfg("train", ["trainer=gpu", "data.root=x"])
    assert cfg.trainer.precision == amp_precision() and cfg.trainer.precision in ("bf16-mixed", "16-mixed")


def test_paper_experiments_use_imagenet_and_stop_at_start_offline(tiny_root, tmp_path, monkeypatch):
    import socket

    for name in ("paper_milestone", "paper_general", "paper_specialist"):
        cfg = compose_cfg("train", [f"experiment={name}", f"data.root={tiny_root}"], tmp_path)
        assert cfg.model.net.weights == "imagenet"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))  # no cached weights

    def refuse(*a, **k):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    overrides = tiny_train_overrides(
        tiny_root, tmp_path / "cache", "experiment=paper_general", "trainer=cpu", "model.net.arch=resnet50",
        "model.net.weights=imagenet",  # debug=tiny trains from scratch; the paper's torchvision weights asked again
    )  # fmt: skip
    cfg = compose_cfg("train", overrides, tmp_path / "run")
    with pytest.raises(Exception, match=r"model.net.weights=null"):  # hydra wraps it, message kept
        train(cfg)
    assert not (tmp_path / "cache").exists(), "the run extracted frames before finding the weights missing"


@pytest.mark.slow  # inductor compiles on the CPU (tens of seconds)
def test_compiled_backbone_keeps_the_checkpoint_keys(tiny_root, cache_dir, tmp_path):
    cfg = compose_cfg("train", tiny_train_overrides(tiny_root, cache_dir, "model.compile=true"), tmp_path)
    plain = build_classifier(cfg.model)
    compiled = build_classifier(cfg.model)
    compiled.load_state_dict(plain.state_dict())
    compiled.setup("validate")
    compiled.setup("test")  # set-up runs per stage: the backbone is compiled once
    assert compiled._net_compiled and list(compiled.state_dict()) == list(plain.state_dict())
    x = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    plain.eval(), compiled.eval()
    with torch.no_grad():
        assert torch.allclose(compiled.p_fake(x), plain.p_fake(x), atol=1e-4)
    res = train(cfg)  # a whole compiled run, and its checkpoint loads into an uncompiled module
    ckpt = torch.load(tmp_path / res["checkpoint"], map_location="cpu", weights_only=True)
    plain.load_state_dict(ckpt["state_dict"])


@pytest.mark.parametrize("debug", ["fdr", "limit", "overfit"])
def test_debug_configs_run_a_tiny_training(debug, tiny_root, cache_dir, tmp_path):
    over = [f"debug={debug}", f"data.root={tiny_root}", f"paths.cache_dir={cache_dir}", "data.extract.image_size=40",
            "model.input_size=32", "data.extract_workers=1", "model.net.arch=mobilenet_v3_small"]  # fmt: skip
    if debug == "overfit":
        over.append("trainer.max_epochs=2")
    cfg = compose_cfg("train", over, tmp_path)
    assert cfg.task_name == "debug" and cfg.trainer.detect_anomaly and not cfg.logger.get("wandb")
    expected = {"fdr": ("fast_dev_run", True), "limit": ("limit_train_batches", 3), "overfit": ("overfit_batches", 3)}
    key, value = expected[debug]
    assert cfg.trainer[key] == value
    result = train(cfg)
    assert result["test"]["confusion_matrix"]


def test_the_research_conf_comes_before_the_package_s_and_takes_a_user_s_experiment(tmp_path, monkeypatch):
    assert EXPERIMENTS and not (CONF_DIR / "experiment").exists()  # the wheel ships only defaults
    mine = tmp_path / "conf"
    (mine / "experiment").mkdir(parents=True)
    (mine / "experiment" / "my_run.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: resnet50_specialist\nmodel:\n  real_weight_multiplier: 3\n"
    )
    (mine / "threshold").mkdir()  # a group file of the same name as the package's replaces it
    (mine / "threshold" / "default.yaml").write_text(
        (CONF_DIR / "threshold" / "default.yaml").read_text().replace("0.98", "0.95")
    )
    monkeypatch.setenv("DFL_CONF", str(mine))
    cfg = compose_cfg("train", ["experiment=my_run", "data.root=x"])
    assert cfg.model.real_weight_multiplier == 3 and cfg.threshold.min_fake_recall == 0.95
    monkeypatch.delenv("DFL_CONF")
    cfg = compose_cfg("train", ["experiment=demo_general", "data.root=x"])  # the checkout's conf/
    assert cfg.data.extract.frames_per_video == 2 and cfg.threshold.min_fake_recall == 0.98
