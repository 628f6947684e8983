"""dfl-eval: test a finished run (one model or the ensemble) on any dataset with the thresholds it chose on val."""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning import results
from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.data.datamodule import FrameCacheDataModule, data_blocks, data_module
from deepfake_lightning.data.extract import run_extract_config
from deepfake_lightning.data.perturb import parameter
from deepfake_lightning.evaluation.eval_report import write_eval_report
from deepfake_lightning.evaluation.finished_run import (
    evaluate,
    models_of,
    robustness,
    score_models,
    stored_outputs,
)
from deepfake_lightning.evaluation.plots import plot_confusion, plot_robustness, plot_roc_pr
from deepfake_lightning.evaluation.protocol import (
    add_intervals,
    bootstrap_settings,
)
from deepfake_lightning.evaluation.statistics import ROBUST_METRICS
from deepfake_lightning.models.loading import FOR_SCORING, Predictor, load_predictor

log = logging.getLogger(__name__)


def eval_data_config(cfg: DictConfig, pred: Predictor) -> dict[str, Any]:
    """cfg.data with the run's extraction settings (what decides what the model sees: always the run's), for
    evaluation (no sampler, no pseudo-fakes, no split file)."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data["extract"] = asdict(run_extract_config(pred.data_config, cfg.frames_per_video))
    data.update(FOR_SCORING, eval_batch_size=int(cfg.batch_size), split_file=None)
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
    # The run's models with their stored thresholds and val scores (read once); with degradations every one is
    # scored (their clean figures), else the run's own model.
    models = models_of(pred, stored)
    scoring = models if cfg.get("perturb") else {pred.name: models[pred.name]}
    scored = score_models(pred, scoring, dm, device, str(cfg.subset))
    scores = scored[pred.name]
    if len(scores.labels) == 0:
        raise ValueError(f"subset={cfg.subset}: no frames to evaluate under data.root={cfg.data.root}")
    name = pred.name
    val, rule = models[name]["val"], models[name]["rule"]
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
        make_dm = functools.partial(data_module, **eval_data_config(cfg, pred))
        perturb = ([str(k) for k in cfg.perturb], [int(v) for v in cfg.perturb_levels], int(cfg.seed))
        metrics["robustness"] = robustness(
            pred, models, scored, make_dm, perturb, boot, str(cfg.video.aggregate), device
        )
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


main = hydra_app("eval", run, lambda m: next(iter(m["models"].values()))["test"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
