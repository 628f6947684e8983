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
from deepfake_lightning.apps.common import app_start, hydra_app, run_app
from deepfake_lightning.data.datamodule import FrameCacheDataModule
from deepfake_lightning.evaluation.protocol import Scores, bootstrap_settings, evaluate_scores, video_thresholds
from deepfake_lightning.evaluation.statistics import (
    CLAIM_METRICS,
    calibrated_logits,
    comparison_verdict,
    expected_calibration_error,
    fit_calibration,
    paired_claim,
    paired_differences,
    rechosen_thresholds,
    reliability_bins,
)
from deepfake_lightning.models.ensemble import EnsembleModule, fit_weight, fuse_logits, p_fake_from_logits
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


def calibrate(
    evaluated: dict, val_labels: np.ndarray, test_labels: np.ndarray, how: str, val_groups: np.ndarray | None = None
) -> dict[str, Any]:
    """A calibration per model fitted on val logits (bounded; see statistics.fit_calibration), and ECE on val
    and test before and after it.

    `how=none` fits Platt scaling for the report only; `temperature` or `platt` applies each model's fit
    downstream, except where the fit reached a bound or did not lower the NLL on held-out folds of val's groups
    (then that model keeps its raw scores, and `applied` is False for it with the reason).
    """
    method = "platt" if how == "none" else how
    out: dict[str, Any] = {
        "requested": how,
        "method": f"{method} scaling of the logit difference, NLL on val, bounded",
        "applied": False,
        "models": {},
    }
    for name, (lv, lt) in evaluated.items():
        fit = fit_calibration(lv, val_labels, method, val_groups)
        row: dict[str, Any] = {**fit, "applied": how != "none" and fit["apply"]}
        del row["apply"]
        if how != "none" and not fit["apply"]:
            log.warning("calibration of %s not applied: %s", name, fit["reason"])
        t, b = (fit["temperature"], fit["bias"]) if fit["apply"] else (1.0, 0.0)
        for split, logits, labels in (("val", lv, val_labels), ("test", lt, test_labels)):
            before, after = p_fake_from_logits(logits), p_fake_from_logits(calibrated_logits(logits, t, b))
            row[f"ece_{split}_before"] = expected_calibration_error(labels, before)
            row[f"ece_{split}_after"] = expected_calibration_error(labels, after)
            row[f"reliability_{split}_before"] = reliability_bins(labels, before)
            row[f"reliability_{split}_after"] = reliability_bins(labels, after)
        out["models"][name] = row
    out["applied"] = any(r["applied"] for r in out["models"].values())
    return out


def deployment(models: dict[str, Any]) -> dict[str, Any]:
    """Each model at its val-chosen threshold (and the baseline at 0.5) at each deployment prevalence of fakes,
    with the intervals evaluate_scores computed from the same resamples as the recalls'."""
    out: dict[str, Any] = {}
    for name, block in models.items():
        for label, dep in (block.get("deployment") or {}).items():
            if label == "val-chosen" or name == "baseline":
                out[f"{name}@{label}"] = dep
    return out


def claim(
    val: dict, test: dict, evaluated: dict, rule: dict[str, Any], boot: dict[str, Any], models: dict[str, Any]
) -> dict[str, Any]:
    """The paper's claim as a paired bootstrap on test: ensemble at its val-chosen threshold minus baseline at 0.5.

    The estimate is the difference of the two reported blocks; the interval re-chooses the ensemble's
    threshold on val resamples (as its own interval does). It speaks for these trained models on this
    test split; `make paper SEEDS=...` gives the verdict over model seeds (evaluation/seeds.py).
    """
    p_ens = p_fake_from_logits(evaluated["ensemble"][1])
    p_base = p_fake_from_logits(evaluated["baseline"][1])
    n = max(int(boot["n"]), 1)
    t_point = float(models["ensemble"]["threshold"])
    t_res = None
    if boot["rechoose_threshold"] and boot["n"] > 0:
        p_val = p_fake_from_logits(evaluated["ensemble"][0])
        r = rechosen_thresholds(val["labels"], p_val, val["groups"], rule, n, boot["seed"] + 1)
        t_res = r.thresholds
    out = paired_claim(
        test["labels"], test["groups"], p_ens, t_point, p_base, 0.5, n, boot["seed"], boot["level"],
        boot["min_defined_share"], t_res, (models["ensemble"]["test"], models["baseline"]["test_at_0.5"]),
    )  # fmt: skip
    out["compared"] = "ensemble at its val-chosen threshold minus baseline at 0.5, test split, paired group resamples"
    out["threshold_fallbacks"] = r.fell_back if t_res is not None else None
    out["scope"] = "these trained models, on this test split (model seed fixed; make paper SEEDS=... for the recipe)"
    out["threshold_rechosen_on_val_resamples"] = t_res is not None
    out["groups"]["unit"] = str(test["group_unit"])
    out["estimate_threshold"] = t_point
    if boot["n"] <= 0:
        for k in CLAIM_METRICS:
            out[k]["ci"] = None
        out["verdict"] = "not shown"
        out["note"] = "report.bootstrap=0: no intervals, so no verdict from a point estimate"
    return out


PLAIN = "general_without_pseudo_fakes"
COMPARED = ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall")


def compare_pseudo_fakes(
    val: dict, test: dict, evaluated: dict, rule: dict[str, Any], boot: dict[str, Any], models: dict[str, Any]
) -> dict[str, Any]:
    """General with pseudo-fakes minus general without, each at its val-chosen threshold, paired video resamples
    of the test split (thresholds re-chosen on val resamples); verdict `helped` / `hurt` / `not shown` from the
    ROC AUC and balanced-accuracy intervals."""
    n = max(int(boot["n"]), 1)
    ps = {m: [p_fake_from_logits(evaluated[m][i]) for i in (0, 1)] for m in ("general", PLAIN)}
    t = {m: float(models[m]["threshold"]) for m in ps}
    fell_back = None
    if boot["rechoose_threshold"] and boot["n"] > 0:
        r = {m: rechosen_thresholds(val["labels"], ps[m][0], val["groups"], rule, n, boot["seed"] + 1) for m in ps}
        t = {m: x.thresholds for m, x in r.items()}
        fell_back = sum(x.fell_back for x in r.values())
    out = paired_differences(
        test["labels"], test["groups"], ps["general"][1], t["general"], ps[PLAIN][1], t[PLAIN], COMPARED, n,
        boot["seed"], boot["level"], boot["min_defined_share"], (models["general"]["test"], models[PLAIN]["test"]),
    )  # fmt: skip
    out["verdict"] = comparison_verdict(out) if boot["n"] > 0 else "not shown"
    out["compared"] = (
        "general trained with pseudo-fakes minus general trained without, each at its val-chosen threshold"
    )
    out["scope"] = "these two trained models, on this test split (one model seed)"
    out["threshold_fallbacks"] = fell_back
    out["groups"]["unit"] = str(test["group_unit"])
    return out


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
    metrics["deployment"] = deployment(models)
    if "baseline" in evaluated:
        metrics["claim"] = claim(val, test, evaluated, thr, bootstrap_settings(cfg.report), models)
        c = metrics["claim"]
        print(
            f"[claim] ensemble@val-threshold - baseline@0.5 on test: balanced acc "
            f"{c['balanced_accuracy']['estimate']:+.3f} {c['balanced_accuracy']['ci']}, real recall "
            f"{c['real_recall']['estimate']:+.3f} {c['real_recall']['ci']}: {c['verdict']}"
        )
    if PLAIN in evaluated:
        metrics["pseudo_fake_comparison"] = compare_pseudo_fakes(
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


@hydra_app("ensemble")
def main(cfg: DictConfig) -> float | None:
    return run_app(cfg, run, lambda m: m["models"]["ensemble"]["val"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
