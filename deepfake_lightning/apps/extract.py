"""dfl-extract: extract frames into the cache, then make the configured split and record it (split.json)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from deepfake_lightning.apps.common import app_start, hydra_app
from deepfake_lightning.data.datamodule import FrameCacheDataModule
from deepfake_lightning.results import write_split

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    """Build (or reuse) the cache for `cfg.data`, write this split to the run folder; returns the manifest."""
    app_start(cfg)
    dm: FrameCacheDataModule = hydra.utils.instantiate(cfg.data)
    num_shards = int(cfg.num_shards)
    if num_shards > 1 and not cfg.merge:
        cache = dm.source.build_cache(int(cfg.shard), num_shards)
        print(
            f"shard {cfg.shard} of {num_shards}: " + ("extracted" if cache is None else f"cache complete: {cache.path}")
        )
        return {} if cache is None else cache.manifest
    if num_shards > 1:
        dm.source.build_cache(num_shards=num_shards, merge=True)
    dm.setup()
    cache, rec = dm.cache, dm.split_record
    assert cache is not None and rec is not None
    m = cache.manifest
    print(f"frame cache: {cache.path}")
    print(f"frames: {m['n_frames']} from {m['n_files']} files; faces: {m['faces']}; skipped: {len(m['skipped'])}")
    for s in m["skipped"][:20]:
        print(f"  skipped {s['path']}: {s['reason']}")
    path = write_split(rec, Path(cfg.paths.output_dir), overwrite=True)
    leaks = rec["leaks"]
    print(f"split {rec['strategy']} (group_by={rec['group_by']}, split.seed={rec['seed']}): {path}")
    print(f"  fingerprint {rec['fingerprint']}; counts per split: " + json.dumps(dm.class_counts_all()))
    print(
        f"  leak report: {leaks['identities_in_several_splits']} identities and "
        f"{leaks['videos_in_several_splits']} videos in more than one split"
    )
    return m


main = hydra_app("extract", run)


if __name__ == "__main__":
    main()
