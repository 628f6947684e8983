"""dfl-extract: extract frames into the cache, split them, and print per-split class counts."""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig

from deepfake_lightning.apps.common import CONFIG_DIR
from deepfake_lightning.data.datamodule import FrameCacheDataModule

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    """Build (or reuse) the cache for `cfg.data` and return its manifest."""
    dm: FrameCacheDataModule = hydra.utils.instantiate(cfg.data)
    num_shards = int(cfg.get("num_shards", 1))
    if num_shards > 1 and not cfg.get("merge", False):
        cache = dm.build_shard(int(cfg.shard), num_shards)
        print(f"shard {cfg.shard} of {num_shards}: {len(cache)} frames in {cache.path}")
        return cache.manifest
    cache = dm.merge(num_shards) if num_shards > 1 else dm.build()
    m = cache.manifest
    print(f"frame cache: {cache.path}")
    print(f"frames: {m['n_frames']} from {m['n_files']} files; faces: {m['faces']}; skipped: {len(m['skipped'])}")
    for s in m["skipped"][:20]:
        print(f"  skipped {s['path']}: {s['reason']}")
    print("counts per split: " + json.dumps(m["counts"]))
    return m


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="extract")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
