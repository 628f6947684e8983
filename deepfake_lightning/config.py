"""OmegaConf resolvers used by the configs, the typed config blocks, and the checks run at start-up."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

# The package's configs on disk (Hydra finds the same folder as pkg://deepfake_lightning.conf).
CONF_DIR = Path(__file__).resolve().parent / "conf"


def config_folders() -> list[Path]:
    """Where config groups are, first match wins: the research conf/ (experiments, sweeps, profiles; see
    hydra_plugins/) and the package's defaults."""
    from hydra_plugins.deepfake_lightning_searchpath import research_conf

    return [f for f in (research_conf(), CONF_DIR) if f is not None]


def compose_app(config_name: str, overrides: Any = ()) -> DictConfig:
    """An app's composed config through Hydra's compose API (no run folder, no torch), with the research
    conf/ ahead of the package's as for the apps; works inside a running Hydra app too (its state is restored)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    gh = GlobalHydra.instance()
    saved = gh.hydra if gh.is_initialized() else None
    gh.clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    finally:
        gh.clear()
        if saved is not None:
            gh.initialize(saved)


def shipped(path: str) -> DictConfig:
    """One of the package's config files as written (e.g. "data/celebdf.yaml"): the home of its defaults."""
    return OmegaConf.load(CONF_DIR / path)


def amp_precision() -> str:
    """bf16-mixed on a GPU that has bf16, else 16-mixed (Lightning precision strings)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "16-mixed"


def channels_last_for(accelerator: str) -> bool:
    """channels_last on CUDA (tensor cores like NHWC), not on the CPU."""
    if accelerator in ("gpu", "cuda"):
        return True
    if accelerator == "auto":
        import torch

        return torch.cuda.is_available()
    return False


def wandb_offline() -> bool:
    """W&B writes locally unless WANDB_MODE=online."""
    return os.environ.get("WANDB_MODE", "offline") != "online"


def register_resolvers() -> None:
    """Register the project's resolvers once (idempotent)."""
    for name, fn in (
        ("dfl_amp_precision", amp_precision),
        ("dfl_wandb_offline", wandb_offline),
        ("dfl_channels_last", channels_last_for),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


# --- typed config blocks ------------------------------------------------------------------------
# The plain blocks that no `_target_` instantiates (a misspelt key there would otherwise be ignored)
# have a dataclass each: its keys, types, ranges and choices. Their values live in the YAML groups
# (conf/threshold/default.yaml, ...), the one home of each default: the dataclasses have none, and the
# functions below the apps take the values without defaults of their own and without checking them again.
# `validate` merges every block an app has into its dataclass with OmegaConf (unknown key, missing key
# or wrong type: an error naming the key), then checks the ranges and choices written in the fields'
# metadata. Blocks with a `_target_` (data, model, trainer, callbacks) are checked by their constructors
# when instantiated (data.extract by ExtractConfig); the few cross-key checks follow below.
UNIT = {"range": (0.0, 1.0)}
# The choices, each named once here; the modules that act on them import these.
CRITERIA = ("max_real_recall", "target_fpr", "youden", "balanced_accuracy", "f1_fake")
STRATEGIES = ("stratified", "grouped", "official")
GROUP_BY = ("identity", "video")
FIT_OBJECTIVES = ("balanced_accuracy", "roc_auc")
AGGREGATE_NAMES = ("mean", "max", "median")
CALIBRATION_METHODS = ("none", "temperature", "platt")
# Plain top-level keys of the apps that take one of a few values (dfl-predict's aggregate and format,
# dfl-eval's subset, dfl-ensemble's calibration, the device of predict, eval and export).
APP_CHOICES = {
    "aggregate": AGGREGATE_NAMES,
    "format": ("jsonl", "csv"),
    "subset": ("all", "train", "val", "test"),
    "calibration": CALIBRATION_METHODS,
    "device": ("auto", "cpu", "cuda"),
}


@dataclass
class ThresholdConfig:
    """`threshold`: the rule that chooses the decision threshold on val (train callback, ensemble, YOLO)."""

    criterion: str = field(metadata={"choices": CRITERIA})
    min_fake_recall: float = field(metadata=UNIT)
    target_fpr: float = field(metadata=UNIT)
    fallback: str = field(metadata={"choices": CRITERIA[2:]})
    step: float = field(metadata={"range": (1e-4, 0.5)})


@dataclass
class SplitConfig:
    """`split`: how videos are assigned to train/val/test (split.json records the result)."""

    strategy: str = field(metadata={"choices": STRATEGIES})
    fractions: list[float]
    group_by: Optional[str] = field(metadata={"choices": GROUP_BY})  # noqa: UP045 - null for stratified
    seed: int
    # Keep a fake only in a split where both its identities are (target and swapped-in face); drops the rest.
    strict_identities: bool


@dataclass
class EnsembleConfig:
    """`ensemble`: the logit fusion of dfl-ensemble."""

    weight: float = field(metadata=UNIT)
    fit_weight: bool
    objective: str = field(metadata={"choices": FIT_OBJECTIVES})
    grid_step: float = field(metadata={"range": (1e-3, 0.5)})


@dataclass
class StatsConfig:
    """`report` (the report group of dfl-ensemble, dfl-yolo and dfl-eval): intervals, the paper's protocol,
    deployment prevalences."""

    paper_protocol: bool
    bootstrap: int = field(metadata={"range": (0, 10**7)})
    bootstrap_seed: int
    ci_level: float = field(metadata={"range": (0.5, 0.999)})
    rechoose_threshold: bool
    min_defined_share: float = field(metadata={"range": (0.5, 1.0)})
    prevalence: list[float]


@dataclass
class VideoConfig:
    """`video`: how frame scores make a video score."""

    aggregate: str = field(metadata={"choices": AGGREGATE_NAMES})


@dataclass
class RuntimeConfig:
    """`runtime`: this process's threads (deepfake_lightning/runtime.py): "auto" or a whole number each."""

    threads: str
    interop_threads: str


SCHEMAS: dict[str, type] = {
    "runtime": RuntimeConfig,
    "threshold": ThresholdConfig,
    "split": SplitConfig,
    "ensemble": EnsembleConfig,
    "report": StatsConfig,
    "video": VideoConfig,
}


def check_block(key: str, node: Any, schema: type) -> Any:
    """`node` merged into `schema`'s dataclass: unknown keys, wrong types, ranges and choices name `key.field`."""
    if not OmegaConf.is_dict(node):
        raise ValueError(f"{key} must be a mapping of {sorted(f.name for f in fields(schema))}, got {node!r}")
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), node)
    except ConfigKeyError as exc:
        known = ", ".join(f.name for f in fields(schema))
        raise ValueError(f"{key}.{exc.key}: no such key (the keys of {key} are: {known})") from None
    except ValidationError as exc:
        raise ValueError(f"{key}.{exc.key}: {exc.msg.splitlines()[0]}") from None
    for f in fields(schema):
        v = typed[f.name]
        if v is None:
            continue
        lo_hi, choices = f.metadata.get("range"), f.metadata.get("choices")
        if lo_hi and not lo_hi[0] <= v <= lo_hi[1]:
            raise ValueError(f"{key}.{f.name} must be in [{lo_hi[0]}, {lo_hi[1]}], got {v}")
        if choices and v not in choices:
            raise ValueError(f"{key}.{f.name} must be one of {choices}, got {v!r}")
    return typed


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate split.fractions: three non-negative numbers that sum to 1."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split.fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def validate(cfg: DictConfig) -> None:
    """Fail at start-up, naming the key, on values that would only break later (or be silently ignored)."""
    for key, schema in SCHEMAS.items():
        if key in cfg and OmegaConf.is_dict(cfg[key]):
            check_block(key, cfg[key], schema)
    for key, choices in APP_CHOICES.items():
        value = cfg.get(key) if not OmegaConf.is_dict(cfg.get(key)) else None
        if value is not None and value not in choices:
            raise ValueError(f"{key} must be one of {choices}, got {value!r}")
    fr = OmegaConf.select(cfg, "split.fractions", default=None)
    if fr is not None:
        check_fractions(list(fr))
    for p in OmegaConf.select(cfg, "report.prevalence", default=None) or []:
        if not 0.0 < float(p) < 1.0:
            raise ValueError(f"report.prevalence entries must be in (0, 1) (the share of fakes), got {p}")
    for k in ("threads", "interop_threads"):
        v = OmegaConf.select(cfg, f"runtime.{k}", default=None)
        if v is not None and str(v) != "auto" and not (str(v).isdigit() and int(v) >= 1):
            raise ValueError(f"runtime.{k} must be auto or a whole number >= 1, got {v!r}")
    mult = OmegaConf.select(cfg, "model.real_weight_multiplier", default=None)
    if mult is not None and float(mult) < 0:
        raise ValueError(f"model.real_weight_multiplier must be >= 0, got {mult}")
    size = OmegaConf.select(cfg, "model.input_size", default=None)
    if size is not None and int(size) < 32:
        raise ValueError(f"model.input_size={size}: the backbones downsample 32x, they need at least 32 px")
    img = OmegaConf.select(cfg, "data.extract.image_size", default=None)
    if size is not None and img is not None and int(img) < int(size):
        raise ValueError(
            f"data.extract.image_size={img} is smaller than model.input_size={size}; frames are cropped, not grown. "
            "An experiment sets both to match: experiment=demo_general (the CPU demo) or experiment=paper_general "
            "(the paper's settings); dfl-train --help lists the experiments"
        )


register_resolvers()
