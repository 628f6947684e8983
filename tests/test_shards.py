"""Sharded extraction merged equals the unsharded cache, byte for byte."""

import shutil

import numpy as np
import pytest

from deepfake_lightning.data.cache import INDEX_FILE, MANIFEST_FILE
from tests.conftest import make_dm


def test_sharded_then_merged_equals_unsharded(tiny_root, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(tiny_root, root)
    (root / "Celeb-real" / "id0_9999.mp4").write_bytes(b"broken")
    one = make_dm(root, tmp_path / "one", frames_per_video=2).source.build()
    dm = make_dm(root, tmp_path / "sharded", frames_per_video=2)
    with pytest.raises(FileNotFoundError, match="shards not built"):
        dm.source.merge(3)
    for i in range(3):
        dm.source.build_shard(i, 3)
    merged = dm.source.merge(3)
    assert merged.path.name == one.path.name
    assert np.array_equal(np.asarray(merged.frames), np.asarray(one.frames))
    assert (merged.path / INDEX_FILE).read_text() == (one.path / INDEX_FILE).read_text()
    assert (merged.path / MANIFEST_FILE).read_text() == (one.path / MANIFEST_FILE).read_text()
