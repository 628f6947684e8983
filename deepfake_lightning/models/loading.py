"""Load trained classifiers back from a run folder or a checkpoint, safely (weights_only=True)."""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.models.classifier import DeepfakeClassifier

# Keys of a model config that are not arguments of the module: `balanced_sampler` belongs to the recipe
# (the general model samples balanced batches) and is read by the data config (data.balanced_sampler).
RECIPE_KEYS = ("balanced_sampler",)


def build_classifier(model_cfg: DictConfig | dict, for_checkpoint: bool = False, **overrides) -> DeepfakeClassifier:
    """The LightningModule of a `model` config (recipe-only keys left out), with `overrides` merged in;
    `for_checkpoint`: no initial weights and no compile, as the checkpoint's weights go in next."""
    cfg = dict(model_cfg) if isinstance(model_cfg, dict) else OmegaConf.to_container(model_cfg, resolve=True)
    cfg = {k: v for k, v in cfg.items() if k not in RECIPE_KEYS}
    if for_checkpoint:
        cfg["net"] = {**cfg["net"], "weights": None}
        cfg["compile"] = False
    cfg.update(overrides)
    return hydra.utils.instantiate(cfg)


def find_checkpoint(run: str | Path) -> Path:
    """The checkpoint of a run: the path itself, or the run's best checkpoint (metrics.json), else last.ckpt."""
    run = Path(run)
    if run.is_file():
        return run
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: neither a run folder nor a checkpoint file")
    metrics = run / "metrics.json"
    if metrics.is_file():
        import json

        best = json.loads(metrics.read_text()).get("checkpoint")
        if best:
            best_path = Path(best) if Path(best).is_absolute() else run / best
            if best_path.is_file():
                return best_path
            # The run's figures came from that checkpoint: another one would not match them.
            raise FileNotFoundError(
                f"{run}: metrics.json names the checkpoint its figures come from, {best_path}, and it is missing; "
                "restore it, or pass the path of another checkpoint explicitly"
            )
    for cand in (run / "checkpoints" / "last.ckpt", run / "ensemble.ckpt"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{run}: no checkpoint found (looked for metrics.json's best, checkpoints/last.ckpt)")


def run_folder(run: str | Path) -> Path:
    """The run folder (the one holding config.yaml) of a run folder or of a checkpoint inside it."""
    run = Path(run)
    for folder in (run, run.parent, run.parent.parent) if run.is_file() else (run,):
        if (folder / "config.yaml").is_file():
            return folder
    raise FileNotFoundError(f"{run}: no config.yaml in its run folder; pass the run folder written by dfl-train")


def run_config(ckpt: Path) -> DictConfig:
    """The resolved config.yaml written beside a run's checkpoints."""
    return OmegaConf.load(run_folder(ckpt) / "config.yaml")


def load_checkpoint_file(path: Path) -> dict:
    """torch.load with weights_only=True; a corrupted or foreign file fails with a message naming it."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable weights-only checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a checkpoint (expected a dict, got {type(obj).__name__})")
    return obj


def load_classifier(run: str | Path) -> tuple[DeepfakeClassifier, DictConfig]:
    """A trained DeepfakeClassifier (eval mode, threshold restored) and its run config."""
    ckpt = find_checkpoint(run)
    obj = load_checkpoint_file(ckpt)  # first: a bad file is named before anything else is tried
    cfg = run_config(ckpt)
    model = build_classifier(cfg.model, for_checkpoint=True)
    state = obj.get("state_dict", obj)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{ckpt}: does not match the model in its config.yaml: {exc}") from exc
    model.eval()
    return model, cfg
