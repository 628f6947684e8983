"""dfl-gradcam: Grad-CAM overlays of N real and N fake test frames for every trained model, and one grid."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import DictConfig

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.data.transforms import center_crop
from deepfake_lightning.evaluation.gradcam import (
    LogitsOnly,
    cam_maps,
    cam_target,
    captions,
    overlays,
    write_grid,
    yolo_layers,
)
from deepfake_lightning.models.ensemble import EnsembleModule
from deepfake_lightning.models.loading import datamodule_from_run, load_classifier
from deepfake_lightning.results import SPLIT_FILE, check_results_split, load_metrics

log = logging.getLogger(__name__)


def pick_frames(labels: np.ndarray, split: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of n real then n fake test frames (fewer when the split has fewer), seeded."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in (0, 1):
        idx = np.flatnonzero((split == "test") & (labels == c))
        chosen.extend(sorted(rng.choice(idx, min(n, len(idx)), replace=False).tolist()))
    return np.array(chosen, dtype=int)


def model_view(frames: np.ndarray, size: int, resized: bool) -> np.ndarray:
    """The pixels a model saw, to draw its CAM on: the centre crop of `size` (ResNet members crop the
    cached frame) or, for `resized` models (YOLO), the whole frame resized to `size`."""
    if resized:
        return np.stack([cv2.resize(f, (size, size)) for f in frames])
    crop = center_crop(torch.from_numpy(frames).permute(0, 3, 1, 2), size)  # the members' own crop
    return crop.permute(0, 2, 3, 1).float().round().clamp(0, 255).to(torch.uint8).numpy()


def run(cfg: DictConfig) -> Path:
    """Write OUT/gradcam/<model>.png strips and OUT/gradcam/grid.png."""
    app_start(cfg)
    out = Path(cfg.out_dir)
    metrics = load_metrics(out)
    runs = metrics.get("runs", {})
    check_results_split(out, roles=("general", "baseline", "specialist"))
    general, gcfg = load_classifier(runs["general"])
    dm = datamodule_from_run(gcfg.data, 64, out / SPLIT_FILE)
    dm.setup()
    idx = dm.cache.index
    sel = pick_frames(idx["label"], dm.split, int(cfg.n), int(cfg.seed))
    frames = np.stack([np.asarray(dm.cache.frames[idx["row"][i]]) for i in sel])
    labels = idx["label"][sel]
    raw = torch.from_numpy(frames).permute(0, 3, 1, 2)
    dest = out / "gradcam"
    dest.mkdir(exist_ok=True)
    rows: dict[str, tuple[np.ndarray, list[str]]] = {}

    def show(
        name: str, model: torch.nn.Module, layers: list, x: torch.Tensor, fake_index: int, p: np.ndarray, reshape=None
    ) -> None:
        maps = cam_maps(model, layers, x, fake_index, reshape)
        imgs = overlays(model_view(frames, x.shape[-1], name.startswith("yolo")), maps)
        rows[name] = (imgs, captions(labels, p))
        write_grid({name: rows[name]}, dest / f"{name}.png")

    members = {"general": general}
    for name in ("baseline", "specialist"):
        if runs.get(name):
            members[name], _ = load_classifier(runs[name])
    for name, model in members.items():
        x = model.preprocess(raw, train=False)
        with torch.no_grad():
            p = torch.softmax(model(x), 1)[:, 1].numpy()
        layers, reshape = cam_target(model.net)
        show(name, model.net, layers, x, 1, p, reshape)
    if "specialist" in members:
        ens = EnsembleModule(members["general"], members["specialist"], float(metrics["ensemble"]["weight"]))
        x = ens.preprocess(raw)
        with torch.no_grad():
            p = torch.softmax(ens(x), 1)[:, 1].numpy()
        (g_layers, reshape), (s_layers, _) = cam_target(ens.general.net), cam_target(ens.specialist.net)
        show("ensemble", ens, g_layers + s_layers, x, 1, p, reshape)
    for name, block in metrics.get("models", {}).items():
        if not name.startswith("yolo") or not Path(block.get("weights", "")).is_file():
            continue
        from deepfake_lightning.models.yolo import torch_model

        model, names = torch_model(block["weights"], runs.get(name, out))
        model = LogitsOnly(model.float().cpu())
        for prm in model.parameters():
            prm.requires_grad_(True)
        size = int(block.get("settings", {}).get("imgsz", 64))
        x = (
            torch.from_numpy(np.stack([cv2.resize(f, (size, size)) for f in frames])).permute(0, 3, 1, 2).float()
            / 255.0
        )
        fake_index = {v: k for k, v in names.items()}["fake"]
        with torch.no_grad():
            p = torch.softmax(model(x), 1)[:, fake_index].numpy()
        show(name, model, yolo_layers(model.model), x, fake_index, p)
    grid = write_grid(rows, dest / "grid.png")
    print(f"Grad-CAM grid: {grid}")
    return grid


main = hydra_app("gradcam", run)


if __name__ == "__main__":
    main()
