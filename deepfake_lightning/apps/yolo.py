"""dfl-yolo: the YOLO11-cls baseline on the project's cached splits, evaluated like the ResNet models."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning.apps.common import CONFIG_DIR, offline_defaults
from deepfake_lightning.config import validate
from deepfake_lightning.evaluation.protocol import Scores, evaluate_scores

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Export the split frames, train YOLO, score val and test, merge `models.<name>` into metrics.json."""
    offline_defaults()
    validate(cfg)
    from deepfake_lightning.models import yolo as Y

    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    Y.set_environment(run_dir)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    idx, frames = dm.cache.index, dm.cache.frames
    export = Path(cfg.yolo.export_dir) if cfg.yolo.get("export_dir") else run_dir / "dataset"
    counts = Y.export_split_folders(frames, idx["label"], idx["split"], idx["row"], export)
    log.info("exported %s to %s", counts, export)
    y = cfg.yolo
    best = Y.train_yolo(export, run_dir, y.model, y.epochs, y.imgsz, y.batch, y.get("device"), y.workers, int(cfg.seed))
    splits = {}
    for s in ("val", "test"):
        mask = idx["split"] == s
        rows = idx["row"][mask]
        p = Y.predict_p_fake(best, [frames[r] for r in rows], run_dir, y.imgsz, y.batch)
        splits[s] = Scores(idx["label"][mask], p, idx["video"][mask])
    thr = OmegaConf.to_container(cfg.threshold, resolve=True)
    block = evaluate_scores(splits["val"], splits["test"], thr, cfg.video.aggregate, bool(cfg.report.paper_protocol))
    block["weights"] = str(best)
    block["settings"] = OmegaConf.to_container(y, resolve=True)
    np.savez(
        run_dir / "predictions.npz",
        **{f"{s}_{k}": getattr(v, k) for s, v in splits.items() for k in ("labels", "p_fake")},
    )
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    metrics.setdefault("models", {})[str(y.name)] = block
    metrics.setdefault("runs", {})[str(y.name)] = str(run_dir)
    path.write_text(json.dumps(metrics, indent=2))
    m = block["test"]
    print(
        f"[{y.name}] test at val-chosen threshold {block['threshold']:.2f}: real recall {m['real_recall']:.3f}, "
        f"fake recall {m['fake_recall']:.3f}, ROC AUC {m['roc_auc']}"
    )
    return block


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="yolo")
def main(cfg: DictConfig) -> float | None:
    return run(cfg)["val"]["balanced_accuracy"]


if __name__ == "__main__":
    main()
