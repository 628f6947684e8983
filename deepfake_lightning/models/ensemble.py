"""Ensemble of the general and the specialist model by logit fusion (paper section 3.5), and fitting its weight."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch

from deepfake_lightning.evaluation.calibration import p_fake_from_logits
from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.thresholds import select_threshold, sweep_thresholds
from deepfake_lightning.models.classifier import DeepfakeClassifier, prediction, split_batch


def fuse_logits(main: torch.Tensor | np.ndarray, specialist: torch.Tensor | np.ndarray, weight: float):
    """combined = weight x main + (1 - weight) x specialist (paper: 0.6 / 0.4)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"ensemble.weight must be in [0, 1], got {weight}")
    return weight * main + (1.0 - weight) * specialist


def fit_weight(
    labels: np.ndarray,
    main: np.ndarray,
    specialist: np.ndarray,
    objective: str,
    step: float,
    threshold_kwargs: dict[str, Any],
) -> tuple[float, list[dict[str, float]]]:
    """Grid-search the fusion weight on validation logits.

    objective `balanced_accuracy`: balanced accuracy at the threshold chosen (on the same val
    predictions) by `threshold_kwargs`; `roc_auc`: threshold-free. Ties go to the weight nearest 0.6.
    """
    tk = dict(threshold_kwargs)
    step_t = tk.pop("step")
    grid = np.round(np.linspace(0, 1, int(round(1 / step)) + 1), 6)
    table = []
    for w in grid:
        p = p_fake_from_logits(fuse_logits(main, specialist, float(w)))
        if objective == "roc_auc":
            score = detection_metrics(labels, p, 0.5)["roc_auc"]
        else:
            t = select_threshold(sweep_thresholds(labels, p, step_t), **tk).threshold
            score = detection_metrics(labels, p, t)["balanced_accuracy"]
        table.append({"weight": float(w), "score": float(score if score is not None else float("nan"))})
    best = max(table, key=lambda r: (np.nan_to_num(r["score"], nan=-1.0), -abs(r["weight"] - 0.6)))
    return best["weight"], table


class EnsembleModule(L.LightningModule):
    """General + specialist in one module: one forward pass per batch gives both members' logits and the fusion.

    `weight`, `threshold`, `temperature` and `bias` are buffers, so a saved state_dict carries them; p_fake
    is sigmoid(d / temperature + bias) with d the fused fake-minus-real logit (1.0 and 0.0 unless dfl-ensemble
    applied a calibration).
    """

    def __init__(self, general: DeepfakeClassifier, specialist: DeepfakeClassifier, weight: float):
        super().__init__()
        if general.input_size != specialist.input_size:
            raise ValueError(
                f"ensemble members need the same model.input_size ({general.input_size} vs {specialist.input_size})"
            )
        if general.input_scaling != specialist.input_scaling:
            # One preprocessed batch feeds both members (member_logits), so they must scale pixels alike.
            raise ValueError(
                "ensemble members need backbones with the same input scaling "
                f"({general.input_scaling} vs {specialist.input_scaling}): train both on one model.net.arch family"
            )
        self.general, self.specialist = general, specialist
        self.input_size = general.input_size
        self.register_buffer("weight", torch.tensor(float(weight)))
        self.register_buffer("threshold", torch.tensor(0.5))
        self.register_buffer("temperature", torch.tensor(1.0))
        self.register_buffer("bias", torch.tensor(0.0))

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return self.general.preprocess(images, train=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels, positions = split_batch(batch)
        return self.preprocess(images), labels, positions

    def member_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.general(x), self.specialist(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused logits of normalised images."""
        main, spec = self.member_logits(x)
        return fuse_logits(main.float(), spec.float(), float(self.weight))

    def p_fake(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """p_fake of raw uint8 frames [B, 3, S, S]."""
        return torch.softmax(self.calibrated(self(self.preprocess(images_uint8))), dim=1)[:, 1]

    def calibrated(self, fused: torch.Tensor) -> torch.Tensor:
        """Fused logits with the stored calibration: z / temperature, plus bias on the fake logit."""
        return fused / self.temperature + torch.stack([torch.zeros_like(self.bias), self.bias])

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        """The fused logits (p_fake with the temperature) and each member's logits (`main`, `specialist`)."""
        x, labels, positions = split_batch(batch)
        main, spec = self.member_logits(x)
        fused = fuse_logits(main.float(), spec.float(), float(self.weight))
        out = prediction(self.calibrated(fused), labels, positions, main=main, specialist=spec)
        out["logits"] = fused.cpu()  # before the calibration, as forward() gives them
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Also loads ensemble.ckpt files written before calibration existed (no `temperature`: 1.0, no `bias`: 0.0)."""
        state = dict(state_dict)
        state.setdefault("temperature", torch.tensor(1.0))
        state.setdefault("bias", torch.tensor(0.0))
        return super().load_state_dict(state, strict=strict, assign=assign)
