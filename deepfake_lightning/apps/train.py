"""dfl-train: train one classifier (baseline, general or specialist), test it, write checkpoint and metrics."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.apps.common import CONFIG_DIR, close_wandb, offline_defaults, run_job
from deepfake_lightning.config import validate
from deepfake_lightning.evaluation.metrics import detection_metrics

log = logging.getLogger(__name__)


def instantiate_list(node: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a callbacks/logger group that has a `_target_`."""
    if not node:
        return []
    return [hydra.utils.instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


def close_loggers() -> None:
    """Finish a W&B run if one is open, so a failed run in a multirun does not leak it."""
    close_wandb()


def resolve_ckpt(ckpt_path: str | None, out_dir: Path) -> str | None:
    """`last` means the run folder's checkpoints/last.ckpt (when it exists)."""
    if ckpt_path in (None, "", "null"):
        return None
    if ckpt_path == "last":
        p = out_dir / "checkpoints" / "last.ckpt"
        return str(p) if p.is_file() else None
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint")
    return ckpt_path


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit and test one model as configured; returns the results written to `metrics.json`."""
    offline_defaults()
    validate(cfg)
    L.seed_everything(int(cfg.seed), workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)

    dm = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model)
    callbacks = instantiate_list(cfg.get("callbacks"))
    loggers = instantiate_list(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    results: dict[str, Any] = {"model": cfg.model.name, "run_dir": str(out_dir)}
    if cfg.get("train", True):
        trainer.fit(model, datamodule=dm, ckpt_path=resolve_ckpt(cfg.get("ckpt_path"), out_dir))
        results["val"] = getattr(model, "last_metrics", {}).get("val")
    ckpt = None
    if trainer.checkpoint_callback is not None:
        ckpt = trainer.checkpoint_callback.best_model_path or None
        results["checkpoint"] = ckpt
        results["last_checkpoint"] = str(out_dir / "checkpoints" / "last.ckpt")
    if cfg.get("test", True):
        trainer.test(model, datamodule=dm, ckpt_path=ckpt if ckpt else None, weights_only=True)
        labels, p_fake = model.test_metrics.gathered()
        results["threshold"] = float(model.threshold)
        results["test"] = model.last_metrics["test"]
        results["test_at_0.5"] = detection_metrics(labels, p_fake, 0.5)
        results["dataset"] = dm.class_counts_all()
    if trainer.is_global_zero:
        (out_dir / "metrics.json").write_text(json.dumps(results, indent=2))
    for stage in ("test",):
        m = results.get(stage)
        if m:
            print(
                f"[{cfg.model.name}] test at threshold {m['threshold']:.2f}: real recall {m['real_recall']}, "
                f"fake recall {m['fake_recall']}, ROC AUC {m['roc_auc']}"
            )
    results["optimized_metric"] = (results.get("val") or {}).get(str(cfg.optimized_metric).split("/")[-1])
    return results


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    result = run_job(lambda: train(cfg), cfg.paths.output_dir)
    return None if result is None else result.get("optimized_metric")


if __name__ == "__main__":
    main()
