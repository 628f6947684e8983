"""dfl-ensemble: fuse general + specialist, calibrate the threshold on val, evaluate every model on test."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning import results
from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.data.datamodule import FrameCacheDataModule
from deepfake_lightning.evaluation.calibration import (
    calibrate,
    calibrated_logits,
    p_fake_from_logits,
)
from deepfake_lightning.evaluation.claims import PLAIN, ensemble_claim, pseudo_fake_comparison
from deepfake_lightning.evaluation.deployment import deployment_summary
from deepfake_lightning.evaluation.protocol import Scores, bootstrap_settings, evaluate_scores, video_thresholds
from deepfake_lightning.models.ensemble import EnsembleModule, fit_weight, fuse_logits
from deepfake_lightning.models.loading import datamodule_from_run, load_classifier
from deepfake_lightning.results import run_folder

log = logging.getLogger(__name__)


# What predictions.npz keeps of each split's collected outputs (the fused logits are stored per model
# below, at the weight and temperature actually used).
RAW_OUTPUTS = ("main", "specialist", "labels", "videos", "groups", "positions")


def collect(
    trainer: L.Trainer, module: L.LightningModule, dm: FrameCacheDataModule, stage: str
) -> dict[str, np.ndarray]:
    """Run `module.predict_step` over one split (train, val, test or all); the outputs are put in cache-index
    order by the positions each batch carries, whatever order the loader used, and get their videos."""
    outs = trainer.predict(module, dataloaders=dm.loader(stage))
    merged = {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}
    order = np.argsort(merged["positions"], kind="stable")
    merged = {k: v[order] for k, v in merged.items()}
    rows = dm.rows(stage)
    if not np.array_equal(merged["positions"], rows):
        raise RuntimeError(f"{stage}: the predictions do not cover the split's frames exactly once")
    merged["videos"] = dm.cache.index["video"][rows]
    merged["groups"], unit, note = dm.groups(stage)
    merged["group_unit"] = np.array(unit)
    if note:
        log.info("%s intervals: %s", stage, note)
    if (merged["labels"] != dm.cache.index["label"][rows]).any():
        raise RuntimeError(f"{stage}: predicted labels differ from the cache index")
    return merged


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fuse, calibrate on val, evaluate on test; write metrics.json, predictions and ensemble.ckpt."""
    app_start(cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    members = {k: str(cfg[k]) for k in ("general", "specialist", "baseline", "compare_general") if cfg.get(k)}
    # Fusing or comparing models trained on different splits would test a model on its own training frames.
    _, split_file = results.check_runs_split(members)
    general, gcfg = load_classifier(cfg.general)
    specialist, scfg = load_classifier(cfg.specialist)
    dm = datamodule_from_run(gcfg.data, int(cfg.batch_size), split_file)
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
        return Scores(split["labels"], p_fake_from_logits(logits), split["videos"], split["groups"],
                      str(split["group_unit"]))  # fmt: skip

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
    if cfg.get("compare_general"):
        # The general model trained without pseudo-fakes, on the same split: the with/without comparison.
        plain, _ = load_classifier(cfg.compare_general)
        pv, pt = collect(trainer, plain, dm, "val"), collect(trainer, plain, dm, "test")
        evaluated[PLAIN] = (pv["logits"], pt["logits"])
    calibration = calibrate(evaluated, val["labels"], test["labels"], str(cfg.calibration), val["groups"])
    for n, row in calibration["models"].items():
        if row["applied"]:
            lv, lt = evaluated[n]
            evaluated[n] = tuple(calibrated_logits(z, row["temperature"], row["bias"]) for z in (lv, lt))
    for name, (lv, lt) in evaluated.items():
        models[name] = evaluate_scores(
            scores(val, lv),
            scores(test, lt),
            thr,
            cfg.video.aggregate,
            bool(cfg.report.paper_protocol),
            bootstrap_settings(cfg.report),
            list(cfg.report.prevalence or []),
        )
        m = models[name]["test"]
        print(
            f"[{name}] test at val-chosen threshold {models[name]['threshold']:.2f}: real recall {m['real_recall']:.3f}, "
            f"fake recall {m['fake_recall']:.3f}, balanced acc {m['balanced_accuracy']:.3f}, ROC AUC {m['roc_auc']}"
        )
    ens.threshold.fill_(models["ensemble"]["threshold"])
    ens_cal = calibration["models"]["ensemble"]
    if ens_cal["applied"]:
        ens.temperature.fill_(ens_cal["temperature"])
        ens.bias.fill_(ens_cal["bias"])
    video_thr = video_thresholds(scores(val, evaluated["ensemble"][0]), thr)
    models["ensemble"]["video_thresholds"] = video_thr
    results.write_split(dm.split_record, out, overwrite=True)
    torch.save(
        {
            "state_dict": ens.state_dict(),
            "weight": weight,
            "threshold": models["ensemble"]["threshold"],
            "video_thresholds": video_thr,
            "temperature": float(ens.temperature),
            "bias": float(ens.bias),
            "split_fingerprint": dm.split_record["fingerprint"],
            "general_config": OmegaConf.to_container(gcfg.model, resolve=True),
            "specialist_config": OmegaConf.to_container(scfg.model, resolve=True),
            "data_config": OmegaConf.to_container(gcfg.data, resolve=True),
        },
        out / "ensemble.ckpt",
    )
    # The raw outputs, and each model's p_fake exactly as evaluated (fused, calibrated): REPORT.md's curves
    # read these, never re-fuse.
    p_fake = {
        f"{s}_p_fake_{name}": p_fake_from_logits(pair[i])
        for name, pair in evaluated.items()
        for i, s in enumerate(("val", "test"))
    }
    raw = {f"{s}_{k}": d[k] for s, d in (("val", val), ("test", test)) for k in RAW_OUTPUTS}
    results.write_predictions(out, {**raw, **p_fake})
    metrics = results.results_for_split(out, dm.split_record["fingerprint"])
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
    metrics["calibration"] = calibration
    metrics["deployment"] = deployment_summary(models)
    if "baseline" in evaluated:
        metrics["claim"] = ensemble_claim(val, test, evaluated, thr, bootstrap_settings(cfg.report), models)
        c = metrics["claim"]
        print(
            f"[claim] ensemble@val-threshold - baseline@0.5 on test: balanced acc "
            f"{c['balanced_accuracy']['estimate']:+.3f} {c['balanced_accuracy']['ci']}, real recall "
            f"{c['real_recall']['estimate']:+.3f} {c['real_recall']['ci']}: {c['verdict']}"
        )
    if PLAIN in evaluated:
        metrics["pseudo_fake_comparison"] = pseudo_fake_comparison(
            val, test, evaluated, thr, bootstrap_settings(cfg.report), models
        )
        c = metrics["pseudo_fake_comparison"]
        print(
            f"[pseudo-fakes] general with - without on test: ROC AUC {c['roc_auc']['estimate']:+.3f} {c['roc_auc']['ci']}, "
            f"balanced acc {c['balanced_accuracy']['estimate']:+.3f} {c['balanced_accuracy']['ci']}: {c['verdict']}"
        )
    # Each member's network and starting weights (its run's metrics.json), so the results folder says it alone.
    metrics["backbones"] = {
        name: block
        for name, run in metrics.get("runs", {}).items()
        if (block := results.load_metrics(run, missing_ok=True).get("backbone")) is not None
    }
    general_run = results.load_metrics(run_folder(cfg.general), missing_ok=True)
    if general_run.get("pseudo_fakes"):
        metrics["pseudo_fakes"] = general_run["pseudo_fakes"]
    print(f"wrote {results.write_metrics(out, metrics, 'results')}")
    return metrics


main = hydra_app("ensemble", run, lambda m: m["models"]["ensemble"]["val"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
