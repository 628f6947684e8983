"""The classifier LightningModule: baseline, general and real-specialist ResNet-50 are configs of this one class."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from deepfake_lightning.data.transforms import BatchAugment, center_crop, normalize
from deepfake_lightning.evaluation.metrics import METRIC_KEYS, DetectionMetrics
from deepfake_lightning.models.backbones import check_input_size, keep_frozen_bn_eval

log = logging.getLogger(__name__)
# Cropping, augmentation and normalisation on the device are the model's own `on_after_batch_transfer`
# on purpose (they depend on its input size and augment config) and the DataModules define no such hook,
# so Lightning's note that the module's hook is used although a DataModule was passed is expected.
warnings.filterwarnings(
    "ignore", message=r"You have overridden `on_after_batch_transfer` in `LightningModule` but have passed in a"
)


def specialist_class_weights(real: int, fake: int, multiplier: float) -> list[float]:
    """[w_real, w_fake] with w_real = fake / real x multiplier (paper section 3.4), w_fake = 1."""
    if multiplier < 0:
        raise ValueError(f"model.real_weight_multiplier must be >= 0, got {multiplier}")
    if real <= 0 or fake <= 0:
        raise ValueError(f"the specialist's class weight needs both classes in train (real={real}, fake={fake})")
    return [fake / real * multiplier, 1.0]


def split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(images, labels, cache-index positions) of a batch: a tensor, (images, labels) or (images, labels, positions)."""
    if not isinstance(batch, (tuple, list)):
        return batch, None, None
    return batch[0], batch[1], batch[2] if len(batch) > 2 else None


def prediction(logits: torch.Tensor, labels: torch.Tensor | None, positions: torch.Tensor | None, **extra) -> dict:
    """What predict_step returns, for a single model and the ensemble alike: logits, p_fake, labels and
    positions (when the batch had them) and any extra outputs, on the CPU."""
    logits = logits.float()
    out = {
        "logits": logits.cpu(),
        "p_fake": torch.softmax(logits, 1)[:, 1].cpu(),
        **{k: v.float().cpu() for k, v in extra.items()},
    }
    if labels is not None:
        out["labels"] = labels.cpu()
    if positions is not None:
        out["positions"] = positions.cpu()
    return out


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The RNG seed of one training step on one process: distinct per (seed, step, rank), the same on a resume.

    Rank 0 keeps the single-process stream; other ranks are offset by rank x 2**40, far above any step count.
    """
    return seed * 1_000_003 + step + (rank << 40)


def _plain(value: Any) -> Any:
    """OmegaConf containers and tuples as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


class DeepfakeClassifier(L.LightningModule):
    """Two-class frame classifier (0 = real, 1 = fake) over a backbone `net` that maps images to logits.

    Batches arrive as uint8 [B, 3, S, S]; `on_after_batch_transfer` augments (train) or centre-crops
    (eval) on the device and normalises, so the loader only slices the memmap.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        input_size: int,
        scheduler: Callable[..., Any] | None = None,
        class_weights: Sequence[float] | None = None,
        real_weight_multiplier: float | None = None,
        augment: Mapping[str, Any] | None = None,
        channels_last: bool = False,
        compile: bool = False,  # model.compile (conf/model); False for a module built outside Hydra
        name: str = "classifier",
        seed: int = 0,
    ):
        super().__init__()
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # Only plain values go into the checkpoint, so it loads with torch.load(weights_only=True).
        self.save_hyperparameters(
            {
                "name": name,
                "input_size": int(input_size),
                "class_weights": [float(w) for w in class_weights] if class_weights else None,
                "real_weight_multiplier": None if real_weight_multiplier is None else float(real_weight_multiplier),
                "augment": _plain(augment),
                "channels_last": bool(channels_last),
                "compile": bool(compile),
                "seed": int(seed),
            },
            logger=False,
        )
        check_input_size(net, int(input_size))  # e.g. ViT at 64 px: fail here, naming the keys
        self.net = net
        self.input_size = int(input_size)
        # How this backbone's weights want pixels scaled (ImageNet mean/std, or [-1, 1] for EfficientNet-Lite):
        # the one place frames enter the network (train, eval, predict, export, Grad-CAM, degradations).
        self.input_scaling = str(getattr(net, "input_scaling", "imagenet"))
        aug = dict(augment or {})
        self.augment = BatchAugment(self.input_size, aug.get("real"), aug.get("fake", aug.get("real")))
        self.register_buffer("class_weight", torch.tensor(class_weights or [1.0, 1.0], dtype=torch.float32))
        # The decision threshold travels with the checkpoint; the threshold callback sets it from val.
        self.register_buffer("threshold", torch.tensor(0.5))
        # ThroughputMonitor reads this; None: no FLOP counting (and no warning that the attribute is missing).
        self.flops_per_batch: int | None = None
        self.val_metrics = DetectionMetrics()
        self.test_metrics = DetectionMetrics()
        self._net_compiled = False
        self._counts_given = False  # set_class_counts: the specialist's weight needs the train split's counts
        # use_pseudo_fakes: the DataModule's self-blended pseudo-fakes (data.pseudo_fakes=sbi), handed over by the app.
        self.pseudo_fakes: Any = None

    # --- set-up --------------------------------------------------------------------------------
    def set_class_counts(self, real: int, fake: int) -> None:
        """The train split's class counts, given by the app: the specialist's real weight is fake/real x multiplier."""
        mult = self.hparams.real_weight_multiplier
        self._counts_given = True
        if mult is None:
            return
        w = specialist_class_weights(int(real), int(fake), float(mult))
        self.class_weight.copy_(torch.tensor(w))
        log.info("%s: real class weight = %d/%d x %.2f = %.3f", self.hparams.name, fake, real, mult, w[0])

    def use_pseudo_fakes(self, pseudo_fakes: Any) -> None:
        """The training split's pseudo-fake maker (DataModule.pseudo_fakes, None without), given by the app as the
        class counts are: the model blends training batches with it and never reads the DataModule at run time."""
        self.pseudo_fakes = pseudo_fakes

    def setup(self, stage: str) -> None:
        made = getattr(getattr(self._trainer, "datamodule", None), "pseudo_fakes", None) if stage == "fit" else None
        if made is not None and self.pseudo_fakes is not made:  # a check at set-up, so they are never lost in silence
            raise RuntimeError(
                f"{self.hparams.name}: the DataModule made pseudo-fakes but the model was not given them; "
                "call use_pseudo_fakes(datamodule.pseudo_fakes) before fit"
            )
        if stage == "fit" and self.hparams.real_weight_multiplier is not None and not self._counts_given:
            raise RuntimeError(
                f"{self.hparams.name}: model.real_weight_multiplier is set but no class counts were given; "
                "call set_class_counts(**datamodule.class_counts('train')) before fit"
            )
        if self.hparams.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if self.hparams.compile and not self._net_compiled:
            self.compile_net()

    def compile_net(self, **kwargs: Any) -> None:
        """torch.compile the backbone in place (nn.Module.compile): no wrapper, so the state_dict and the
        checkpoints keep the plain module's keys, and a compiled run's checkpoint loads uncompiled."""
        self.net.compile(**kwargs)
        self._net_compiled = True

    def on_train_epoch_start(self) -> None:
        keep_frozen_bn_eval(self.net)

    # --- data on the device ----------------------------------------------------------------------
    def preprocess(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        train: bool = False,
        pair: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """uint8 [B, 3, S, S] -> normalised float [B, 3, input_size, input_size]; `pair` (pseudo-fakes): the slot
        whose augmentation draw each slot shares."""
        if train:
            x = self.augment(images, labels, pair=pair)
        else:
            x = center_crop(images, self.input_size)
            x = x.float() / 255.0 if images.dtype == torch.uint8 else x.float()
        x = normalize(x, self.input_scaling)
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels, positions = split_batch(batch)
        train = self.trainer is not None and self.trainer.training
        if train:
            # Augmentation and dropout of this step draw from a seed fixed by (seed, step), so a run
            # resumed from a checkpoint continues exactly as an uninterrupted one (Lightning does not
            # save RNG state). This hook runs before on_train_batch_start, hence the reseed here.
            # Each DDP rank draws its own stream, or every rank would augment its shard identically.
            torch.manual_seed(step_seed(self.hparams.seed, self.global_step, self.global_rank))
            # Pseudo-fakes (data.pseudo_fakes=sbi) replace a share of the batch, drawn from the same step seed;
            # the DataModule makes them for its training split only.
            pseudo = self.pseudo_fakes
            if pseudo is not None and positions is not None and labels is not None:
                blended = pseudo(images, labels, positions)
                # A pseudo-fake is augmented exactly as its source real (never by a label-tied policy).
                x = self.preprocess(blended.images, blended.labels, train=True, pair=blended.pair)
                return x, blended.labels
        x = self.preprocess(images, labels, train=train)
        if positions is not None:
            return x, labels, positions
        return (x, labels) if labels is not None else x

    # --- steps -------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def model_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.float(), y, weight=self.class_weight)
        return loss, logits, y

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, logits, y = self.model_step(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log("train/acc", (logits.argmax(1) == y).float().mean(), on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def _eval_step(self, batch: Any, stage: str, metrics: DetectionMetrics) -> None:
        loss, logits, y = self.model_step(batch)
        metrics.update(torch.softmax(logits.float(), 1)[:, 1], y)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=stage == "val", batch_size=len(y))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val", self.val_metrics)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test", self.test_metrics)

    def p_fake(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """p_fake of raw uint8 frames [B, 3, S, S] (the same call as EnsembleModule.p_fake)."""
        return torch.softmax(self(self.preprocess(images_uint8, train=False)).float(), dim=1)[:, 1]

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        """Logits and p_fake of a preprocessed batch (labels and cache positions too, when it has them)."""
        x, y, positions = split_batch(batch)
        return prediction(self(x), y, positions)

    def _log_metrics(self, stage: str, metrics: DetectionMetrics) -> dict:
        metrics.threshold = float(self.threshold)
        m = metrics.compute()
        logged = {f"{stage}/{k}": float("nan") if m[k] is None else m[k] for k in METRIC_KEYS}
        logged[f"{stage}/threshold"] = m["threshold"]
        self.log_dict(logged, sync_dist=False)
        self.last_metrics = getattr(self, "last_metrics", {})
        self.last_metrics[stage] = m
        return m

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self.val_metrics.reset()
            return
        self._log_metrics("val", self.val_metrics)

    def on_validation_epoch_start(self) -> None:
        self.val_metrics.reset()

    def on_test_epoch_start(self) -> None:
        self.test_metrics.reset()

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test", self.test_metrics)

    # --- optimisation -------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        opt = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return opt
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=opt), "interval": "epoch"},
        }
