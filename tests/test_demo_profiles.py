"""The demo trains ImageNet EfficientNet-Lite0 at 112 px on 128 px frames; PROFILE=demo_scratch keeps ResNet-50 from
scratch at 64 px on 72 px frames; make paper maps each profile to its experiments."""

import pytest

from tests.helpers import RESEARCH_CONF, compose_cfg


@pytest.mark.parametrize("model", ["milestone", "general", "specialist"])
def test_demo_experiments_fine_tune_imagenet_lite0_and_the_scratch_profile_keeps_resnet50(model):
    cfg = compose_cfg("train", [f"experiment=demo_{model}", "data.root=x"])
    assert (cfg.model.net.arch, cfg.model.net.weights, cfg.model.input_size) == ("efficientnet_lite0", "imagenet", 112)
    assert cfg.model.net.input_size == 112 and cfg.data.extract.image_size == 128
    scratch = compose_cfg("train", [f"experiment=demo_scratch_{model}", "data.root=x"])
    assert (scratch.model.net.arch, scratch.model.net.weights, scratch.model.input_size) == ("resnet50", None, 64)
    assert scratch.data.extract.image_size == 72 and scratch.trainer.max_epochs == 6
    assert scratch.model.name == cfg.model.name  # the same recipe, another backbone


def test_the_extract_profiles_match_their_trainings():
    assert compose_cfg("extract", ["profile=demo", "data.root=x"]).data.extract.image_size == 128
    assert compose_cfg("extract", ["profile=demo_scratch", "data.root=x"]).data.extract.image_size == 72


def test_make_paper_maps_each_profile_to_its_experiments(tmp_path, monkeypatch):
    import deepfake_lightning.pipeline as pipeline

    calls = []
    monkeypatch.setattr(pipeline, "step", lambda name, module, args, log_dir: calls.append((module, args)))
    monkeypatch.setattr(pipeline, "load_metrics", lambda *a, **k: {})
    pipeline.chain(tmp_path, tmp_path / "out", tmp_path / "split.json", "demo_scratch", lambda app: [], True, False)
    experiments = [a for _, args in calls for a in args if a.startswith("experiment=")]
    assert experiments == [
        "experiment=demo_scratch_milestone",
        "experiment=demo_scratch_general",
        "experiment=demo_scratch_specialist",
        "experiment=demo_scratch_yolo11n",
    ]


def test_make_paper_and_dfl_chain_run_one_runner(monkeypatch, tmp_path):
    """Issue 29: both front doors call pipeline.run, with the same YOLO default; the profiles are one table."""
    import deepfake_lightning.apps.chain as chain_app
    import deepfake_lightning.apps.paper as paper_app
    from deepfake_lightning.apps.argv import prepare_argv
    from deepfake_lightning.pipeline import PROFILES
    from tests.helpers import compose_cfg

    seen = []
    monkeypatch.setattr(paper_app, "run", lambda *a, **k: seen.append(("paper", a, k)))
    monkeypatch.setattr(chain_app, "run_chain", lambda *a, **k: seen.append(("chain", a, k)) or {})
    paper_app.main(["--data-root", str(tmp_path), "--out", str(tmp_path / "o"), "--profile", "demo_scratch"])
    over = prepare_argv("chain", [f"data_root={tmp_path}", f"out_dir={tmp_path / 'c'}", "profile=demo_scratch"])
    chain_app.run(compose_cfg("chain", over))
    (_, pa, pk), (_, ca, ck) = seen
    assert pa[2] == ca[2] == "demo_scratch" and pk["no_yolo"] is ck["no_yolo"] is False
    assert sorted(PROFILES) == sorted(p.stem for p in (RESEARCH_CONF / "profile").glob("*.yaml"))
