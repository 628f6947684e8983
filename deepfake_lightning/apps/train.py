"""dfl-train: train one classifier (baseline, general or specialist), test its best checkpoint, write split.json and metrics."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.protocol import Scores, video_thresholds
from deepfake_lightning.models.loading import build_classifier, load_checkpoint_file
from deepfake_lightning.results import write_metrics, write_split

log = logging.getLogger(__name__)


def instantiate_list(node: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a callbacks/logger group that has a `_target_`."""
    if not node:
        return []
    return [hydra.utils.instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


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


def checkpoint_epoch(path: str | Path) -> int | None:
    """The epoch a Lightning checkpoint was saved at (0-based)."""
    obj = load_checkpoint_file(Path(path))
    return int(obj["epoch"]) if "epoch" in obj else None


def val_video_thresholds(model: Any, dm: Any, threshold_cfg: dict[str, Any]) -> dict[str, float] | None:
    """Video-level thresholds per aggregate, chosen on the val scores of the last validation pass."""
    labels, p_fake = model.val_metrics.gathered()
    val_labels, videos = dm.val_scored()
    if len(val_labels) != len(labels):  # e.g. gathered across ranks in another order: say so, do not guess
        log.warning("video-level thresholds not chosen: %d val scores for %d val frames", len(labels), len(videos))
        return None
    if (val_labels != labels.numpy()).any():
        log.warning("video-level thresholds not chosen: val scores are not in the cache's row order")
        return None
    try:
        return video_thresholds(Scores(labels.numpy(), p_fake.numpy(), videos), threshold_cfg)
    except ValueError as exc:  # e.g. a val split with one class: nothing to choose on
        log.warning("video-level thresholds not chosen: %s", exc)
        return None


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, then validate and test one checkpoint (the best on val); returns what `metrics.json` holds.

    The val block, the returned objective, the threshold and the test block all come from the same
    checkpoint, whose epoch is recorded.
    """
    app_start(cfg)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_arg = resolve_ckpt(cfg.get("ckpt_path"), out_dir)
    if not cfg.train and ckpt_arg is None:
        raise ValueError(
            "train=false needs ckpt_path=<checkpoint> (or ckpt_path=last in its run folder): "
            "testing untrained weights would report a random model"
        )
    OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)

    # The model first: missing weights (e.g. ImageNet offline) stop the run before any extraction.
    model = build_classifier(cfg.model)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    model.set_class_counts(**dm.seen_class_counts())
    model.use_pseudo_fakes(dm.pseudo_fakes)
    pseudo = dm.pseudo_fake_summary()  # logs what is blended, before training
    callbacks = instantiate_list(cfg.get("callbacks"))
    loggers = instantiate_list(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if trainer.is_global_zero:
        # A resumed (or test-only) run must keep the split it was trained on: write_split refuses another.
        write_split(dm.split_record, out_dir, overwrite=ckpt_arg is None and bool(cfg.train))
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    results: dict[str, Any] = {"model": cfg.model.name, "run_dir": str(out_dir), "backbone": backbone_record(model)}
    ckpt = ckpt_arg
    if cfg.train:
        trainer.fit(model, datamodule=dm, ckpt_path=ckpt_arg)
        ckpt = None
        if trainer.checkpoint_callback is not None:
            ckpt = trainer.checkpoint_callback.best_model_path or None
            results["last_checkpoint"] = "checkpoints/last.ckpt"
    # Relative to the run folder when inside it, so a moved or copied run folder still finds its checkpoint.
    results["checkpoint"] = relative_to_run(ckpt, out_dir)
    results["epoch"] = checkpoint_epoch(ckpt) if ckpt else trainer.current_epoch - 1
    results["evaluated"] = (
        "best checkpoint on val"
        if ckpt and cfg.train
        else ("ckpt_path" if ckpt else "weights after the last epoch (no checkpoint callback)")
    )
    # Validate the checkpoint that is tested: its val metrics, its threshold, the sweep's objective.
    trainer.validate(model, datamodule=dm, ckpt_path=ckpt, weights_only=True, verbose=False)
    results["val"] = model.last_metrics["val"]
    results["video_thresholds"] = val_video_thresholds(model, dm, threshold_config(cfg))
    if cfg.test:
        trainer.test(model, datamodule=dm, ckpt_path=ckpt, weights_only=True)
        labels, p_fake = model.test_metrics.gathered()
        results["threshold"] = float(model.threshold)
        results["test"] = model.last_metrics["test"]
        results["test_at_0.5"] = detection_metrics(labels, p_fake, 0.5)
    results["dataset"] = dm.dataset_summary()
    if pseudo:
        results["pseudo_fakes"] = pseudo
    if trainer.is_global_zero:
        write_metrics(out_dir, results, "run")
    m = results.get("test")
    if m:
        print(
            f"[{cfg.model.name}] epoch {results['epoch']}, test at threshold {m['threshold']:.2f}: real recall "
            f"{m['real_recall']}, fake recall {m['fake_recall']}, ROC AUC {m['roc_auc']}"
        )
    results["optimized_metric"] = (results.get("val") or {}).get(str(cfg.optimized_metric).split("/")[-1])
    return results


def backbone_record(model: Any) -> dict[str, Any]:
    """metrics.json `backbone`: which network, what it started from, its input size and scaling (REPORT.md)."""
    net = model.net
    return {
        "arch": str(getattr(net, "arch", type(net).__name__)),
        "weights": str(getattr(net, "weights_source", "unknown")),
        "input_size": int(model.input_size),
        "input_scaling": model.input_scaling,
        "frozen": list(getattr(net, "_frozen_children", ())),
    }


def relative_to_run(path: str | None, run_dir: Path) -> str | None:
    """`path` relative to the run folder when it lies inside it, else as given."""
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path)


def threshold_config(cfg: DictConfig) -> dict[str, Any]:
    """The threshold rule of this run: the calibration callback's settings, else the `threshold` group's."""
    node = OmegaConf.select(cfg, "callbacks.threshold", default=None) or cfg.threshold
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "_target_"}


main = hydra_app("train", train, lambda r: r.get("optimized_metric"))


if __name__ == "__main__":
    main()
