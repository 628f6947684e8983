"""Compose the project's Hydra configs in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from deepfake_lightning.config import CONF_DIR


def compose_cfg(name: str, overrides: list[str], out_dir: Path | None = None) -> DictConfig:
    """A composed app config with hydra's runtime set, paths pointed at `out_dir`."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    if out_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(out_dir)
            cfg.paths.output_dir = str(out_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # an app's task function never sees it
    return cfg


# The small backbone of debug=tiny, for tests that start a training another way.
TINY_ARCH = str(OmegaConf.load(CONF_DIR / "debug" / "tiny.yaml").model.net.arch)


def tiny_train_overrides(root: Path, cache: Path, *extra: str) -> list[str]:
    """dfl-train's `debug=tiny` (conf/debug/tiny.yaml: CPU, 32 px, a small backbone, two batches, CSV logs) on
    `root` with its cache in `cache`; `extra` overrides come last and win."""
    return [f"data.root={root}", f"paths.cache_dir={cache}", "debug=tiny", *extra]


# The threshold rule the package ships (conf/threshold/default.yaml, its one home), for the pure functions'
# tests: they take every setting explicitly.
SHIPPED_RULE = dict(OmegaConf.load(CONF_DIR / "threshold" / "default.yaml"))


def rule(**changes: Any) -> dict[str, Any]:
    """The shipped threshold rule with `changes`."""
    return {**SHIPPED_RULE, **changes}


def choose(sweep: list, criterion: str | None = None, min_fake_recall: float | None = None, **changes: Any):
    """select_threshold with the shipped rule, `criterion`, `min_fake_recall` and `changes` replacing its keys."""
    from deepfake_lightning.evaluation.thresholds import rule_kwargs, select_threshold

    r = rule(**changes)
    if criterion is not None:
        r["criterion"] = criterion
    if min_fake_recall is not None:
        r["min_fake_recall"] = min_fake_recall
    return select_threshold(sweep, **rule_kwargs(r))


def evaluate(val, test, threshold: dict, bootstrap=None, paper_protocol: bool = False, prevalences=()):
    """evaluate_scores at the mean video aggregate, for tests."""
    from deepfake_lightning.evaluation.protocol import evaluate_scores

    return evaluate_scores(val, test, threshold, "mean", paper_protocol, bootstrap, prevalences)


# The configs a researcher edits (experiments, sweeps, profiles): the checkout's conf/, ahead of the package's.
RESEARCH_CONF = Path(__file__).resolve().parents[1] / "conf"


def build_resnet50(**kw):
    """The paper's ResNet-50 with its head, for tests (model/resnet50_baseline.yaml's dropout 0.5, two classes)."""
    from deepfake_lightning.models.backbones import build_backbone

    return build_backbone("resnet50", **{"head": "enhanced", "dropout": 0.5, "num_classes": 2, **kw})
