"""dfl-eval: test a finished run (one model or the ensemble) on any dataset with the thresholds it chose on val."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning import results
from deepfake_lightning.apps.common import app_start, hydra_app, run_app
from deepfake_lightning.data.datamodule import FrameCacheDataModule, data_blocks
from deepfake_lightning.data.extract import run_extract_config
from deepfake_lightning.data.perturb import Perturbation, parameter
from deepfake_lightning.evaluation.calibration import calibrated_logits, p_fake_from_logits
from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.plots import plot_confusion, plot_robustness, plot_roc_pr
from deepfake_lightning.evaluation.protocol import (
    Scores,
    add_intervals,
    aggregate_videos,
    bootstrap_settings,
    fixed_threshold_table,
    resampled_threshold,
    video_thresholds,
)
from deepfake_lightning.evaluation.report import write_eval_report
from deepfake_lightning.evaluation.seeds import threshold_rule
from deepfake_lightning.evaluation.statistics import ROBUST_METRICS
from deepfake_lightning.models.loading import Predictor, load_predictor

log = logging.getLogger(__name__)


def eval_data_config(cfg: DictConfig, pred: Predictor) -> dict[str, Any]:
    """cfg.data with the run's extraction settings (what decides what the model sees: always the run's), for
    evaluation (no sampler, no pseudo-fakes, no split file)."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data["extract"] = asdict(run_extract_config(pred.data_config, cfg.frames_per_video))
    data["eval_batch_size"] = int(cfg.batch_size)
    data.update(
        balanced_sampler=False, split_file=None, pseudo_fakes="none", pseudo_fakes_only=False, pseudo_fake_val=False
    )
    return data


def refuse_extract_overrides() -> None:
    """dfl-eval scores with the run's own extraction settings: a data.extract.* override would be ignored, so
    it is refused (frames_per_video= is the one that may change)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    for o in HydraConfig.get().overrides.task:
        key = o.split("=", 1)[0].lstrip("+~")
        if key == "data.extract" or key.startswith("data.extract."):
            raise ValueError(
                f"{key}: dfl-eval scores with the run's own extraction settings (what its model saw); "
                "only the number of frames may change: frames_per_video=K"
            )


def eval_datamodule(cfg: DictConfig, pred: Predictor) -> tuple[FrameCacheDataModule, str]:
    """The DataModule over cfg.data with the run's extraction settings; (dm, how the frames were chosen)."""
    blocks = data_blocks(eval_data_config(cfg, pred))
    cache = blocks["source"].build()
    key = cache.manifest.get("key")
    own = None
    if (pred.run_dir / results.SPLIT_FILE).is_file():
        own = results.read_split(pred.run_dir)
    # The run's own data: the same cache, or (a cache rebuilt since, e.g. by a newer cache version) exactly the
    # videos its split.json records. Then its own split is used, never a new one that could put its training
    # videos in "test".
    cached = set(blocks["source"].layout.video_view(cache.index)["video"].astype(str))
    recorded = {v for names in (own or {}).get("videos", {}).values() for v in names}
    same_data = own is not None and (own.get("cache_key") == key or (bool(cached) and cached == recorded))
    if own is not None and not same_data and cached & set(own["videos"].get("train", [])):
        log.warning(
            "%d of these videos were in the run's training split (e.g. %s): figures on them are not held out",
            len(cached & set(own["videos"]["train"])),
            sorted(cached & set(own["videos"]["train"]))[:3],
        )
    if same_data and cfg.subset != "all":
        blocks["split_file"] = pred.run_dir / results.SPLIT_FILE  # the run's own test split, exactly
        how = f"the run's own {cfg.subset} split (split.json {own['fingerprint']})"
    elif same_data:
        log.warning("subset=all on the data the run was trained on: the figures include its training frames")
        how = "all frames of the run's own data, training frames included (optimistic)"
    elif cfg.subset != "all":
        how = f"the {cfg.subset} part of a {cfg.split.strategy} split of this data"
    else:
        how = "all frames of data the run never saw"
    dm = FrameCacheDataModule(**blocks)
    dm.setup()
    return dm, how


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
        vt = video_thresholds(val, rule)[aggregate]
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
    cfg: DictConfig, pred: Predictor, stored: tuple[dict[str, Any], Any] | None, clean: Scores, device: str
) -> dict[str, Any]:
    """Each model on the evaluated videos under each degradation and severity (applied before the face crop),
    at its stored threshold, with the bootstrap intervals: metrics.json `robustness`."""
    kinds, levels = [str(k) for k in cfg.perturb], [int(v) for v in cfg.perturb_levels]
    models = models_of(pred, stored)
    boot, aggregate = bootstrap_settings(cfg.report), str(cfg.video.aggregate)
    videos = set(np.unique(clean.videos.astype(str)).tolist())

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
    clean_dm = eval_data_config(cfg, pred)
    out: dict[str, Any] = {
        "seed": int(cfg.seed),
        "videos": len(videos),
        "applied": "to the decoded frames, before face detection and crop (as an upload pipeline would)",
        "thresholds": {n: m["threshold"] for n, m in models.items()},
        "parameters": {k: {str(v): parameter(k, v) for v in levels} for k in kinds},
        "clean": {},
        "kinds": {},
    }
    make_dm = hydra.utils.instantiate(clean_dm, _partial_=True)
    dm0 = make_dm(only_videos=videos)
    dm0.setup()
    for name, sc in score_models(pred, models, dm0, device, "all").items():
        out["clean"][name] = figures(sc, models[name])
    for kind in kinds:
        rows = []
        for level in levels:
            dm = make_dm(only_videos=videos, perturb=Perturbation(kind, level, int(cfg.seed)))
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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score cfg.data with the run, write OUT/metrics.json, OUT/REPORT.md and plots."""
    app_start(cfg)
    refuse_extract_overrides()
    for k in cfg.get("perturb") or []:  # every kind and level checked before anything runs
        for v in cfg.perturb_levels:
            parameter(str(k), int(v))
    pred = load_predictor(cfg.run)
    stored = stored_outputs(pred)  # an ensemble folder's val scores and rules, read once
    device = "cuda" if cfg.device != "cpu" and torch.cuda.is_available() else "cpu"
    dm, how = eval_datamodule(cfg, pred)
    scores = score_models(pred, {pred.name: {}}, dm, device, str(cfg.subset))[pred.name]
    if len(scores.labels) == 0:
        raise ValueError(f"subset={cfg.subset}: no frames to evaluate under data.root={cfg.data.root}")
    name = pred.name
    val, rule = stored_val(pred, stored)
    block = evaluate(pred, scores, str(cfg.video.aggregate), val, rule)
    boot = bootstrap_settings(cfg.report)
    if boot["n"] > 0:
        add_intervals(block, val, scores, rule, boot, str(cfg.video.aggregate))
        if val is None:
            block["bootstrap"]["conditional_on_reason"] = (
                "a single training run stores no val scores to re-choose them on"
                if pred.name != "ensemble"
                else "the ensemble folder has no stored val scores"
            )
        elif not boot["rechoose_threshold"]:
            block["bootstrap"]["conditional_on_reason"] = "report.rechoose_threshold=false"
    out = Path(cfg.out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    where = f"{cfg.subset} of {Path(str(cfg.data.root)).name}"
    plot_roc_pr({name: (scores.labels, scores.p_fake)}, out / "plots" / "roc_pr.png", split=where)
    title = f"{name}, counts on {where}\n@ {block['threshold']:.2f} (threshold chosen on the run's val split)"
    plot_confusion(block["test"]["confusion_matrix"], title, out / "plots" / "confusion.png")
    counts = {"real": int((scores.labels == 0).sum()), "fake": int((scores.labels == 1).sum())}
    metrics = {
        "eval": {
            "run": str(pred.run_dir),
            "data_root": str(cfg.data.root),
            "subset": str(cfg.subset),
            "frames": how,
            "counts": counts,
            "videos": int(len(np.unique(scores.videos.astype(str)))),
            "cache": str(dm.cache.path),
            "split_fingerprint": dm.split_record["fingerprint"] if cfg.subset != "all" else None,
        },
        "skipped": dm.cache.manifest.get("skipped", []),
        "models": {name: block},
    }
    if cfg.get("perturb"):
        metrics["robustness"] = robustness(cfg, pred, stored, scores, device)
        for m in ROBUST_METRICS:
            plot_robustness(metrics["robustness"], m, out / "plots" / f"robustness_{m}.png")
    results.write_metrics(out, metrics, "eval")
    results.write_predictions(out, {"labels": scores.labels, "p_fake": scores.p_fake, "videos": scores.videos})
    report = write_eval_report(out, metrics)
    t = block["test"]
    print(
        f"[{name}] on {cfg.data.root} ({cfg.subset}) at threshold {block['threshold']:.2f}: real recall "
        f"{t['real_recall']}, fake recall {t['fake_recall']}, balanced acc {t['balanced_accuracy']:.3f}, "
        f"ROC AUC {t['roc_auc']}; {report}"
    )
    return metrics


@hydra_app("eval")
def main(cfg: DictConfig) -> float | None:
    return run_app(cfg, run, lambda m: next(iter(m["models"].values()))["test"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
