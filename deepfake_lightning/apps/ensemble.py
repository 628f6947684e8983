"""dfl-ensemble: fuse general + specialist, calibrate the threshold on val, evaluate every model on test."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.apps.common import CONFIG_DIR, offline_defaults, run_job, sweep_value
from deepfake_lightning.config import validate
from deepfake_lightning.data.datamodule import FrameCacheDataModule
from deepfake_lightning.data.splits import SPLIT_FILE, check_same_split, read_split, write_split
from deepfake_lightning.evaluation.protocol import Scores, evaluate_scores, video_thresholds
from deepfake_lightning.evaluation.schema import validate_metrics
from deepfake_lightning.models.ensemble import EnsembleModule, fit_weight, fuse_logits, p_fake_from_logits
from deepfake_lightning.models.loading import load_classifier, run_folder

log = logging.getLogger(__name__)


def datamodule_from_run(
    run_cfg: DictConfig, batch_size: int, split_file: str | Path | None = None
) -> FrameCacheDataModule:
    """The DataModule a member was trained on (same cache), with an eval batch size and, given
    `split_file`, the split recorded there rather than one computed again."""
    data = OmegaConf.to_container(run_cfg.data, resolve=True)
    data["eval_batch_size"] = batch_size
    data["balanced_sampler"] = False
    if split_file is not None:
        data["split_file"] = str(split_file)
    return hydra.utils.instantiate(data)


def collect(
    trainer: L.Trainer, module: L.LightningModule, dm: FrameCacheDataModule, stage: str
) -> dict[str, np.ndarray]:
    """Run `module.predict_step` over one split (train, val, test or all) and concatenate the outputs."""
    outs = trainer.predict(module, dataloaders=dm.loader(stage))
    merged = {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}
    rows = dm.rows(stage)
    merged["videos"] = dm.cache.index["video"][rows]
    if (merged["labels"] != dm.cache.index["label"][rows]).any():
        raise RuntimeError(f"{stage}: predictions are not in the cache's row order")
    return merged


def check_members_split(runs: dict[str, str | Path]) -> tuple[str, Path]:
    """All member runs share one recorded split: (its fingerprint, the first run's split.json); else SplitMismatchError."""
    records = {}
    for role, run in runs.items():
        folder = run_folder(run)
        records[role] = (str(folder), read_split(folder))
    fingerprint = check_same_split(records)
    return fingerprint, run_folder(next(iter(runs.values()))) / SPLIT_FILE


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fuse, calibrate on val, evaluate on test; write metrics.json, predictions and ensemble.ckpt."""
    offline_defaults()
    validate(cfg)
    L.seed_everything(int(cfg.seed), workers=True)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    members = {k: str(cfg[k]) for k in ("general", "specialist", "baseline") if cfg.get(k)}
    # Fusing or comparing models trained on different splits would test a model on its own training frames.
    _, split_file = check_members_split(members)
    general, gcfg = load_classifier(cfg.general)
    specialist, scfg = load_classifier(cfg.specialist)
    dm = datamodule_from_run(gcfg, int(cfg.batch_size), split_file)
    dm.setup()
    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=1,
        precision=cfg.trainer.precision,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    ens = EnsembleModule(general, specialist, float(cfg.ensemble.weight))
    val, test = collect(trainer, ens, dm, "val"), collect(trainer, ens, dm, "test")
    thr = OmegaConf.to_container(cfg.threshold, resolve=True)

    weight = float(cfg.ensemble.weight)
    weight_table = None
    if cfg.ensemble.fit_weight:
        weight, weight_table = fit_weight(
            val["labels"], val["main"], val["specialist"], cfg.ensemble.objective, float(cfg.ensemble.grid_step), thr
        )
        log.info("ensemble weight fitted on val (%s): %.2f", cfg.ensemble.objective, weight)
    ens.weight.fill_(weight)

    def scores(split: dict, logits: np.ndarray) -> Scores:
        return Scores(split["labels"], p_fake_from_logits(logits), split["videos"])

    models: dict[str, Any] = {}
    evaluated = {
        "general": (val["main"], test["main"]),
        "specialist": (val["specialist"], test["specialist"]),
        "ensemble": (
            fuse_logits(val["main"], val["specialist"], weight),
            fuse_logits(test["main"], test["specialist"], weight),
        ),
    }
    if cfg.get("baseline"):
        base, _ = load_classifier(cfg.baseline)
        bv, bt = collect(trainer, base, dm, "val"), collect(trainer, base, dm, "test")
        evaluated = {"baseline": (bv["logits"], bt["logits"]), **evaluated}
    for name, (lv, lt) in evaluated.items():
        models[name] = evaluate_scores(
            scores(val, lv), scores(test, lt), thr, cfg.video.aggregate, bool(cfg.report.paper_protocol)
        )
        m = models[name]["test"]
        print(
            f"[{name}] test at val-chosen threshold {models[name]['threshold']:.2f}: real recall {m['real_recall']:.3f}, "
            f"fake recall {m['fake_recall']:.3f}, balanced acc {m['balanced_accuracy']:.3f}, ROC AUC {m['roc_auc']}"
        )
    ens.threshold.fill_(models["ensemble"]["threshold"])
    video_thr = video_thresholds(scores(val, evaluated["ensemble"][0]), thr)
    models["ensemble"]["video_thresholds"] = video_thr
    write_split(dm.split_record, out, overwrite=True)
    torch.save(
        {
            "state_dict": ens.state_dict(),
            "weight": weight,
            "threshold": models["ensemble"]["threshold"],
            "video_thresholds": video_thr,
            "split_fingerprint": dm.split_record["fingerprint"],
            "general_config": OmegaConf.to_container(gcfg.model, resolve=True),
            "specialist_config": OmegaConf.to_container(scfg.model, resolve=True),
            "data_config": OmegaConf.to_container(gcfg.data, resolve=True),
        },
        out / "ensemble.ckpt",
    )
    np.savez(
        out / "predictions.npz",
        **{f"{s}_{k}": v for s, d in (("val", val), ("test", test)) for k, v in d.items()},
    )
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    old_fp = metrics.get("dataset", {}).get("split_fingerprint") if isinstance(metrics.get("dataset"), dict) else None
    if metrics and old_fp != dm.split_record["fingerprint"]:
        # Results of another split (e.g. an earlier YOLO run) must not sit beside this one's.
        log.warning("%s held results of another split (%s); starting it afresh", metrics_path, old_fp)
        metrics = {}
    metrics.update(
        {
            "dataset": dm.dataset_summary(),
            "skipped": dm.cache.manifest.get("skipped", []),
            "cache": str(dm.cache.path),
            "runs": {k: str(run_folder(v)) for k, v in members.items()},
            "ensemble": {"weight": weight, "fit_weight": bool(cfg.ensemble.fit_weight), "weight_table": weight_table},
            "threshold_sweep": [
                {k: r[k] for k in ("threshold", "real_recall", "fake_recall")}
                for r in models["ensemble"]["threshold_sweep_val"]
            ],
        }
    )
    metrics.setdefault("models", {}).update(models)
    validate_metrics(metrics)
    metrics_path.write_text(json.dumps(metrics, indent=2))
    print(f"wrote {metrics_path}")
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="ensemble")
def main(cfg: DictConfig) -> float | None:
    m = run_job(lambda: run(cfg), cfg.out_dir)
    return sweep_value(None if m is None else m["models"]["ensemble"]["val"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
