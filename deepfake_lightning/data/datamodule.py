"""LightningDataModules over the frame cache: Celeb-DF v2 layout folders and plain real/ fake/ trees."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from deepfake_lightning.data.build import build_cache, merge_shards
from deepfake_lightning.data.cache import FrameCache
from deepfake_lightning.data.extract import ExtractConfig
from deepfake_lightning.data.items import Layout, VideoItem
from deepfake_lightning.data.layouts.celebdf import CelebDF
from deepfake_lightning.data.layouts.dfdc import DFDC
from deepfake_lightning.data.layouts.ffpp import FFPP
from deepfake_lightning.data.layouts.frames import FrameFolders
from deepfake_lightning.data.pseudo_fakes import (
    PSEUDO_FAKE_METHODS,
    PseudoFakes,
    blended_pairs,
    describe,
    face_polygons,
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


class FrameCacheDataModule(L.LightningDataModule):
    """Loads the frame cache of one dataset layout (built once, in prepare_data), splits it with a seed (setup)
    and serves uint8 batches with 0 = real, 1 = fake. Every setting comes from the `data` config (its one home);
    `extract` is the data.extract node, made into the ExtractConfig here."""

    def __init__(
        self,
        layout: Layout,
        root: str,
        cache_dir: str,
        extract: Mapping[str, Any] | ExtractConfig,
        pseudo_fakes: str,
        pseudo_fake_ratio: float,
        pseudo_fakes_only: bool,
        pseudo_fake_val: bool,
        split: Mapping[str, Any],
        split_file: str | None,
        cache_path: str | None,
        extract_workers: int | None,
        chunk_files: int,
        batch_size: int,
        eval_batch_size: int | None,
        num_workers: int,
        pin_memory: bool,
        persistent_workers: bool,
        balanced_sampler: bool,
        seed: int,
        perturb: Any = None,
        only_videos: set[str] | None = None,
    ):
        super().__init__()
        self.layout = layout
        self.root = Path(str(root))
        self.cache_dir = Path(str(cache_dir))
        self.extract_cfg = extract if isinstance(extract, ExtractConfig) else ExtractConfig.from_node(extract)
        if pseudo_fakes not in PSEUDO_FAKE_METHODS:
            raise ValueError(f"data.pseudo_fakes must be one of {PSEUDO_FAKE_METHODS}, got {pseudo_fakes!r}")
        if pseudo_fakes_only and pseudo_fakes == "none":
            raise ValueError("data.pseudo_fakes_only=true needs data.pseudo_fakes=sbi (nothing else would be fake)")
        self.pseudo_fake_method, self.pseudo_fake_ratio = str(pseudo_fakes), float(pseudo_fake_ratio)
        self.pseudo_fakes_only = bool(pseudo_fakes_only)
        if pseudo_fake_val and not self.pseudo_fakes_only:
            raise ValueError("data.pseudo_fake_val=true needs data.pseudo_fakes_only=true (val reals and their blends)")
        # The SBI setting with no fake video anywhere: dfl-train's validation (checkpoint and threshold) runs on
        # val real frames and their blends; test (and dfl-ensemble, dfl-eval) keep the data's val and test.
        self.pseudo_fake_val = bool(pseudo_fake_val)
        self._val_blends: CachedFrames | None = None
        self.pseudo_fakes: PseudoFakes | None = None  # made in setup, for the training split only
        # dfl-eval perturb=: a degradation applied before the face crop (its own cache), and the videos to keep
        # (given when the DataModule is made, never set from outside; not config keys).
        self.perturb: Any = perturb
        self.only_videos: set[str] | None = None if only_videos is None else set(only_videos)
        # The `split` group, checked at app start (config.SplitConfig); split.seed is its own key, not the model
        # seed, so runs with other model seeds share one split and can be fused.
        self.split_cfg = dict(split)
        self.split_cfg["fractions"] = [float(f) for f in self.split_cfg["fractions"]]
        # A recorded split.json (another run's): used instead of computing the split from split_cfg.
        self.split_file = Path(str(split_file)) if split_file else None
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.balanced_sampler = bool(balanced_sampler)
        self.seed = int(seed)
        # A cache built elsewhere (e.g. merged shards): used as it is, no listing or extraction.
        self.cache_path = Path(str(cache_path)) if cache_path else None
        self.extract_workers = None if extract_workers in (None, "null") else int(extract_workers)  # None: all cores
        self.chunk_files = int(chunk_files)
        self._built: FrameCache | None = None  # what build() made or found
        self.cache: FrameCache | None = None
        self.split: np.ndarray | None = None  # "train" / "val" / "test" per cache row
        self.split_record: dict[str, Any] | None = None  # what split.json holds
        self.datasets: dict[str, CachedFrames] = {}

    # --- listing (the layout's) -------------------------------------------------------------------
    def list_items(self) -> tuple[list[VideoItem], list[dict[str, str]]]:
        """(items, skipped entries such as malformed list lines, dangling symlinks), each skip logged."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"data.root={self.root} is not a folder (set data.root to the dataset folder)")
        items, skipped = self.layout.list_items(self.root, str(self.split_cfg["strategy"]))
        for entry in skipped:
            log.warning("skipping %s: %s", entry["path"], entry["reason"])
        return items, skipped

    def video_of(self, path: str) -> str:
        return self.layout.video_of(path)

    def video_view(self, index: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.layout.video_view(index)

    # --- Lightning hooks -----------------------------------------------------------------------
    def build(self) -> FrameCache:
        """Build or reuse the frame cache (frames and index only); the DataModule's prepare_data. Listed and
        loaded once per DataModule: a caller that builds before setup (dfl-eval) does not pay twice."""
        if self._built is None:
            if self.cache_path is None:
                self._built = self._build_cache()
            elif (self.cache_path / "manifest.json").is_file():
                self._built = FrameCache.load(self.cache_path)
            else:
                raise FileNotFoundError(f"data.cache_path={self.cache_path} is not a complete frame cache")
        return self._built

    def build_shard(self, shard: int, num_shards: int) -> FrameCache:
        """Extract only items[shard::num_shards] (one job of a cluster array); `merge` combines them."""
        return self._build_cache(shard=shard, num_shards=num_shards)

    def _build_cache(self, shard: int | None = None, num_shards: int = 1) -> FrameCache:
        items, skipped = self.list_items()
        if self.only_videos is not None:
            keep = self.only_videos
            items = [it for it in items if it.path in keep or self.video_of(it.path) in keep]
            skipped = [s for s in skipped if s["path"] in keep or self.video_of(s["path"]) in keep]
        return build_cache(
            self.root,
            items,
            self.extract_cfg,
            self.cache_dir,
            pre_skipped=skipped,
            shard=shard,
            num_shards=num_shards,
            workers=self.extract_workers,
            chunk_files=self.chunk_files,
            extra_key=self.perturb.key if self.perturb is not None else "",
            perturb=self.perturb,
            manifest_extra={"perturb": self.perturb.key} if self.perturb is not None else None,
        )

    def merge(self, num_shards: int) -> FrameCache:
        """Merge the shards into the full cache, as `build` would have written it."""
        items, _ = self.list_items()
        return merge_shards(self.root, items, self.extract_cfg, self.cache_dir, num_shards)

    def prepare_data(self) -> None:
        if self.cache is None:  # Lightning calls this before fit, validate and test: check the cache once
            self.build()

    def setup(self, stage: str | None = None) -> None:
        if self.cache is not None:
            return
        cache = self.build()
        cache.index = self.video_view(cache.index)
        self.cache = cache
        key = str(cache.manifest.get("key", ""))
        self.split, self.split_record = plan_split(
            cache.index, self.split_cfg, self.split_file, self.layout, self.root, key
        )
        labels = cache.index["label"]
        for s in SPLITS:
            pos = self.rows(s)
            self.datasets[s] = CachedFrames(cache.frames, cache.index["row"][pos], labels[pos])
        self.datasets["all"] = CachedFrames(cache.frames, cache.index["row"], labels)  # dfl-eval on another dataset
        log_split(self.split_record, self.class_counts_all())
        self.make_pseudo_fakes()

    # --- what models need ------------------------------------------------------------------------
    def class_counts(self, stage: str = "train") -> dict[str, int]:
        """{"real": n, "fake": n} in one split; the specialist's class weight is computed from train."""
        if self.cache is None:
            self.setup()
        return self.class_counts_all()[stage]

    def class_counts_all(self) -> dict[str, dict[str, int]]:
        if self.cache is None or self.split is None:
            self.setup()
        assert self.cache is not None and self.split is not None
        return split_counts(self.cache.index["label"], self.split)

    def dataset_summary(self) -> dict[str, Any]:
        """metrics.json's `dataset`: the split's fingerprint and settings, leak counts and class counts per split."""
        if self.split_record is None:
            self.setup()
        assert self.cache is not None and self.split_record is not None
        rec = self.split_record
        return {
            "split_fingerprint": rec["fingerprint"],
            "split": {k: rec.get(k) for k in ("strategy", "group_by", "seed", "fractions")},
            "leaks": {
                k: rec["leaks"][k]
                for k in ("identities_in_several_splits", "videos_in_several_splits", "swapped_in")
                if k in rec["leaks"]
            },  # fmt: skip
            "counts": self.class_counts_all(),
            "cache": str(self.cache.path),
        }

    def rows(self, stage: str) -> np.ndarray:
        """Positions in the cache index of one split's frames, in the order its loader yields them."""
        if self.split is None:
            self.setup()
        assert self.split is not None
        if stage == "all":
            return np.arange(len(self.split))
        mask = self.split == stage
        if stage == "train" and self.pseudo_fakes_only:
            # The SBI setting: the served training frames are the real ones; pseudo-fakes are the fakes.
            mask = mask & (self.cache.index["label"] == 0)  # type: ignore[union-attr]
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
        if self.cache is None:
            self.setup()
        ds = self.datasets[stage]
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
            if self.balanced_sampler and not (stage == "train" and self.pseudo_fakes_only):
                sampler = DistributedWeightedSampler(balanced_weights(ds.labels), len(ds), world, rank, self.seed)
            else:
                sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=self.seed)
        return DataLoader(
            ds,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=False,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=_collate_batch,
            # pseudo_fakes_only: no frame left out (a last batch of one real is two samples with its blend).
            drop_last=train and len(ds) > self.batch_size and not self.pseudo_fakes_only,
        )

    def train_dataloader(self) -> DataLoader:
        # With pseudo-fakes, training batches carry each frame's position: its face polygon is looked up by it.
        return self._loader("train", True, positions=self.pseudo_fakes is not None)

    def make_pseudo_fakes(self) -> None:
        """data.pseudo_fakes=sbi: the face polygon of every frame, from the geometry the cache stored at extraction."""
        assert self.cache is not None
        if self.pseudo_fake_method == "none":
            return
        if self.cache.geometry is None:
            raise ValueError(
                f"data.pseudo_fakes=sbi needs the face geometry stored at extraction; {self.cache.path} has none "
                "(a cache written before it existed): delete it or point paths.cache_dir elsewhere to rebuild"
            )
        landmarks = str(self.cache.manifest.get("landmarks", "box"))
        polygons = face_polygons(self.cache.geometry[self.cache.index["row"]])
        self.pseudo_fakes = PseudoFakes(polygons, self.pseudo_fake_ratio, landmarks, pairs=self.pseudo_fakes_only)
        seen = self.seen_class_counts()
        how = (
            "each real training frame once per epoch, beside its blend (SBI's pairs; training on real frames + "
            "pseudo-fakes only)"
            if self.pseudo_fakes_only
            else f"{100 * self.pseudo_fake_ratio:.0f}% of each training batch, made from its train-split real frames"
        )
        log.info(
            "pseudo-fakes: self-blended (mask: %s), %s; per epoch the model sees about %.0f real and %.0f fake frames",
            describe(landmarks), how, seen["real"], seen["fake"],
        )  # fmt: skip

    def seen_class_counts(self) -> dict[str, int]:
        """The train class counts the model sees per epoch (pseudo-fakes included): what class weights and the
        specialist's real-weight multiplier count. Equal to class_counts('train') without pseudo-fakes."""
        c = self.class_counts("train")
        if self.pseudo_fake_method == "none":
            return c
        seen = seen_counts(c["real"], c["fake"], self.pseudo_fake_ratio, self.balanced_sampler, self.pseudo_fakes_only)
        return {k: max(1, int(round(v))) for k, v in seen.items()}

    def pseudo_fake_summary(self) -> dict[str, Any] | None:
        """metrics.json `pseudo_fakes`: what was blended and how; None when off."""
        if self.pseudo_fakes is None:
            return None
        return {
            "method": "sbi (self-blended images)",
            "ratio": None if self.pseudo_fakes_only else self.pseudo_fake_ratio,
            "pairs": self.pseudo_fakes_only,  # every real frame beside its own blend, once per epoch
            "only_reals_and_pseudo_fakes": self.pseudo_fakes_only,
            "mask": describe(self.pseudo_fakes.landmarks),
            "landmarks": self.pseudo_fakes.landmarks,
            "made_from": "train-split real frames" + ("" if self.pseudo_fake_val else "; val and test never blended"),
            # What dfl-train chose its checkpoint and threshold on.
            "val": "val real frames and one self-blend of each (no fake video seen in training or validation)"
            if self.pseudo_fake_val
            else "the data's val split",
            "seen_per_epoch": self.seen_class_counts(),
        }

    def val_dataloader(self) -> DataLoader:
        if self.pseudo_fake_val:
            return DataLoader(
                self.val_blends(), batch_size=self.eval_batch_size, shuffle=False, collate_fn=_collate_batch
            )
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
        if self.pseudo_fake_val:
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


# One class per layout, so a data config names its layout by `_target_` and keeps its own keys.
class CelebDFDataModule(FrameCacheDataModule):
    """A folder in the Celeb-DF v2 layout (data/layouts/celebdf.py)."""

    def __init__(self, test_list: str | None, **kwargs: Any):
        super().__init__(CelebDF(test_list), **kwargs)


def no_test_list(test_list: str | None, layout: str) -> None:
    """data.test_list is a Celeb-DF key the other layouts' configs inherit: refuse a value they would ignore."""
    if test_list:
        raise ValueError(f"data.test_list={test_list}: a Celeb-DF setting; the {layout} layout does not read it")


class FFPPDataModule(FrameCacheDataModule):
    """FaceForensics++ (data/layouts/ffpp.py)."""

    def __init__(self, compression: str, methods: Any, test_list: str | None, **kwargs: Any):
        no_test_list(test_list, "ffpp")
        super().__init__(FFPP(compression, methods), **kwargs)


class DFDCDataModule(FrameCacheDataModule):
    """DFDC (data/layouts/dfdc.py)."""

    def __init__(self, test_list: str | None, **kwargs: Any):
        no_test_list(test_list, "dfdc")
        super().__init__(DFDC(), **kwargs)


class FrameFolderDataModule(FrameCacheDataModule):
    """A plain real/ fake/ tree (data/layouts/frames.py)."""

    def __init__(self, test_list: str | None, **kwargs: Any):
        no_test_list(test_list, "real/ fake/ folder")
        super().__init__(FrameFolders(), **kwargs)


def datamodule_from_overrides(overrides: Sequence[str], data: str = "celebdf") -> FrameCacheDataModule:
    """A DataModule of the package's `data` config group (`data=<data>`) with Hydra overrides such as
    `data.root=...`, for notebooks, benchmarks and tests: every value not overridden comes from the configs."""
    from hydra.utils import instantiate

    from deepfake_lightning.config import compose_app

    return instantiate(compose_app("extract", [f"data={data}", *overrides]).data, _convert_="all")
