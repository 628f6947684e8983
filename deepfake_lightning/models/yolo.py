"""YOLO11-cls baseline through ultralytics (paper sections 3.2 and 5.1); every ultralytics import lives here.

Decision: the baseline trains with ultralytics' own trainer, not as a LightningModule over its
ClassificationModel. The paper's YOLO figures come from `model.train(..., auto_augment="randaugment")`
with ultralytics' augmentation, schedule and EMA; re-implementing those under Lightning would be a
different baseline. The cost is a second training loop and logger, which this module fences in:
it exports the project's cached split frames, trains offline, reads p_fake back and hands it to the
same threshold sweep and metrics as the ResNet models. Its own W&B/MLflow/... callbacks are off;
the project logs the run once.

Class indices: ultralytics sorts class folders, so here `fake` = 0 and `real` = 1. The conversion
to the project's 0 = real, 1 = fake happens in `p_fake_from_probs`, nowhere else.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

PROJECT_CLASS = {"real": 0, "fake": 1}


def set_environment(run_dir: str | Path) -> None:
    """Offline, settings inside the run folder; must run before `import ultralytics`."""
    os.environ["YOLO_OFFLINE"] = "true"
    cfg_dir = Path(run_dir) / "ultralytics_config"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(cfg_dir)
    os.environ.setdefault("YOLO_VERBOSE", "false")


def _import_ultralytics(run_dir: str | Path) -> Any:
    set_environment(run_dir)
    import ultralytics
    from ultralytics.utils import SETTINGS

    # The project logs the run itself, once.
    SETTINGS.update(
        {
            k: False
            for k in ("wandb", "mlflow", "comet", "clearml", "dvc", "neptune", "raytune", "tensorboard", "hub")
            if k in SETTINGS
        }
    )
    return ultralytics


def p_fake_from_probs(probs: np.ndarray, names: dict[int, str]) -> np.ndarray:
    """p_fake from ultralytics class probabilities, whatever index it gave `fake` (alphabetical: 0)."""
    inv = {v: k for k, v in names.items()}
    if "fake" not in inv or "real" not in inv:
        raise ValueError(f"YOLO model classes must be 'real' and 'fake', got {names}")
    return np.asarray(probs)[:, inv["fake"]]


def export_split_folders(
    frames: np.ndarray, labels: np.ndarray, split: np.ndarray, rows: np.ndarray, out: str | Path, fingerprint: str = ""
) -> dict[str, dict[str, int]]:
    """Write cached frames as `out/{train,val,test}/{real,fake}/<row>.png`; returns the counts written.

    `out` should name the split (its fingerprint): a complete export is reused only when its recorded
    fingerprint and counts match, and a new one is written into a temporary folder and renamed into
    place, so files of two splits are never mixed.
    """
    out = Path(out)
    counts = {
        s: {c: int(((split == s) & (labels == PROJECT_CLASS[c])).sum()) for c in PROJECT_CLASS}
        for s in ("train", "val", "test")
    }
    stamp = json.dumps({"fingerprint": fingerprint, "counts": counts}, sort_keys=True)
    done = out / ".complete"
    if done.is_file() and done.read_text() == stamp:
        return counts
    tmp = out.parent / f".building-{out.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for s in counts:
        for c in PROJECT_CLASS:
            (tmp / s / c).mkdir(parents=True, exist_ok=True)
    try:
        for i in range(len(rows)):
            name = "real" if labels[i] == 0 else "fake"
            path = tmp / str(split[i]) / name / f"{int(rows[i]):07d}.png"
            cv2.imwrite(str(path), cv2.cvtColor(np.asarray(frames[rows[i]]), cv2.COLOR_RGB2BGR))
        (tmp / ".complete").write_text(stamp)
        shutil.rmtree(out, ignore_errors=True)  # an incomplete or stale export under this name
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts


def train_yolo(
    data_dir: str | Path,
    run_dir: str | Path,
    model: str,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str | None,
    workers: int,
    seed: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Train with ultralytics' trainer (offline; from the bundled .yaml or a local .pt); returns best.pt."""
    ul = _import_ultralytics(run_dir)
    import torch

    if model.endswith(".pt") and not Path(model).is_file():
        raise FileNotFoundError(f"yolo.model={model}: no such file (offline: give a local .pt path or a .yaml)")
    if device is None:
        device = "0" if torch.cuda.is_available() else "cpu"
    yolo = ul.YOLO(model, task="classify")
    args = dict(
        data=str(data_dir),
        epochs=int(epochs),
        imgsz=int(imgsz),
        batch=int(batch),
        device=device,
        workers=int(workers),
        project=str(Path(run_dir).resolve()),
        name="train",
        exist_ok=True,
        seed=int(seed),
        deterministic=True,
        auto_augment="randaugment",
        amp=device != "cpu",  # AMP's self-check downloads a model; CPU never uses AMP anyway
        plots=False,  # plots need a font download
        val=True,
        verbose=False,
        pretrained=model.endswith(".pt"),
    )
    args.update(extra or {})
    yolo.train(**args)
    best = Path(run_dir) / "train" / "weights" / "best.pt"
    if not best.is_file():
        best = Path(run_dir) / "train" / "weights" / "last.pt"
    return best


def predict_p_fake(
    weights: str | Path, images: Sequence[np.ndarray], run_dir: str | Path, imgsz: int, batch: int
) -> np.ndarray:
    """p_fake (project convention) for RGB uint8 frames, with a trained YOLO classification model.

    ultralytics .pt files are pickles: only load weights that this project trained or the user named.
    """
    ul = _import_ultralytics(run_dir)
    model = ul.YOLO(str(weights), task="classify")
    out = []
    for i in range(0, len(images), batch):
        chunk = [cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR) for im in images[i : i + batch]]
        results = model.predict(chunk, imgsz=imgsz, verbose=False)
        probs = np.stack([r.probs.data.float().cpu().numpy() for r in results])
        out.append(p_fake_from_probs(probs, model.names))
    return np.concatenate(out) if out else np.zeros(0)


def torch_model(weights: str | Path, run_dir: str | Path) -> Any:
    """The underlying torch ClassificationModel (for Grad-CAM)."""
    ul = _import_ultralytics(run_dir)
    y = ul.YOLO(str(weights), task="classify")
    return y.model, y.names
