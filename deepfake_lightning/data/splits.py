"""Seeded train/val/test splits: stratified (the paper), grouped by video or identity, or the official test list."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "val", "test")
STRATEGIES = ("stratified", "grouped", "official")


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate split.fractions: three non-negative numbers that sum to 1."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split.fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def stratified_split(labels: np.ndarray, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Per-frame split, stratified by label: each class is shuffled and cut at the fractions (70/20/10 in the paper)."""
    fr = check_fractions(fractions)
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_train = int(round(fr[0] * len(idx)))
        n_val = int(round(fr[1] * len(idx)))
        out[idx[:n_train]] = "train"
        out[idx[n_train : n_train + n_val]] = "val"
        out[idx[n_train + n_val :]] = "test"
    return out


def grouped_split(
    labels: np.ndarray, groups: np.ndarray, fractions: Sequence[float], seed: int, names: Sequence[str] = SPLITS
) -> np.ndarray:
    """Split whole groups (videos or identities), keeping each split's class mix near the fractions.

    Groups are visited largest first (random order among equal sizes) and each goes to the split
    whose per-class quota it fills best; every frame of a group lands in the same split.
    """
    fr = np.array(check_fractions(fractions) if len(fractions) == 3 else fractions, dtype=float)
    rng = np.random.default_rng(seed)
    uniq, inverse = np.unique(groups.astype(str), return_inverse=True)
    classes = np.unique(labels)
    counts = np.zeros((len(uniq), len(classes)))
    for j, c in enumerate(classes):
        counts[:, j] = np.bincount(inverse, weights=(labels == c).astype(float), minlength=len(uniq))
    target = fr[:, None] * counts.sum(0)[None, :]
    current = np.zeros_like(target)
    order = rng.permutation(len(uniq))
    order = order[np.argsort(-counts[order].sum(1), kind="stable")]
    assigned = np.empty(len(uniq), dtype=int)
    for g in order:
        need = (target - current) / np.maximum(target, 1.0)
        score = (need * counts[g][None, :]).sum(1)
        score[fr == 0] = -np.inf
        s = int(np.argmax(score))
        assigned[g] = s
        current[s] += counts[g]
    return np.array(names, dtype=object)[assigned[inverse]]


def official_split(
    labels: np.ndarray, groups: np.ndarray, in_test_list: np.ndarray, fractions: Sequence[float], seed: int
) -> np.ndarray:
    """The official list is the test split; the rest is split train/val (stratified, grouped) in the fractions' ratio."""
    fr = check_fractions(fractions)
    out = np.empty(len(labels), dtype=object)
    out[in_test_list] = "test"
    rest = ~in_test_list
    if rest.any():
        tv = np.array([fr[0], fr[1]]) / max(fr[0] + fr[1], 1e-12)
        out[rest] = grouped_split(labels[rest], groups[rest], tv, seed, names=("train", "val"))
    return out


def make_split(
    strategy: str,
    labels: np.ndarray,
    videos: np.ndarray,
    identities: np.ndarray,
    fractions: Sequence[float] = (0.7, 0.2, 0.1),
    seed: int = 0,
    group_by: str = "video",
    in_test_list: np.ndarray | None = None,
) -> np.ndarray:
    """Dispatch on `split.strategy`; returns "train" / "val" / "test" per frame."""
    if group_by not in ("video", "identity"):
        raise ValueError(f"split.group_by must be 'video' or 'identity', got {group_by!r}")
    groups = videos if group_by == "video" else identities
    if strategy == "stratified":
        return stratified_split(labels, fractions, seed)
    if strategy == "grouped":
        return grouped_split(labels, groups, fractions, seed)
    if strategy == "official":
        if in_test_list is None or not in_test_list.any():
            raise ValueError("split.strategy=official needs List_of_testing_videos.txt naming videos in the cache")
        return official_split(labels, groups, in_test_list, fractions, seed)
    raise ValueError(f"split.strategy must be one of {STRATEGIES}, got {strategy!r}")
