"""dfl-yolo: the YOLO11-cls baseline on the project's cached splits, evaluated like the ResNet models."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from deepfake_lightning import results
from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.evaluation.protocol import Scores, bootstrap_settings, evaluate_scores

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Export the split frames, train YOLO, score val and test, merge `models.<name>` into metrics.json."""
    app_start(cfg)
    from deepfake_lightning.models import yolo as Y

    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    Y.set_environment(run_dir)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    if data["pseudo_fakes"] != "none":
        # ultralytics trains from exported image folders with its own loop: pseudo-fakes are not made there.
        log.warning("data.pseudo_fakes=%s is not used by YOLO (ultralytics' own trainer): it trains on the data as given",
                    data["pseudo_fakes"])  # fmt: skip
        data.update(pseudo_fakes="none", pseudo_fakes_only=False, pseudo_fake_val=False)
    dm = hydra.utils.instantiate(data)
    dm.setup()
    fp = dm.split_record["fingerprint"]
    out = Path(cfg.out_dir)
    # Checked before training: a YOLO trained on another split than the models it is compared with is refused.
    results.merge_check(out, str(cfg.yolo.name), run_dir, dm.split_record)
    results.write_split(dm.split_record, run_dir, overwrite=True)
    idx, frames = dm.cache.index, dm.cache.frames
    export_root = Path(cfg.yolo.export_dir) if cfg.yolo.get("export_dir") else run_dir
    export = export_root / f"dataset-{fp}"
    counts = Y.export_split_folders(frames, idx["label"], dm.split, idx["row"], export, fp)
    log.info("exported %s to %s", counts, export)
    y = cfg.yolo
    best = Y.train_yolo(export, run_dir, y.model, y.epochs, y.imgsz, y.batch, y.get("device"), y.workers, int(cfg.seed))
    splits = {}
    for s in ("val", "test"):
        pos = dm.rows(s)
        p = Y.predict_p_fake(best, [frames[r] for r in idx["row"][pos]], run_dir, y.imgsz, y.batch)
        splits[s] = Scores(idx["label"][pos], p, idx["video"][pos], *dm.groups(s)[:2])
    thr = OmegaConf.to_container(cfg.threshold, resolve=True)
    boot = bootstrap_settings(cfg.report)
    block = evaluate_scores(
        splits["val"], splits["test"], thr, cfg.video.aggregate, bool(cfg.report.paper_protocol), boot
    )
    block["weights"] = str(best)
    block["settings"] = OmegaConf.to_container(y, resolve=True)
    results.write_predictions(
        run_dir, {f"{s}_{k}": getattr(v, k) for s, v in splits.items() for k in ("labels", "p_fake")}
    )
    # Read again inside: another step may have written the folder since the check above.
    results.merge_model(out, str(y.name), block, run_dir, dm.dataset_summary(), dm.split_record)
    m = block["test"]
    print(
        f"[{y.name}] test at val-chosen threshold {block['threshold']:.2f}: real recall {m['real_recall']:.3f}, "
        f"fake recall {m['fake_recall']:.3f}, ROC AUC {m['roc_auc']}"
    )
    return block


main = hydra_app("yolo", run, lambda m: m["val"]["balanced_accuracy"])


if __name__ == "__main__":
    main()
