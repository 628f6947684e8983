"""dfl-export: the fused ensemble (both members + fusion + softmax) to ONNX, with a parity check on cached frames."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.data.extract import run_extract_config
from deepfake_lightning.models.loading import datamodule_from_run, load_predictor
from deepfake_lightning.results import SPLIT_FILE

log = logging.getLogger(__name__)


class PFakeGraph(torch.nn.Module):
    """uint8 frames [B, 3, S, S] -> p_fake [B]: preprocessing, both members and the fusion in one graph."""

    def __init__(self, predictor: torch.nn.Module):
        super().__init__()
        self.predictor = predictor

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.predictor.p_fake(images)


def cached_frames(data_cfg: dict, n: int, run_dir: Path) -> np.ndarray:
    """Up to n test frames (uint8 [n, 3, S, S]) of the run's recorded split, for the parity check."""
    split_file = run_dir / SPLIT_FILE
    dm = datamodule_from_run(data_cfg, None, split_file if split_file.is_file() else None)
    dm.setup()
    rows = dm.cache.index["row"][dm.rows("test")][:n]
    return np.stack([np.asarray(dm.cache.frames[r]) for r in rows]).transpose(0, 3, 1, 2).copy()


def export(cfg: DictConfig) -> dict[str, Any]:
    """Write the ONNX file, check ONNX Runtime against PyTorch within `atol`, store the threshold as metadata."""
    app_start(cfg)
    import onnx
    import onnxruntime as ort

    pred = load_predictor(cfg.run)
    threshold, data_cfg = pred.threshold, pred.data_config
    graph = PFakeGraph(pred.module.cpu()).eval()
    run = Path(str(cfg.run))
    out = Path(str(cfg.output)) if cfg.get("output") else (run if run.is_dir() else run.parent) / "ensemble.onnx"
    size = run_extract_config(data_cfg).image_size
    example = torch.zeros(2, 3, size, size, dtype=torch.uint8)
    torch.onnx.export(
        graph,
        (example,),
        str(out),
        input_names=["images"],
        output_names=["p_fake"],
        dynamic_axes={"images": {0: "batch"}, "p_fake": {0: "batch"}},
        opset_version=int(cfg.opset),
        dynamo=False,
    )
    model = onnx.load(str(out))
    for k, v in {
        "threshold": str(threshold),
        # video level: compare the aggregate of a video's frame p_fake with its own threshold
        "video_thresholds": json.dumps(pred.video_thresholds or {}),
        # the stored calibration, inside the graph already (p_fake = sigmoid(d / temperature + bias))
        "temperature": str(float(getattr(pred.module, "temperature", 1.0))),
        "bias": str(float(getattr(pred.module, "bias", 0.0))),
        "labels": "0=real,1=fake",
        "input": f"uint8 RGB [B,3,{size},{size}]",
    }.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(out))
    frames = cached_frames(data_cfg, int(cfg.n_check), pred.run_dir)
    with torch.inference_mode():
        ref = graph(torch.from_numpy(frames)).numpy()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(["p_fake"], {"images": frames})[0]
    diff = float(np.abs(got - ref).max())
    report = {
        "onnx": str(out),
        "threshold": threshold,
        "video_thresholds": pred.video_thresholds,
        "frames_checked": len(frames),
        "max_abs_diff": diff,
        "atol": float(cfg.atol),
        "parity": diff <= float(cfg.atol),
    }
    (out.with_suffix(".parity.json")).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    if not report["parity"]:
        raise SystemExit(f"ONNX parity failed: max |diff| {diff:.2e} > atol {cfg.atol}")
    return report


main = hydra_app("export", export)


if __name__ == "__main__":
    main()
