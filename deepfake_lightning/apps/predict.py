"""dfl-predict: score a video, an image or a folder with a trained ensemble (or one model); JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.data.extract import extract_item, run_extract_config
from deepfake_lightning.data.items import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, VideoItem, unusable_entry
from deepfake_lightning.evaluation.protocol import AGGREGATES
from deepfake_lightning.models.loading import Predictor, load_predictor
from deepfake_lightning.results import model_block

log = logging.getLogger(__name__)


def threshold_for(predictor: Predictor, kind: str, aggregate: str, override: float | None) -> tuple[float, str]:
    """(threshold, where it comes from) for an image or a video: a video's aggregated score is compared
    with the video-level threshold chosen on val for that aggregate, an image with the frame threshold."""
    if override is not None:
        return float(override), "threshold= on the command line"
    if kind == "video" and predictor.video_thresholds and aggregate in predictor.video_thresholds:
        return float(predictor.video_thresholds[aggregate]), f"video level ({aggregate} of frames), chosen on val"
    if kind == "video":
        return predictor.threshold, "frame level, chosen on val (this run stores no video-level threshold)"
    return predictor.threshold, "frame level, chosen on val"


def list_inputs(path: Path) -> list[Path]:
    """The file itself, or every entry named like a video or image under a folder (sorted), usable or not: a
    dangling symlink or a folder named x.mp4 gets its own line saying why, never left out in silence."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in MEDIA_EXTENSIONS)
    raise FileNotFoundError(f"input={path}: no such file or folder")


def degenerate_note(predictor: Predictor) -> str | None:
    """Why the run's stored frame threshold cannot be trusted (it called every val frame fake, or none), with the
    fallback the run recorded; None for a usable threshold."""
    block = model_block(predictor.run_dir, predictor.name)
    deg = block.get("degenerate_threshold") if isinstance(block, dict) else None
    if deg:
        return (
            f"{deg['note']}: labels from it say little (the run recorded {deg['balanced_accuracy_threshold']:.2f} "
            "as the balanced-accuracy alternative; pass threshold=... to use another)"
        )
    if predictor.threshold <= 0.0 or predictor.threshold > 1.0:
        return (
            f"the run's threshold {predictor.threshold:.2f} calls every frame "
            f"{'fake' if predictor.threshold <= 0 else 'real'}: labels from it say nothing (pass threshold=...)"
        )
    return None


DIGITS = 4  # scores and thresholds as printed: a p_fake is not known to 16 digits
CSV_COLUMNS = ("path", "kind", "n_frames", "p_fake", "label", "threshold", "threshold_source", "face_found", "crop",
               "frame_scores", "threshold_warning", "error")  # fmt: skip


def face_words(kinds: list[str], ext: Any) -> dict[str, Any]:
    """Whether a face was found in the scored frames and how the crops were made (`face_found`, `crop`)."""
    if not ext.face_crop:
        return {"face_found": None, "crop": "centre crop of each frame (face_crop=false for this run)"}
    n = len(kinds)
    found = sum(k in ("detected", "tracked") for k in kinds)  # else `center`: no face in any frame
    if not found:
        return {"face_found": False, "crop": f"no face found in {n} frame(s): the centre of each frame was scored, "
                                             "not a face; the score says little"}  # fmt: skip
    tracked = sum(k == "tracked" for k in kinds)
    how = f"{ext.face_detector} face box with margin {ext.face_margin:g}"
    return {"face_found": True, "crop": f"{how} in {found} of {n} frame(s)"
                                        + (f" ({tracked} tracked from a neighbouring frame)" if tracked else "")}  # fmt: skip


def video_mismatch(predictor: Predictor, k: int, aggregate: str, override: float | None) -> str | None:
    """Why the video threshold does not fit how the videos are scored here, or None: it was chosen on val for the
    run's K frames per video and for each aggregate; another K, or a run with no video threshold for this
    aggregate, compares a differently distributed score with it."""
    if override is not None:
        return None
    run_k = int(run_extract_config(predictor.data_config, None).frames_per_video)
    if aggregate not in (predictor.video_thresholds or {}):
        return (f"this run stores no video-level threshold for aggregate={aggregate}: videos are compared with the "
                "frame threshold, a different rule from the one validated")  # fmt: skip
    if k != run_k:
        return (f"the video threshold was chosen on val with {run_k} frames per video; these videos are scored with "
                f"frames_per_video={k}, so their {aggregate} is distributed differently (pass frames_per_video={run_k}, "
                "or threshold=...)")  # fmt: skip
    return None


def predict(cfg: DictConfig) -> list[dict[str, Any]]:
    """Score every input; unreadable files get a line with an `error` field."""
    app_start(cfg)
    predictor = load_predictor(cfg.run)
    warning = None if cfg.get("fixed_threshold") is not None else degenerate_note(predictor)
    if warning:
        print(f"dfl-predict: warning: {warning}", file=sys.stderr)
    module, data_cfg = predictor.module, predictor.data_config
    override = cfg.get("fixed_threshold")
    device = "cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu"
    module = module.to(device)
    ext = run_extract_config(data_cfg, cfg.frames_per_video)
    agg = AGGREGATES[str(cfg.aggregate)]
    files = list_inputs(Path(str(cfg.input)))
    results: list[dict[str, Any]] = []
    pending: list[tuple[int, np.ndarray]] = []  # (result index, frame) batched across files

    def flush() -> None:
        if not pending:
            return
        batch = torch.from_numpy(np.stack([f for _, f in pending])).permute(0, 3, 1, 2).to(device)
        with torch.inference_mode():
            p = module.p_fake(batch).float().cpu().numpy()
        for (i, _), score in zip(pending, p):
            results[i]["frame_scores"].append(float(score))
        pending.clear()

    for f in files:
        kind = "image" if f.suffix.lower() in IMAGE_EXTENSIONS else "video"
        unusable = unusable_entry(f)
        kept, reason = ([], unusable) if unusable else extract_item(f.parent, VideoItem(f.name, -1, ""), ext)
        entry: dict[str, Any] = {"path": str(f), "kind": kind}
        results.append(entry)
        if not kept:
            entry["error"] = reason
            log.warning("cannot score %s: %s", f, reason)
            continue
        entry.update(n_frames=len(kept), frame_scores=[], **face_words([k[2] for k in kept], ext))
        for _, img, *_ in kept:
            pending.append((len(results) - 1, img))
            if len(pending) >= int(cfg.batch_size):
                flush()
    flush()
    used: set[str] = set()
    mismatch = video_mismatch(predictor, ext.frames_per_video, str(cfg.aggregate), override)
    if mismatch and any(e["kind"] == "video" and "error" not in e for e in results):
        print(f"dfl-predict: warning: {mismatch}", file=sys.stderr)
    for e in results:
        if "error" not in e:
            threshold, source = threshold_for(predictor, e["kind"], str(cfg.aggregate), override)
            e["p_fake"] = round(float(agg(e["frame_scores"])), DIGITS)
            e["frame_scores"] = [round(x, DIGITS) for x in e["frame_scores"]]
            e["label"] = "fake" if e["p_fake"] >= threshold else "real"
            e["threshold"] = round(float(threshold), DIGITS)
            e["threshold_source"] = source
            if mismatch and e["kind"] == "video":
                e["threshold_warning"] = mismatch
            if warning and source.startswith("frame"):
                e["threshold_warning"] = warning
            if source not in used:
                used.add(source)
                print(f"dfl-predict: {e['kind']}s use threshold {threshold:.2f} ({source})", file=sys.stderr)
    return results


def write(results: list[dict[str, Any]], fmt: str, output: str | None) -> None:
    """JSON lines (default) or CSV, to `output` or stdout."""
    buf = io.StringIO()
    if fmt == "csv":
        w = csv.writer(buf)
        w.writerow(CSV_COLUMNS)
        for r in results:
            row = {**r, "frame_scores": " ".join(f"{x:.4f}" for x in r.get("frame_scores", []))}
            w.writerow([row.get(c, 0 if c == "n_frames" else "") for c in CSV_COLUMNS])
    elif fmt == "jsonl":
        for r in results:
            buf.write(json.dumps(r) + "\n")
    else:
        raise ValueError(f"format must be jsonl or csv, got {fmt!r}")
    if output:
        Path(output).write_text(buf.getvalue())
    else:
        sys.stdout.write(buf.getvalue())


def run(cfg: DictConfig) -> list[dict[str, Any]]:
    """Score, write the lines; an input of which nothing could be scored is an error (after its lines)."""
    results = predict(cfg)
    write(results, str(cfg.format), cfg.get("output"))
    if not results:
        exts = " ".join(sorted(MEDIA_EXTENSIONS))
        raise ValueError(f"input={cfg.input}: no image or video file there (looked for {exts})")
    if not any("p_fake" in r for r in results):
        raise ValueError(f"nothing could be scored under {cfg.input} (each line above says why)")
    return results


main = hydra_app("predict", run)

if __name__ == "__main__":
    main()
