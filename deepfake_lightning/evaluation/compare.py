"""Two recipes compared over model seeds, paired on one test split: the difference per seed, and an interval that
counts both the spread between seeds and the test set's own sampling (whole identity groups resampled).

Written here rather than with a library: the interval combines a t-interval over seeds with a grouped,
class-stratified bootstrap of the test items shared by every seed and both recipes; no statistics package offers
that pairing. The figures inside are statistics.weighted_metrics, checked against sklearn and torchmetrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.claims import COMPARED, seed_differences, seed_interval
from deepfake_lightning.evaluation.statistics import (
    MIN_GROUPS,
    few_groups,
    group_counts,
)


@dataclass(frozen=True)
class TestScores:
    """One trained model's test scores: p_fake per item, its val-chosen threshold, and each item's key (video and
    frame, to pair items across models) and group (identity, or the video where the data names none)."""

    keys: np.ndarray
    labels: np.ndarray
    p_fake: np.ndarray
    threshold: float
    groups: np.ndarray

    def aligned(self, keys: np.ndarray) -> TestScores:
        """The same scores in the order of `keys` (every key must be present)."""
        where = {k: i for i, k in enumerate(self.keys.tolist())}
        missing = [k for k in keys.tolist() if k not in where]
        if missing:
            raise ValueError(f"{len(missing)} test item(s) of one model are missing from another, e.g. {missing[:3]}")
        idx = np.array([where[k] for k in keys.tolist()], dtype=int)
        return TestScores(keys, self.labels[idx], self.p_fake[idx], self.threshold, self.groups[idx])


def verdict(diff: Mapping[str, Any]) -> str:
    """`higher` / `lower` when the interval excludes 0, else `not shown`."""
    if diff["ci"] is None:
        return "not shown"
    lo, hi = diff["ci"]
    return "higher" if lo > 0 else ("lower" if hi < 0 else "not shown")


def compare_recipes(
    a: Sequence[TestScores],
    b: Sequence[TestScores],
    n_boot: int,
    seed: int,
    level: float,
    keys: Sequence[str] = COMPARED,
) -> dict[str, Any]:
    """b - a for each figure in `keys`, seed by seed (a[i] and b[i] share the model seed and the test split).

    Each model is scored at its own val-chosen threshold, held fixed over the test resamples (not re-chosen). The
    test resamples are whole groups (group_weights), the same for every seed and both recipes.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"give the same number of seeds for both recipes ({len(a)} vs {len(b)})")
    ref = a[0]
    a = [s.aligned(ref.keys) for s in a]
    b = [s.aligned(ref.keys) for s in b]
    for s in (*a, *b):
        if not np.array_equal(s.labels, ref.labels):
            raise ValueError("the models' test labels differ: not the same test split")
    # Every seed on ref's groups: the resamples are shared by every seed and both recipes.
    per_seed = [{"test_labels": ref.labels, "test_groups": ref.groups, "p_new": sb.p_fake, "t_new": sb.threshold,
                 "p_base": sa.p_fake, "t_base": sa.threshold} for sa, sb in zip(a, b)]  # fmt: skip
    new, base, boots, _ = seed_differences(per_seed, keys, n_boot, seed, {})
    out: dict[str, Any] = {
        "n_seeds": len(a),
        "n_items": int(len(ref.labels)),
        "n_groups": {
            "with_real": int(len(np.unique(ref.groups[ref.labels == 0]))),
            "all": int(len(np.unique(ref.groups))),
        },
        "groups": {**(c := group_counts(ref.groups, ref.labels)), "few": few_groups(c), "min_groups": MIN_GROUPS},
        "level": level,
        "n_boot": n_boot,
        "held_fixed": "each model's val-chosen threshold (not re-chosen per resample)",
    }
    for k in keys:
        diff = seed_interval(new[k] - base[k], boots[k], level)
        diff["a"], diff["b"] = base[k].tolist(), new[k].tolist()
        diff["verdict"] = verdict(diff)
        out[k] = diff
    return out


def run_test_scores(run: str | Path, device: str = "cpu", batch_size: int | None = None) -> TestScores:
    """A trained run's (a dfl-train folder, or a dfl-ensemble folder) p_fake on its own test split, at its stored
    val-chosen threshold; items keyed `video#frame`, grouped as its intervals resample (identities where the split
    grouped by identity, else videos). Kept beside the run in test_scores.npz, keyed by the checkpoint's mtime."""
    from deepfake_lightning.evaluation.finished_run import score_models
    from deepfake_lightning.models.loading import datamodule_from_run, load_predictor

    run = Path(run)
    stamp = max(p.stat().st_mtime_ns for p in run.rglob("*.ckpt"))
    cached = run / SCORES_FILE
    if cached.is_file():  # before loading the model: a cached run needs none of it
        z = np.load(cached, allow_pickle=False)
        if int(z["stamp"]) == stamp:
            return TestScores(z["keys"], z["labels"], z["p_fake"], float(z["threshold"]), z["groups"])
    pred = load_predictor(run)
    dm = datamodule_from_run(pred.data_config, batch_size, run / "split.json")  # batch_size None: the run's own
    dm.setup()
    test = score_models(pred, {pred.name: {}}, dm, device, "test")[pred.name]  # grouped as the split is
    videos, groups = test.videos.astype(str), test.groups.astype(str)
    keys = np.char.add(np.char.add(videos, "#"), dm.cache.index["frame"][dm.rows("test")].astype(str))
    scores = TestScores(keys, test.labels, test.p_fake, pred.threshold, groups)
    np.savez(cached, stamp=stamp, keys=keys, labels=scores.labels, p_fake=scores.p_fake, threshold=pred.threshold,
             groups=groups)  # fmt: skip
    return scores


SCORES_FILE = "test_scores.npz"
