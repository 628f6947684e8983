"""Split strategies: proportions, determinism and the no-leak guarantee."""

import numpy as np
import pytest

from deepfake_lightning.data.splits import grouped_split, make_split, official_split, stratified_split


def _data(n_real=100, n_fake=500, k=3):
    labels = np.repeat(np.r_[np.zeros(n_real, int), np.ones(n_fake, int)], k)
    videos = np.repeat(np.array([f"v{i}" for i in range(n_real + n_fake)], dtype=object), k)
    ids = np.array([f"id{int(v[1:]) % 17}" for v in videos], dtype=object)
    return labels, videos, ids


def test_stratified_proportions_and_seed():
    labels, _, _ = _data(k=1)
    s = stratified_split(labels, (0.7, 0.2, 0.1), seed=0)
    for c, n in ((0, 100), (1, 500)):
        assert [(s[labels == c] == x).sum() for x in ("train", "val", "test")] == [0.7 * n, 0.2 * n, 0.1 * n]
    assert (s == stratified_split(labels, (0.7, 0.2, 0.1), seed=0)).all()
    assert (s != stratified_split(labels, (0.7, 0.2, 0.1), seed=1)).any()


@pytest.mark.parametrize("group_by", ["video", "identity"])
def test_grouped_no_leak_and_near_fractions(group_by):
    labels, videos, ids = _data()
    s = make_split("grouped", labels, videos, ids, (0.7, 0.2, 0.1), 0, group_by, None)
    groups = videos if group_by == "video" else ids
    for g in np.unique(groups):
        assert len(set(s[groups == g])) == 1, f"{g} is in two splits"
    if group_by == "video":
        for c in (0, 1):
            share = np.mean(s[labels == c] == "train")
            assert abs(share - 0.7) < 0.03


def test_official_test_list_is_test_and_never_leaks():
    labels, videos, ids = _data()
    in_test = np.isin(videos, [f"v{i}" for i in range(0, 600, 9)])
    s = official_split(labels, videos, in_test, (0.7, 0.2, 0.1), 0)
    assert (s[in_test] == "test").all() and not (s[~in_test] == "test").any()
    train_videos = set(videos[s == "train"]) | set(videos[s == "val"])
    assert not train_videos & set(videos[in_test])


def test_bad_fractions_name_the_key():
    labels, videos, ids = _data(k=1)
    with pytest.raises(ValueError, match="split.fractions"):
        stratified_split(labels, (0.7, 0.2, 0.2), 0)
    with pytest.raises(ValueError, match="split.strategy"):
        make_split("nope", labels, videos, ids, (0.7, 0.2, 0.1), 0, "video", None)
    with pytest.raises(ValueError, match="official"):
        make_split("official", labels, videos, ids, (0.7, 0.2, 0.1), 0, "video", None)


def test_grouped_split_helper_keeps_groups_whole():
    labels = np.array([0, 0, 1, 1, 1, 1])
    groups = np.array(["a", "a", "b", "b", "c", "c"], dtype=object)
    s = grouped_split(labels, groups, (0.5, 0.5, 0.0), 0)
    assert s[0] == s[1] and s[2] == s[3] and s[4] == s[5] and "test" not in set(s)
