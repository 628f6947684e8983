"""DataModules: batches, labels, counts, splits (never written to the cache), sampler balance, errors naming keys."""

import numpy as np
import pytest
import torch

from deepfake_lightning.data.datamodule import balanced_weights
from tests.conftest import TINY, make_dm


def test_batches_and_counts(tiny_dm):
    images, labels = next(iter(tiny_dm.train_dataloader()))
    assert images.shape == (8, 3, 40, 40) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and set(labels.tolist()) <= {0, 1}
    counts = tiny_dm.class_counts_all()
    assert sum(c["real"] for c in counts.values()) == 2 * TINY["num_real"]
    assert sum(c["fake"] for c in counts.values()) == 2 * TINY["num_fake"]
    assert tiny_dm.class_counts("train") == counts["train"]
    m = tiny_dm.cache.manifest
    assert m["counts"] == {"real": 2 * TINY["num_real"], "fake": 2 * TINY["num_fake"]}
    assert set(tiny_dm.split) == {"train", "val", "test"} and "split" not in tiny_dm.cache.index


def test_labels_follow_the_folders(tiny_dm):
    idx = tiny_dm.cache.index
    for v, lab in zip(idx["video"], idx["label"]):
        assert lab == (1 if v.startswith("Celeb-synthesis") else 0)


def test_official_split_keeps_test_videos_out(tiny_root, tmp_path):
    dm = make_dm(tiny_root, tmp_path, split={"strategy": "official"}, frames_per_video=2)
    dm.setup()
    listed = {line.split()[1] for line in (tiny_root / "List_of_testing_videos.txt").read_text().splitlines()}
    idx = dm.cache.index
    assert set(idx["video"][dm.split == "test"]) == listed
    assert not set(idx["video"][dm.split != "test"]) & listed


def test_balanced_sampler_is_balanced_in_expectation(tiny_root, tmp_path):
    dm = make_dm(tiny_root, tmp_path, balanced_sampler=True, batch_size=16)
    dm.setup()
    drawn = torch.cat([torch.cat([y for _, y in dm.train_dataloader()]) for _ in range(20)]).float()
    assert abs(drawn.mean().item() - 0.5) < 0.08
    w = balanced_weights(np.array([0, 1, 1, 1]))
    assert torch.allclose(w, torch.tensor([1.0, 1 / 3, 1 / 3, 1 / 3], dtype=torch.double))


def test_missing_root_names_the_key(tmp_path):
    dm = make_dm(tmp_path / "nope", tmp_path)
    with pytest.raises(FileNotFoundError, match="data.root"):
        dm.prepare_data()
    dm = make_dm(tmp_path, tmp_path, split={"strategy": "official"})
    with pytest.raises(FileNotFoundError, match="data.test_list"):
        dm.prepare_data()


def test_frame_folder_datamodule(tmp_path):
    import cv2

    for sub, val in (("real", 60), ("fake", 190)):
        (tmp_path / "d" / sub).mkdir(parents=True)
        for i in range(5):
            cv2.imwrite(str(tmp_path / "d" / sub / f"{i}.png"), np.full((30, 50, 3), val + i, np.uint8))
    dm = make_dm(tmp_path / "d", tmp_path / "c", "frames", image_size=16, batch_size=4)
    dm.setup()
    idx = dm.cache.index
    assert len(idx["label"]) == 10 and sorted(idx["label"].tolist()) == [0] * 5 + [1] * 5
