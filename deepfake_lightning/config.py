"""OmegaConf resolvers used by the configs, and config checks run at start-up."""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf


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


def _in(cfg: DictConfig, key: str, lo: float, hi: float) -> None:
    v = OmegaConf.select(cfg, key, default=None)
    if v is not None and not lo <= float(v) <= hi:
        raise ValueError(f"{key} must be in [{lo}, {hi}], got {v}")


def validate(cfg: DictConfig) -> None:
    """Fail at start-up, naming the key, on values that would only break later."""
    fr = OmegaConf.select(cfg, "split.fractions", default=None)
    if fr is not None:
        fr = list(fr)
        if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
            raise ValueError(f"split.fractions must be three non-negative numbers summing to 1, got {fr}")
    _in(cfg, "callbacks.threshold.min_fake_recall", 0.0, 1.0)
    _in(cfg, "threshold.min_fake_recall", 0.0, 1.0)
    _in(cfg, "callbacks.threshold.target_fpr", 0.0, 1.0)
    _in(cfg, "threshold.target_fpr", 0.0, 1.0)
    for p in OmegaConf.select(cfg, "report.prevalence", default=None) or []:
        if not 0.0 < float(p) < 1.0:
            raise ValueError(f"report.prevalence entries must be in (0, 1) (the share of fakes), got {p}")
    _in(cfg, "ensemble.weight", 0.0, 1.0)
    mult = OmegaConf.select(cfg, "model.real_weight_multiplier", default=None)
    if mult is not None and float(mult) < 0:
        raise ValueError(f"model.real_weight_multiplier must be >= 0, got {mult}")
    size = OmegaConf.select(cfg, "model.input_size", default=None)
    if size is not None and int(size) < 32:
        raise ValueError(f"model.input_size={size}: the backbones downsample 32x, they need at least 32 px")
    img = OmegaConf.select(cfg, "data.image_size", default=None)
    if size is not None and img is not None and int(img) < int(size):
        raise ValueError(
            f"data.image_size={img} is smaller than model.input_size={size}; frames are cropped, not grown"
        )


register_resolvers()
