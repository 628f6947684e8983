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
    # One file per chunk: each of the 3 shards extracts some of them.
    dm = make_dm(root, tmp_path / "sharded", frames_per_video=2, chunk_files=1)
    for i in range(2):
        assert dm.source.build_cache(i, 3) is None
    with pytest.raises(FileNotFoundError, match=r"shards not built yet: \[2\] of 3"):
        dm.source.build_cache(num_shards=3, merge=True)
    assert dm.source.build_cache(2, 3) is None
    merged = dm.source.build_cache(num_shards=3, merge=True)
    assert merged.path.name == one.path.name
    assert np.array_equal(np.asarray(merged.frames), np.asarray(one.frames))
    assert (merged.path / INDEX_FILE).read_text() == (one.path / INDEX_FILE).read_text()
    assert (merged.path / MANIFEST_FILE).read_text() == (one.path / MANIFEST_FILE).read_text()
