"""A finished run on data it may never have seen: its models and stored val scores, scoring, the figures at
the thresholds it chose on val, and its robustness to degradations (what dfl-eval computes)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from deepfake_lightning import results
from deepfake_lightning.data.datamodule import FrameCacheDataModule
from deepfake_lightning.data.perturb import Perturbation, parameter
from deepfake_lightning.evaluation.calibration import calibrated_logits, p_fake_from_logits
from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.protocol import (
    Scores,
    add_intervals,
    aggregate_videos,
    fixed_threshold_table,
    resampled_threshold,
    video_threshold,
)
from deepfake_lightning.evaluation.seeds import threshold_rule
from deepfake_lightning.evaluation.statistics import ROBUST_METRICS
from deepfake_lightning.models.loading import Predictor

log = logging.getLogger(__name__)


def evaluate(
    pred: Predictor, scores: Scores, aggregate: str, val: Scores | None = None, rule: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Figures at the run's val-chosen thresholds (frame and video level) and at 0.5.

    The video threshold is the one the run stored; a run that stored none, but whose val scores are at hand, gets
    one chosen now on them with its own rule (the rule its intervals re-choose with, so point and interval follow
    one rule); with neither, the frame threshold, and the intervals hold it fixed."""
    block: dict[str, Any] = {
        "threshold": pred.threshold,
        "threshold_choice": {"chosen_on": "the run's own val split"},
        "test": detection_metrics(scores.labels, scores.p_fake, pred.threshold),
        "test_at_0.5": detection_metrics(scores.labels, scores.p_fake, 0.5),
        "fixed_thresholds": fixed_threshold_table(scores),
    }
    videos = aggregate_videos(scores, aggregate)
    vt = (pred.video_thresholds or {}).get(aggregate)
    source = "video level, chosen on val"
    if vt is None and val is not None and rule:
        vt = video_threshold(val, rule, aggregate)
        source = "video level, chosen now on the run's stored val scores with its rule (none stored)"
    block["video_level"] = {
        "aggregate": aggregate,
        "threshold": vt if vt is not None else pred.threshold,
        "threshold_source": source if vt is not None else "frame threshold (none stored, no val scores to choose one)",
        "threshold_rechosen_on_val_resamples": False,
        "test": detection_metrics(videos.labels, videos.p_fake, vt if vt is not None else pred.threshold),
        "test_at_0.5": detection_metrics(videos.labels, videos.p_fake, 0.5),
    }
    return block


def stored_outputs(pred: Predictor) -> tuple[dict[str, Any], Any] | None:
    """(metrics.json, predictions.npz) of a dfl-ensemble folder, read once; None for a training run."""
    folder = pred.run_dir
    if pred.name != "ensemble" or not all(
        (folder / f).is_file() for f in (results.PREDICTIONS_FILE, results.METRICS_FILE)
    ):
        return None
    return results.load_metrics(folder), results.load_predictions(folder)


def stored_val(pred: Predictor, stored: tuple[dict[str, Any], Any] | None) -> tuple[Scores | None, dict[str, Any]]:
    """The run's own val scores and threshold rule, where its folder stores them (`stored_outputs`), so
    intervals can re-choose the threshold; else (None, {})."""
    if stored is None:
        return None, {}
    metrics, pr = stored
    block = metrics.get("models", {}).get("ensemble")
    if "val_p_fake_ensemble" not in pr or not block or "threshold_choice" not in block:
        return None, {}
    try:
        videos = pr["val_videos"].astype(str)
    except ValueError:  # written before video names were stored as strings: loading them needs pickle
        log.warning("%s stores its video names as objects (an older dfl-ensemble); intervals stay conditional on "
                    "the stored thresholds: run dfl-ensemble again to re-choose them", pred.run_dir)  # fmt: skip
        return None, {}
    return Scores(
        pr["val_labels"], pr["val_p_fake_ensemble"], videos, *stored_groups(metrics, pr, "val")
    ), threshold_rule(block)


def stored_groups(metrics: dict[str, Any], pr: Any, split: str) -> tuple[np.ndarray | None, str]:
    """(groups, unit) a dfl-ensemble folder stored for a split's items; (None, "video") for a folder written before
    groups were stored (its intervals then resample videos, and say so)."""
    if f"{split}_groups" not in pr:
        log.warning("the run stores no %s groups (an older dfl-ensemble): its val resamples draw videos", split)
        return None, "video"
    unit = ((metrics.get("models", {}).get("ensemble") or {}).get("bootstrap") or {}).get("groups", {}).get("unit")
    return pr[f"{split}_groups"].astype(str), str(unit or "identity")


def models_of(pred: Predictor, stored: tuple[dict[str, Any], Any] | None) -> dict[str, dict[str, Any]]:
    """The models a run holds, each with its stored threshold and its val scores where stored: a training run
    is one model; an ensemble folder is the ensemble and its two members (with the calibration they were
    evaluated with)."""
    val, rule = stored_val(pred, stored)
    out: dict[str, dict[str, Any]] = {pred.name: {"threshold": pred.threshold, "val": val, "rule": rule}}
    if stored is None or val is None:  # members need the stored val scores and their thresholds
        return out
    metrics, pr = stored
    for name in ("general", "specialist"):
        block, cal = metrics["models"].get(name), (metrics.get("calibration") or {}).get("models", {}).get(name, {})
        if block is None or f"val_p_fake_{name}" not in pr:
            continue
        out[name] = {
            "threshold": float(block["threshold"]),
            "val": Scores(pr["val_labels"], pr[f"val_p_fake_{name}"], val.videos, val.groups, val.group_unit),
            "calibration": (cal["temperature"], cal["bias"]) if cal.get("applied") else None,
            "rule": rule,
        }
    return out


@torch.inference_mode()
def score_models(
    pred: Predictor, models: dict[str, dict[str, Any]], dm: FrameCacheDataModule, device: str, subset: str
) -> dict[str, Scores]:
    """p_fake of every frame of `subset` (in the cache's row order, with labels and videos) for each model of
    `models_of`: the run's own model, and an ensemble's members where it stores how they were evaluated."""
    module = pred.module.to(device).eval()
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in models}
    for images, *_ in dm.loader(subset):
        images = images.to(device)
        chunks[pred.name].append(module.p_fake(images).float().cpu().numpy())
        if len(models) > 1:
            general, specialist = module.member_logits(module.preprocess(images))
            for name, z in (("general", general), ("specialist", specialist)):
                if name in models:
                    z = z.float().cpu().numpy()
                    if models[name].get("calibration"):
                        z = calibrated_logits(z, *models[name]["calibration"])
                    chunks[name].append(p_fake_from_logits(z))
    idx, rows = dm.cache.index, dm.rows(subset)
    groups, unit, note = dm.groups(subset)
    if note:
        log.info("intervals: %s", note)
    return {
        n: Scores(idx["label"][rows], np.concatenate(c), idx["video"][rows], groups, unit) for n, c in chunks.items()
    }


def robustness(
    pred: Predictor,
    models: dict[str, dict[str, Any]],
    clean: dict[str, Scores],
    make_dm: Callable[..., FrameCacheDataModule],
    perturb: tuple[list[str], list[int], int],
    boot: dict[str, Any],
    aggregate: str,
    device: str,
) -> dict[str, Any]:
    """Each model of `models_of` on the evaluated videos, as they are (`clean`: score_models' scores of them) and
    under each degradation and severity (`perturb`: kinds, levels, seed; applied before the face crop by the
    DataModule `make_dm(only_videos=, perturb=)` makes), at its stored threshold, with the bootstrap intervals:
    metrics.json `robustness`."""
    kinds, levels, seed = perturb
    videos = set(np.unique(clean[pred.name].videos.astype(str)).tolist())

    def figures(scores: Scores, m: dict[str, Any]) -> dict[str, Any]:
        block: dict[str, Any] = {"threshold": m["threshold"], "test": detection_metrics(scores.labels, scores.p_fake, m["threshold"]),
                                 "test_at_0.5": detection_metrics(scores.labels, scores.p_fake, 0.5)}  # fmt: skip
        if boot["n"] > 0:
            add_intervals(block, m["val"], scores, m["rule"], boot, aggregate, frame_thresholds=m["rechosen"])
        row = {k: block["test"][k] for k in ROBUST_METRICS}
        row.update({f"{k}_ci": (block.get("test_ci") or {}).get(k) for k in ROBUST_METRICS})
        return row

    for m in models.values():
        # The val resamples are the same for every degradation: each model's thresholds are re-chosen once.
        rechoose = boot["n"] > 0 and m["val"] is not None and boot["rechoose_threshold"]
        m["rechosen"] = resampled_threshold(m["val"], m["threshold"], m["rule"], boot) if rechoose else None
    out: dict[str, Any] = {
        "seed": seed,
        "videos": len(videos),
        "applied": "to the decoded frames, before face detection and crop (as an upload pipeline would)",
        "thresholds": {n: m["threshold"] for n, m in models.items()},
        "parameters": {k: {str(v): parameter(k, v) for v in levels} for k in kinds},
        "clean": {},
        "kinds": {},
    }
    for name, sc in clean.items():
        out["clean"][name] = figures(sc, models[name])
    for kind in kinds:
        rows = []
        for level in levels:
            dm = make_dm(only_videos=videos, perturb=Perturbation(kind, level, seed))
            dm.setup()
            scores = score_models(pred, models, dm, device, "all")
            rows.append({"level": level, "parameter": parameter(kind, level),
                         "videos": int(len(np.unique(next(iter(scores.values())).videos.astype(str)))),
                         # a file the degradation could not be applied to is left out, and named here
                         "skipped": dm.cache.manifest.get("skipped", []),
                         "models": {n: figures(sc, models[n]) for n, sc in scores.items()}})  # fmt: skip
            log.info("robustness %s level %d: %s", kind, level,
                     {n: round(r["roc_auc"], 3) if r["roc_auc"] is not None else None for n, r in rows[-1]["models"].items()})  # fmt: skip
        out["kinds"][kind] = rows
    return out
