"""Frame cache: built once, reused, rebuilt on change, atomic under a kill, bad files listed."""

import json
import logging
import subprocess
import sys
import textwrap
import time

import numpy as np

from deepfake_lightning.data.build import build_cache
from deepfake_lightning.data.cache import MANIFEST_FILE
from deepfake_lightning.data.extract import packaged_extract_config
from deepfake_lightning.data.layouts.celebdf import list_celebdf
from tests.conftest import make_dm


def test_reuse_and_rebuild(tiny_root, tmp_path, caplog):
    items = list_celebdf(tiny_root)[:6]
    cfg = packaged_extract_config(image_size=24)
    a = build_cache(tiny_root, items, cfg, tmp_path, chunk_files=32)
    assert a.frames.shape == (6, 24, 24, 3) and a.frames.dtype == np.uint8
    with caplog.at_level(logging.INFO):
        b = build_cache(tiny_root, items, cfg, tmp_path, chunk_files=32)
    assert b.path == a.path and "reusing" in caplog.text
    c = build_cache(
        tiny_root, items, packaged_extract_config(image_size=24, frames_per_video=2), tmp_path, chunk_files=32
    )
    assert c.path != a.path and len(c) == 12
    d = build_cache(tiny_root, items[:5], cfg, tmp_path, chunk_files=32)
    assert d.path != a.path and len(d) == 5


def test_bad_files_are_listed_and_the_rest_is_kept(tiny_root, tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(tiny_root, root)
    (root / "Celeb-real" / "id0_9998.mp4").write_bytes(b"")
    (root / "Celeb-real" / "id0_9999.mp4").write_text("not a video")
    with open(root / "List_of_testing_videos.txt", "a") as f:
        f.write("1 Celeb-real/id9_0000.mp4\nnonsense line\n")
    dm = make_dm(root, tmp_path / "cache")
    m = dm.source.build().manifest
    reasons = {s["path"]: s["reason"] for s in m["skipped"]}
    assert "empty" in reasons["Celeb-real/id0_9998.mp4"]
    assert "Celeb-real/id0_9999.mp4" in reasons
    assert "missing" in reasons["Celeb-real/id9_0000.mp4"]
    assert any("malformed" in r for r in reasons.values())
    assert m["n_frames"] == 56
    assert m["counts"]["real"] + m["counts"]["fake"] == 56 and "split" not in dm.source.build().index


def test_killed_build_resumes_and_matches_an_uninterrupted_build(tiny_root, tmp_path, caplog):
    script = textwrap.dedent(
        f"""
        import time
        import deepfake_lightning.data.build as b
        from deepfake_lightning.data.layouts.celebdf import list_celebdf
        from deepfake_lightning.data.extract import packaged_extract_config
        orig = b.extract_item
        def slow(*a, **k):
            time.sleep(0.2)
            return orig(*a, **k)
        b.extract_item = slow
        root = {str(tiny_root)!r}
        b.build_cache(root, list_celebdf(root), packaged_extract_config(image_size=24), {str(tmp_path)!r}, chunk_files=4)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while len(list(tmp_path.glob(".building-*/chunk-*/rows.json"))) < 3 and time.time() < deadline:
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    assert not list(tmp_path.glob("*/" + MANIFEST_FILE)), "a killed build left a cache that looks complete"
    done = len(list(tmp_path.glob(".building-*/chunk-*/rows.json")))
    assert 3 <= done < 14
    items = list_celebdf(tiny_root)
    with caplog.at_level("INFO"):
        rebuilt = build_cache(tiny_root, items, packaged_extract_config(image_size=24), tmp_path, chunk_files=4)
    assert f"resuming: {4 * done} of {len(items)} files already extracted" in caplog.text
    fresh = build_cache(tiny_root, items, packaged_extract_config(image_size=24), tmp_path / "fresh", chunk_files=4)
    for name in ("frames.u8", "index.csv", MANIFEST_FILE):
        assert (rebuilt.path / name).read_bytes() == (fresh.path / name).read_bytes(), name
    assert json.loads((rebuilt.path / MANIFEST_FILE).read_text())["n_frames"] == len(items)
    assert not list(tmp_path.glob(".building-*")), "the build folder is removed once the cache is in place"


def test_two_workers_give_the_same_bytes_as_one(tiny_root, tmp_path):
    items = list_celebdf(tiny_root)
    cfg = packaged_extract_config(image_size=24, frames_per_video=2)
    one = build_cache(tiny_root, items, cfg, tmp_path / "one", workers=1, chunk_files=8)
    two = build_cache(tiny_root, items, cfg, tmp_path / "two", workers=2, chunk_files=8)
    for name in ("frames.u8", "index.csv"):
        assert (one.path / name).read_bytes() == (two.path / name).read_bytes(), name
    m1, m2 = (json.loads((c.path / MANIFEST_FILE).read_text()) for c in (one, two))
    assert m1 == m2
