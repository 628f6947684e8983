"""The LightningDataModule over the frame cache: loads it (data/build.py builds it), splits it (data/splits.py)
and serves uint8 batches with 0 = real, 1 = fake."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from deepfake_lightning.data.build import CacheSource
from deepfake_lightning.data.cache import FrameCache
from deepfake_lightning.data.extract import ExtractConfig
from deepfake_lightning.data.layouts import make_layout
from deepfake_lightning.data.pseudo_fakes import (
    PseudoFakeConfig,
    PseudoFakes,
    blended_pairs,
    make_pseudo_fakes,
    pseudo_fake_summary,
    seen_counts,
)
from deepfake_lightning.data.samplers import DistributedWeightedSampler
from deepfake_lightning.data.splits import SPLITS, log_split, plan_split, resampling_groups, split_counts

log = logging.getLogger(__name__)


class CachedFrames(Dataset):
    """Frames of one split as (uint8 [3, S, S], label), or (image, label, position in the cache index) when
    `positions` is given; `__getitems__` reads a whole batch in one memmap slice."""

    def __init__(self, frames: np.ndarray, rows: np.ndarray, labels: np.ndarray, positions: np.ndarray | None = None):
        self.frames, self.rows, self.labels, self.positions = frames, rows, labels, positions

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        img = torch.from_numpy(np.ascontiguousarray(self.frames[self.rows[i]])).permute(2, 0, 1)
        item = (img, torch.tensor(self.labels[i]))
        return item if self.positions is None else (*item, torch.tensor(self.positions[i]))

    def __getitems__(self, idx: list[int]) -> tuple[torch.Tensor, ...]:
        idx_arr = np.asarray(idx)
        rows = self.rows[idx_arr]
        # Sorted reads are sequential on disk; the result is put back in the sampler's order.
        order = np.argsort(rows, kind="stable")
        block = np.empty((len(rows), *self.frames.shape[1:]), dtype=np.uint8)
        block[order] = self.frames[rows[order]]
        images = torch.from_numpy(block).permute(0, 3, 1, 2)
        batch = (images, torch.from_numpy(self.labels[idx_arr]))
        if self.positions is None:
            return batch
        return (*batch, torch.from_numpy(self.positions[idx_arr]))


def _collate_batch(batch: Any) -> Any:
    """`__getitems__` already returns a collated batch."""
    return batch


def balanced_weights(labels: np.ndarray) -> torch.Tensor:
    """Per-sample weights 1 / class count, so a weighted sampler draws both classes equally often."""
    counts = np.bincount(labels, minlength=2).astype(float)
    return torch.as_tensor(1.0 / np.maximum(counts[labels], 1.0), dtype=torch.double)


@dataclass
class LoaderConfig:
    """The DataModule's loader block: how batches are served."""

    batch_size: int
    eval_batch_size: int | None  # null: batch_size
    num_workers: int
    pin_memory: bool
    persistent_workers: bool
    balanced_sampler: bool  # the general model's recipe: both classes drawn equally often


def data_blocks(keys: Mapping[str, Any], perturb: Any = None, only_videos: set[str] | None = None) -> dict[str, Any]:
    """A `data` config (its keys flat, as users override them) as the DataModule's blocks: where the frames come
    from (the layout `data.layout` with its own keys, the cache), the split, the loaders and the pseudo-fakes.
    `perturb` and `only_videos` are dfl-eval's (a degradation before the face crop, the videos to keep)."""
    keys = {k: v for k, v in keys.items() if k != "_target_"}

    def take(names: Sequence[str]) -> dict[str, Any]:
        missing = [n for n in names if n not in keys]
        if missing:
            raise ValueError(f"data.{missing[0]}: missing (the data config must set it)")
        return {n: keys.pop(n) for n in names}

    loader = LoaderConfig(**take([f.name for f in fields(LoaderConfig)]))
    pseudo = PseudoFakeConfig(**take([f.name for f in fields(PseudoFakeConfig)]))
    k = take(["layout", "root", "cache_dir", "cache_path", "extract", "extract_workers", "chunk_files", "split",
              "split_file", "seed"])  # fmt: skip
    source = CacheSource(
        layout=make_layout(str(k["layout"]), keys),
        root=Path(str(k["root"])),
        cache_dir=Path(str(k["cache_dir"])),
        extract=k["extract"] if isinstance(k["extract"], ExtractConfig) else ExtractConfig.from_node(k["extract"]),
        strategy=str(k["split"]["strategy"]),
        cache_path=Path(str(k["cache_path"])) if k["cache_path"] else None,
        workers=None if k["extract_workers"] in (None, "null") else int(k["extract_workers"]),  # None: all cores
        chunk_files=int(k["chunk_files"]),
        perturb=perturb,
        only_videos=None if only_videos is None else set(only_videos),
    )
    return {"source": source, "split": k["split"], "split_file": k["split_file"], "loader": loader, "pseudo": pseudo,
            "seed": int(k["seed"])}  # fmt: skip


def data_module(perturb: Any = None, only_videos: set[str] | None = None, **keys: Any) -> FrameCacheDataModule:
    """The `_target_` of conf/data/*.yaml: the DataModule of a `data` config (data_blocks)."""
    return FrameCacheDataModule(**data_blocks(keys, perturb, only_videos))


class FrameCacheDataModule(L.LightningDataModule):
    """Loads the frame cache of a CacheSource (built once, in prepare_data), splits it (setup: a recorded
    split.json, or one computed from the `split` config with its own seed) and serves uint8 batches with
    0 = real, 1 = fake. Made from a `data` config by data_module."""

    def __init__(
        self,
        source: CacheSource,
        split: Mapping[str, Any],
        split_file: str | Path | None,
        loader: LoaderConfig,
        pseudo: PseudoFakeConfig,
        seed: int,
    ):
        super().__init__()
        self.source, self.loader_cfg, self.pseudo_cfg, self.seed = source, loader, pseudo, int(seed)
        # The `split` group, checked at app start (config.SplitConfig); split.seed is its own key, not the model
        # seed, so runs with other model seeds share one split and can be fused.
        self.split_cfg = {**split, "fractions": [float(f) for f in split["fractions"]]}
        # A recorded split.json (another run's): used instead of computing the split from split_cfg.
        self.split_file = Path(str(split_file)) if split_file else None
        self.pseudo_fakes: PseudoFakes | None = None  # made in setup, for the training split only
        self._val_blends: CachedFrames | None = None
        self.cache: FrameCache | None = None
        self.split: np.ndarray | None = None  # "train" / "val" / "test" per cache row
        self.split_record: dict[str, Any] | None = None  # what split.json holds
        self.datasets: dict[str, CachedFrames] = {}

    def prepare_data(self) -> None:
        if self.cache is None:  # Lightning calls this before fit, validate and test: check the cache once
            self.source.build()

    def setup(self, stage: str | None = None) -> None:
        if self.cache is not None:
            return
        cache = self.source.build()
        cache.index = self.source.layout.video_view(cache.index)
        self.cache = cache
        key = str(cache.manifest.get("key", ""))
        self.split, self.split_record = plan_split(
            cache.index, self.split_cfg, self.split_file, self.source.layout, self.source.root, key
        )
        labels = cache.index["label"]
        for s in SPLITS:
            pos = self.rows(s)
            self.datasets[s] = CachedFrames(cache.frames, cache.index["row"][pos], labels[pos])
        self.datasets["all"] = CachedFrames(cache.frames, cache.index["row"], labels)  # dfl-eval on another dataset
        log_split(self.split_record, self.class_counts_all())
        if self.pseudo_cfg.pseudo_fakes != "none":
            geometry = None if cache.geometry is None else cache.geometry[cache.index["row"]]
            landmarks = str(cache.manifest.get("landmarks", "box"))
            self.pseudo_fakes = make_pseudo_fakes(self.pseudo_cfg, geometry, landmarks, str(cache.path))

    # --- what models need ------------------------------------------------------------------------
    def class_counts(self, stage: str = "train") -> dict[str, int]:
        """{"real": n, "fake": n} in one split; the specialist's class weight is computed from train."""
        return self.class_counts_all()[stage]

    def dataset_summary(self) -> dict[str, Any]:
        """metrics.json's `dataset`: the split's fingerprint and settings, leak counts and class counts per split."""
        self.setup()
        rec, leaks = self.split_record or {}, ("identities_in_several_splits", "videos_in_several_splits", "swapped_in")
        return {
            "split_fingerprint": rec["fingerprint"],
            "split": {k: rec.get(k) for k in ("strategy", "group_by", "seed", "fractions")},
            "leaks": {k: rec["leaks"][k] for k in leaks if k in rec["leaks"]},
            "counts": self.class_counts_all(),
            "cache": str(self.cache.path),  # type: ignore[union-attr]
        }

    def class_counts_all(self) -> dict[str, dict[str, int]]:
        self.setup()
        return split_counts(self.cache.index["label"], self.split)  # type: ignore[union-attr,arg-type]

    def rows(self, stage: str) -> np.ndarray:
        """Positions in the cache index of one split's frames, in the order its loader yields them."""
        self.setup()
        assert self.split is not None and self.cache is not None
        if stage == "all":
            return np.arange(len(self.split))
        mask = self.split == stage
        if stage == "train" and self.pseudo_cfg.pseudo_fakes_only:
            # The SBI setting: the served training frames are the real ones; pseudo-fakes are the fakes.
            mask = mask & (self.cache.index["label"] == 0)
        return np.flatnonzero(mask)

    def groups(self, stage: str) -> tuple[np.ndarray, str, str | None]:
        """(group of each of the split's frames, unit, note): what its intervals resample whole (splits.resampling_groups)."""
        idx, rec = self.cache.index, self.split_record or {}  # type: ignore[union-attr]
        rows = self.rows(stage)
        return resampling_groups(idx["video"][rows], idx["identity"][rows], rec.get("group_by"))

    def loader(self, stage: str) -> DataLoader:
        """An evaluation loader over train, val, test or all frames; its batches are (images, labels, position
        of each frame in the cache index), so predictions are matched to frames by position, not by order."""
        return self._loader(stage, False, positions=True)

    def _loader(self, stage: str, train: bool, positions: bool = False) -> DataLoader:
        self.setup()
        ds, lc, only_reals = self.datasets[stage], self.loader_cfg, self.pseudo_cfg.pseudo_fakes_only
        if positions:
            ds = CachedFrames(ds.frames, ds.rows, ds.labels, self.rows(stage))
        if len(ds) == 0:
            raise ValueError(f"the {stage} split is empty; check split.fractions and the data under data.root")
        sampler = None
        if train:
            world, rank = 1, 0
            if self.trainer is not None:
                world, rank = self.trainer.world_size, self.trainer.global_rank
            # Both samplers draw from (seed, epoch) alone, so a run resumed at an epoch boundary sees
            # the same batches as an uninterrupted one, and each process draws its own share.
            # With pseudo_fakes_only every real frame is served once per epoch (and blended beside itself): a
            # balanced sampler over one class would draw with replacement and miss a third of them.
            if lc.balanced_sampler and not (stage == "train" and only_reals):
                sampler = DistributedWeightedSampler(balanced_weights(ds.labels), len(ds), world, rank, self.seed)
            else:
                sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=self.seed)
        return DataLoader(
            ds,
            batch_size=lc.batch_size if train else int(lc.eval_batch_size or lc.batch_size),
            shuffle=False,
            sampler=sampler,
            num_workers=lc.num_workers,
            pin_memory=lc.pin_memory,
            persistent_workers=lc.persistent_workers and lc.num_workers > 0,
            collate_fn=_collate_batch,
            # pseudo_fakes_only: no frame left out (a last batch of one real is two samples with its blend).
            drop_last=train and len(ds) > lc.batch_size and not only_reals,
        )

    def train_dataloader(self) -> DataLoader:
        # With pseudo-fakes, training batches carry each frame's position: its face polygon is looked up by it.
        return self._loader("train", True, positions=self.pseudo_fakes is not None)

    def seen_class_counts(self) -> dict[str, int]:
        """The train class counts the model sees per epoch (pseudo-fakes included): what class weights and the
        specialist's real-weight multiplier count. Equal to class_counts('train') without pseudo-fakes."""
        c, pc = self.class_counts("train"), self.pseudo_cfg
        if pc.pseudo_fakes == "none":
            return c
        seen = seen_counts(c["real"], c["fake"], pc.pseudo_fake_ratio, self.loader_cfg.balanced_sampler,
                           pc.pseudo_fakes_only)  # fmt: skip
        return {k: max(1, int(round(v))) for k, v in seen.items()}

    def pseudo_fake_summary(self) -> dict[str, Any] | None:
        """metrics.json `pseudo_fakes` (pseudo_fakes.pseudo_fake_summary); None when off."""
        self.setup()
        return None if self.pseudo_fakes is None else pseudo_fake_summary(
            self.pseudo_cfg, self.pseudo_fakes, self.seen_class_counts()
        )  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        if self.pseudo_cfg.pseudo_fake_val:
            bs = int(self.loader_cfg.eval_batch_size or self.loader_cfg.batch_size)
            return DataLoader(self.val_blends(), batch_size=bs, shuffle=False, collate_fn=_collate_batch)
        return self._loader("val", False)

    def val_blends(self) -> CachedFrames:
        """data.pseudo_fake_val: the val split's real frames, then one self-blend of each (fixed generator: the
        same blends every epoch and every run on this split), as an in-memory dataset of 2 x n frames."""
        if self._val_blends is None:
            assert self.cache is not None and self.pseudo_fakes is not None
            pos = self.val_real_positions()
            if len(pos) == 0:
                raise ValueError("data.pseudo_fake_val=true: the val split has no real frame to blend")
            frames = np.ascontiguousarray(self.cache.frames[self.cache.index["row"][pos]])  # [n, S, S, 3]
            both, labels = blended_pairs(frames, self.pseudo_fakes.polygons(torch.device("cpu"))[torch.from_numpy(pos)])
            self._val_blends = CachedFrames(both, np.arange(len(both)), labels)
        return self._val_blends

    def val_real_positions(self) -> np.ndarray:
        assert self.split is not None and self.cache is not None
        return np.flatnonzero((self.split == "val") & (self.cache.index["label"] == 0))

    def val_scored(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, video of each frame) in val_dataloader's order: the val split's, or with data.pseudo_fake_val
        its real frames and then their blends (a blended video is named `<video>#blend`)."""
        assert self.cache is not None
        idx = self.cache.index
        if self.pseudo_cfg.pseudo_fake_val:
            videos = idx["video"][self.val_real_positions()].astype(str)
            return (
                np.concatenate([np.zeros(len(videos)), np.ones(len(videos))]).astype(np.int64),
                np.concatenate([videos, np.char.add(videos, "#blend")]),
            )
        rows = self.rows("val")
        return idx["label"][rows], idx["video"][rows]

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False)


def datamodule_from_overrides(overrides: Sequence[str], data: str = "celebdf") -> FrameCacheDataModule:
    """A DataModule of the package's `data` config group (`data=<data>`) with Hydra overrides such as
    `data.root=...`, for notebooks, benchmarks and tests: every value not overridden comes from the configs."""
    from hydra.utils import instantiate

    from deepfake_lightning.config import compose_app

    return instantiate(compose_app("extract", [f"data={data}", *overrides]).data, _convert_="all")
