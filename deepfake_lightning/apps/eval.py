"""dfl-eval: test a finished run (one model or the ensemble) on any dataset with the thresholds it chose on val."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.apps.common import CONFIG_PATH, app_start, run_job, sweep_value
from deepfake_lightning.apps.predict import Predictor, load_predictor
from deepfake_lightning.config import validate
from deepfake_lightning.data.datamodule import FrameCacheDataModule
from deepfake_lightning.data.splits import SPLIT_FILE, read_split
from deepfake_lightning.evaluation.metrics import detection_metrics, format_report
from deepfake_lightning.evaluation.plots import plot_confusion, plot_roc_pr
from deepfake_lightning.evaluation.protocol import (
    Scores,
    add_intervals,
    aggregate_videos,
    bootstrap_settings,
    fixed_threshold_table,
)
from deepfake_lightning.evaluation.report import figure_cell
from deepfake_lightning.evaluation.seeds import threshold_rule

log = logging.getLogger(__name__)

# Extraction settings that decide what the model sees: always the run's, whatever the data config says.
EXTRACTION_KEYS = ("image_size", "face_crop", "face_margin", "no_face", "face_detector", "face_min_score")
SUBSETS = ("all", "train", "val", "test")


def eval_datamodule(cfg: DictConfig, pred: Predictor) -> tuple[FrameCacheDataModule, str]:
    """The DataModule over cfg.data with the run's extraction settings; (dm, how the frames were chosen)."""
    if cfg.subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {cfg.subset!r}")
    data = OmegaConf.to_container(cfg.data, resolve=True)
    for k in EXTRACTION_KEYS:
        if k in pred.data_config:
            data[k] = pred.data_config[k]
    data["frames_per_video"] = int(cfg.frames_per_video or pred.data_config.get("frames_per_video", 1))
    data["eval_batch_size"] = int(cfg.batch_size)
    data["balanced_sampler"] = False
    data["split_file"] = None
    dm: FrameCacheDataModule = hydra.utils.instantiate(data)
    key = dm.build().manifest.get("key")
    own = None
    if (pred.run_dir / SPLIT_FILE).is_file():
        own = read_split(pred.run_dir)
    same_data = own is not None and own.get("cache_key") == key
    if same_data and cfg.subset != "all":
        dm.split_file = pred.run_dir / SPLIT_FILE  # the run's own test split, exactly
        how = f"the run's own {cfg.subset} split (split.json {own['fingerprint']})"
    elif same_data:
        log.warning("subset=all on the data the run was trained on: the figures include its training frames")
        how = "all frames of the run's own data, training frames included (optimistic)"
    elif cfg.subset != "all":
        how = f"the {cfg.subset} part of a {cfg.split.strategy} split of this data"
    else:
        how = "all frames of data the run never saw"
    dm.setup()
    return dm, how


@torch.inference_mode()
def score(pred: Predictor, dm: FrameCacheDataModule, subset: str, device: str) -> Scores:
    """p_fake of every frame of `subset`, in the cache's row order, with labels and videos."""
    module = pred.module.to(device).eval()
    chunks = [module.p_fake(images.to(device)).float().cpu().numpy() for images, *_ in dm.loader(subset)]
    rows = dm.rows(subset)
    idx = dm.cache.index
    return Scores(idx["label"][rows], np.concatenate(chunks), idx["video"][rows])


def evaluate(pred: Predictor, scores: Scores, aggregate: str) -> dict[str, Any]:
    """Figures at the run's val-chosen thresholds (frame and video level) and at 0.5."""
    block: dict[str, Any] = {
        "threshold": pred.threshold,
        "threshold_choice": {"chosen_on": "the run's own val split"},
        "test": detection_metrics(scores.labels, scores.p_fake, pred.threshold),
        "test_at_0.5": detection_metrics(scores.labels, scores.p_fake, 0.5),
        "fixed_thresholds": fixed_threshold_table(scores),
    }
    videos = aggregate_videos(scores, aggregate)
    vt = (pred.video_thresholds or {}).get(aggregate)
    block["video_level"] = {
        "aggregate": aggregate,
        "threshold": vt if vt is not None else pred.threshold,
        "threshold_source": "video level, chosen on val" if vt is not None else "frame threshold (none stored)",
        "test": detection_metrics(videos.labels, videos.p_fake, vt if vt is not None else pred.threshold),
        "test_at_0.5": detection_metrics(videos.labels, videos.p_fake, 0.5),
    }
    return block


def stored_val(pred: Predictor) -> tuple[Scores | None, dict[str, Any]]:
    """The run's own val scores and threshold rule, where its folder stores them (a dfl-ensemble folder's
    predictions.npz and metrics.json), so intervals can re-choose the threshold; else (None, {})."""
    pr_path, m_path = pred.run_dir / "predictions.npz", pred.run_dir / "metrics.json"
    if pred.name != "ensemble" or not pr_path.is_file() or not m_path.is_file():
        return None, {}
    pr = np.load(pr_path, allow_pickle=False)
    block = json.loads(m_path.read_text()).get("models", {}).get("ensemble")
    if "val_p_fake_ensemble" not in pr or not block or "threshold_choice" not in block:
        return None, {}
    return Scores(pr["val_labels"], pr["val_p_fake_ensemble"], pr["val_videos"].astype(str)), threshold_rule(block)


def write_eval_report(out: Path, metrics: dict[str, Any]) -> Path:
    """A short REPORT.md: what was evaluated, on what, the figures and the plots."""
    name, block = next(iter(metrics["models"].items()))
    ev, t, v = metrics["eval"], block["test"], block["video_level"]

    lines = [
        "# dfl-eval report",
        "",
        f"Run `{ev['run']}` ({name}) evaluated on `{ev['data_root']}`: {ev['frames']}.",
        f"{ev['counts']['real']} real and {ev['counts']['fake']} fake frames from {ev['videos']} videos. "
        "Thresholds were chosen on the run's own validation split, never on these data.",
        "",
        "| Level | Threshold | accuracy | balanced acc | real recall | fake recall | ROC AUC | PR AUC | EER |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    vb = {**v, "bootstrap": block.get("bootstrap")}
    for label, thr, b, key in (
        ("frame", block["threshold"], block, "test"),
        ("frame", 0.5, block, "test_at_0.5"),
        (f"video ({v['aggregate']})", v["threshold"], vb, "test"),
    ):
        cells = [figure_cell(b, key, k, pct=False) for k in ("accuracy", "balanced_accuracy", "real_recall",
                                                        "fake_recall", "roc_auc", "pr_auc", "eer")]  # fmt: skip
        lines.append(f"| {label} | {thr:.2f} | " + " | ".join(cells) + " |")
    boot = block.get("bootstrap")
    if boot:
        lines += [
            "",
            f"Brackets: {100 * boot['level']:.0f}% intervals over {boot['n']} resamples of these videos, stratified "
            "by class; "
            + (
                "the thresholds chosen again on a resample of the run's own val scores each time, so their "
                "variability counts."
                if boot["threshold_rechosen_on_val_resamples"]
                else f"conditional on the run's stored thresholds ({boot['conditional_on_reason']})."
            ),
        ]
    lines += ["", "```", format_report(t, f"{name} (threshold = {block['threshold']:.2f}, chosen on val)"), "```", ""]
    lines += [f"![{p}](plots/{p})" for p in ("roc_pr.png", "confusion.png") if (out / "plots" / p).is_file()]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score cfg.data with the run, write OUT/metrics.json, OUT/REPORT.md and plots."""
    validate(cfg)
    app_start(cfg)
    pred = load_predictor(cfg.run)
    device = "cuda" if cfg.device != "cpu" and torch.cuda.is_available() else "cpu"
    dm, how = eval_datamodule(cfg, pred)
    scores = score(pred, dm, str(cfg.subset), device)
    if len(scores.labels) == 0:
        raise ValueError(f"subset={cfg.subset}: no frames to evaluate under data.root={cfg.data.root}")
    name = pred.name
    block = evaluate(pred, scores, str(cfg.video.aggregate))
    boot = bootstrap_settings(cfg.report)
    if boot["n"] > 0:
        val, rule = stored_val(pred)
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
    plot_roc_pr({name: (scores.labels, scores.p_fake)}, out / "plots" / "roc_pr.png")
    plot_confusion(
        block["test"]["confusion_matrix"], f"{name} @ {block['threshold']:.2f}", out / "plots" / "confusion.png"
    )
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
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    np.savez(out / "predictions.npz", labels=scores.labels, p_fake=scores.p_fake, videos=scores.videos.astype(str))
    report = write_eval_report(out, metrics)
    t = block["test"]
    print(
        f"[{name}] on {cfg.data.root} ({cfg.subset}) at threshold {block['threshold']:.2f}: real recall "
        f"{t['real_recall']}, fake recall {t['fake_recall']}, balanced acc {t['balanced_accuracy']:.3f}, "
        f"ROC AUC {t['roc_auc']}; {report}"
    )
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="eval")
def main(cfg: DictConfig) -> float | None:
    m = run_job(lambda: run(cfg), cfg.out_dir)
    return sweep_value(None if m is None else next(iter(m["models"].values()))["test"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
