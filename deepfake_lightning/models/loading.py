"""Load trained classifiers back from a run folder or a checkpoint, safely (weights_only=True)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning import results
from deepfake_lightning.models.classifier import DeepfakeClassifier
from deepfake_lightning.models.ensemble import EnsembleModule
from deepfake_lightning.results import find_checkpoint, run_config, run_folder

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


# What the extraction did before a setting existed, for runs whose config.yaml predates it (their data settings
# were flat keys of `data`, before the data.extract node): not defaults, the behaviour those runs had.
BEFORE_SETTING = {"face_detector": "haar", "face_min_score": 0.0, "landmarks": "box"}
OLD_DATAMODULES = {"CelebDFDataModule": "celebdf", "FFPPDataModule": "ffpp", "DFDCDataModule": "dfdc",
                   "FrameFolderDataModule": "frames"}  # fmt: skip


def run_data_config(data: dict[str, Any]) -> dict[str, Any]:
    """A run's stored `data` config in today's shape: a run made before the data.extract node has its
    extraction keys moved into it, and keys added since take the shipped values (what those runs did)."""
    # A split made before strict_identities existed kept every fake; a stratified split has no group_by.
    data = {**data, "split": {"group_by": None, "strict_identities": False, **(data.get("split") or {})}}
    from deepfake_lightning.config import shipped as shipped_config
    from deepfake_lightning.data.extract import ExtractConfig

    shipped = shipped_config("data/celebdf.yaml")
    old_class = str(data.get("_target_", "")).rsplit(".", 1)[-1]
    if old_class in OLD_DATAMODULES:  # one DataModule class per layout, before data.layout
        data = {**data, "_target_": shipped["_target_"], "layout": OLD_DATAMODULES[old_class]}
    flat = {f.name for f in fields(ExtractConfig)}
    old = {k: v for k, v in data.items() if k not in flat}
    missing = {
        k: shipped[k] for k in shipped if k not in old and k != "extract" and not OmegaConf.is_interpolation(shipped, k)
    }
    if "extract" in data:  # e.g. data.pseudo_fake_val, added since the run was made
        return {**missing, **data}
    extract = {k: data.get(k, BEFORE_SETTING.get(k)) for k in flat}
    return {**missing, **old, "extract": asdict(ExtractConfig.from_node(extract, "the run's data"))}


# What a DataModule that only scores frames leaves out: the training sampler and the pseudo-fakes.
FOR_SCORING = {"balanced_sampler": False, "pseudo_fakes": "none", "pseudo_fakes_only": False, "pseudo_fake_val": False}


def datamodule_from_run(data: Any, batch_size: int | None = None, split_file: str | Path | None = None) -> Any:
    """The DataModule of a run's stored `data` config for scoring (same cache, FOR_SCORING), with an eval batch size
    (None: the run's) and, given `split_file`, the split recorded there rather than one computed again."""
    data = run_data_config(data if isinstance(data, dict) else OmegaConf.to_container(data, resolve=True))
    data.update(FOR_SCORING)
    if batch_size is not None:
        data["eval_batch_size"] = batch_size
    if split_file is not None:
        data["split_file"] = str(split_file)
    return hydra.utils.instantiate(data)


@dataclass
class Predictor:
    """A trained model ready to score uint8 frames, with the thresholds chosen on its validation split."""

    module: torch.nn.Module  # has p_fake(uint8 [B, 3, S, S]) -> [B]
    threshold: float  # frame level
    video_thresholds: dict[str, float] | None  # per aggregate (mean, max, median); None for old runs
    data_config: dict
    run_dir: Path
    name: str  # "ensemble" or the trained model's name


def load_predictor(run: str | Path) -> Predictor:
    """An ensemble folder / ensemble.ckpt, or a train run folder / checkpoint, as a Predictor."""
    run = Path(run)
    ens_ckpt = run / "ensemble.ckpt" if run.is_dir() else run
    if ens_ckpt.is_file() and ens_ckpt.name == "ensemble.ckpt":
        obj = load_checkpoint_file(ens_ckpt)
        general = build_classifier(obj["general_config"], for_checkpoint=True)
        specialist = build_classifier(obj["specialist_config"], for_checkpoint=True)
        ens = EnsembleModule(general, specialist, float(obj["weight"]))
        ens.load_state_dict(obj["state_dict"])
        vt = obj.get("video_thresholds")
        data = run_data_config(obj["data_config"])
        return Predictor(ens.eval(), float(obj["threshold"]), vt, data, ens_ckpt.parent, "ensemble")
    model, cfg = load_classifier(find_checkpoint(run))
    folder = run_folder(find_checkpoint(run))
    vt = results.load_metrics(folder, missing_ok=True).get("video_thresholds")
    data = run_data_config(OmegaConf.to_container(cfg.data, resolve=True))
    return Predictor(model.eval(), float(model.threshold), vt, data, folder, str(model.hparams.name))
