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

from deepfake_lightning.apps.common import CONFIG_DIR, offline_defaults, run_job
from deepfake_lightning.config import validate
from deepfake_lightning.data.datamodule import FrameCacheDataModule
from deepfake_lightning.evaluation.protocol import Scores, evaluate_scores
from deepfake_lightning.evaluation.schema import validate_metrics
from deepfake_lightning.models.classifier import DeepfakeClassifier
from deepfake_lightning.models.ensemble import EnsembleModule, fit_weight, fuse_logits, p_fake_from_logits
from deepfake_lightning.models.loading import load_classifier

log = logging.getLogger(__name__)


def datamodule_from_run(run_cfg: DictConfig, batch_size: int) -> FrameCacheDataModule:
    """The DataModule a member was trained on (same cache, same split), with an eval batch size."""
    data = OmegaConf.to_container(run_cfg.data, resolve=True)
    data["eval_batch_size"] = batch_size
    data["balanced_sampler"] = False
    return hydra.utils.instantiate(data)


def collect(
    trainer: L.Trainer, module: L.LightningModule, dm: FrameCacheDataModule, stage: str
) -> dict[str, np.ndarray]:
    """Run `module.predict_step` over one split and concatenate the outputs."""
    loader = dm.val_dataloader() if stage == "val" else dm.test_dataloader()
    outs = trainer.predict(module, dataloaders=loader)
    merged = {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}
    idx = dm.cache.index
    merged["videos"] = idx["video"][idx["split"] == stage]
    merged["labels_index"] = idx["label"][idx["split"] == stage]
    assert (merged.get("labels", merged["labels_index"]) == merged["labels_index"]).all()
    return merged


class _Single(L.LightningModule):
    """predict_step that returns one classifier's logits (for members evaluated on their own)."""

    def __init__(self, model: DeepfakeClassifier):
        super().__init__()
        self.model = model

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        return self.model.preprocess(images, train=False), labels

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"main": self.model(x).float().cpu(), "labels": y.cpu()}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fuse, calibrate on val, evaluate on test; write metrics.json, predictions and ensemble.ckpt."""
    offline_defaults()
    validate(cfg)
    L.seed_everything(int(cfg.seed), workers=True)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    general, gcfg = load_classifier(cfg.general)
    specialist, scfg = load_classifier(cfg.specialist)
    dm = datamodule_from_run(gcfg, int(cfg.batch_size))
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
        single = _Single(base)
        bv, bt = collect(trainer, single, dm, "val"), collect(trainer, single, dm, "test")
        evaluated = {"baseline": (bv["main"], bt["main"]), **evaluated}
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
    torch.save(
        {
            "state_dict": ens.state_dict(),
            "weight": weight,
            "threshold": models["ensemble"]["threshold"],
            "general_config": OmegaConf.to_container(gcfg.model, resolve=True),
            "specialist_config": OmegaConf.to_container(scfg.model, resolve=True),
            "data_config": OmegaConf.to_container(gcfg.data, resolve=True),
        },
        out / "ensemble.ckpt",
    )
    np.savez(
        out / "predictions.npz",
        **{f"{s}_{k}": v for s, d in (("val", val), ("test", test)) for k, v in d.items() if k != "labels_index"},
    )
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    metrics.update(
        {
            "dataset": dm.class_counts_all(),
            "skipped": dm.cache.manifest.get("skipped", []),
            "cache": str(dm.cache.path),
            "split": dm.split_cfg,
            "runs": {
                k: str(cfg[k])
                for k in ("baseline", "general", "specialist")
                if cfg.get(k) and Path(str(cfg[k])).is_dir()
            },
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
    return None if m is None else m["models"]["ensemble"]["val"]["balanced_accuracy"]


if __name__ == "__main__":
    main()
