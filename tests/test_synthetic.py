"""The embedded dataset: layout, label convention of the test list, determinism."""

import hashlib

from deepfake_lightning.data.layouts.celebdf import list_celebdf, parse_test_list
from deepfake_lightning.data.synthetic import generate_dataset
from tests.conftest import TINY


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_layout_and_counts(tiny_root):
    items = list_celebdf(tiny_root)
    real = [i for i in items if i.label == 0]
    fake = [i for i in items if i.label == 1]
    assert len(real) == TINY["num_real"] and len(fake) == TINY["num_fake"]
    assert any(i.path.startswith("YouTube-real/") for i in real)
    assert all(i.path.startswith("Celeb-synthesis/id") for i in fake)
    # Fakes are idA_idB_NNNN with A != B, and their source video idA_NNNN exists.
    for f in fake:
        a, b, n = f.path.split("/")[1][:-4].split("_")
        assert a != b and (tiny_root / f"Celeb-real/{a}_{n}.mp4").is_file()


def test_test_list_uses_one_for_real(tiny_root):
    lines = (tiny_root / "List_of_testing_videos.txt").read_text().splitlines()
    for line in lines:
        flag, path = line.split()
        assert flag == ("1" if "real" in path.split("/")[0] else "0")
    labels, bad = parse_test_list(tiny_root / "List_of_testing_videos.txt")
    assert not bad and all(labels[p] == (0 if "real" in p.split("/")[0] else 1) for p in labels)


def test_same_seed_same_bytes(tmp_path):
    small = dict(TINY, num_real=4, num_fake=6, num_identities=3, frames_per_video=4)
    generate_dataset(tmp_path / "a", seed=5, **small)
    generate_dataset(tmp_path / "b", seed=5, **small)
    generate_dataset(tmp_path / "c", seed=6, **small)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
