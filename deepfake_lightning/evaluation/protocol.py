"""The evaluation protocol: threshold from validation, figures on test, frame and video level, paper protocol apart."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.statistics import (
    bootstrap_ci,
    degenerate_threshold,
    percentile_interval,
    rechosen_thresholds,
)
from deepfake_lightning.evaluation.thresholds import rule_kwargs, select_threshold, sweep_thresholds

log = logging.getLogger(__name__)

FIXED_THRESHOLDS = (0.25, 0.50, 0.75, 0.00)  # the paper's figure 10
AGGREGATES = {"mean": np.mean, "max": np.max, "median": np.median}


@dataclass
class Scores:
    """Per-frame labels, p_fake and the video each frame came from."""

    labels: np.ndarray
    p_fake: np.ndarray
    videos: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels).astype(int)
        self.p_fake = np.asarray(self.p_fake, dtype=np.float64)
        self.videos = np.asarray(self.videos, dtype=object)
        if not len(self.labels) == len(self.p_fake) == len(self.videos):
            raise ValueError("Scores: labels, p_fake and videos differ in length")


def aggregate_videos(scores: Scores, how: str = "mean") -> Scores:
    """One score per video: the mean (or max, median) of its frames' p_fake; the video's label."""
    if how not in AGGREGATES:
        raise ValueError(f"video.aggregate must be one of {sorted(AGGREGATES)}, got {how!r}")
    names, inverse = np.unique(scores.videos.astype(str), return_inverse=True)
    p = np.array([AGGREGATES[how](scores.p_fake[inverse == i]) for i in range(len(names))])
    labels = np.array([scores.labels[inverse == i][0] for i in range(len(names))])
    return Scores(labels, p, names.astype(object))


def video_thresholds(val: Scores, threshold: Mapping[str, Any]) -> dict[str, float]:
    """For each video aggregate (mean, max, median): the threshold chosen on val's video scores.

    A video's aggregated p_fake is not distributed like a frame's, so applying the frame threshold
    to it would be a different rule from the one validated; predict uses these for videos.
    """
    step = float(threshold.get("step", 0.01))
    kw = rule_kwargs(threshold)
    out = {}
    for how in AGGREGATES:
        vv = aggregate_videos(val, how)
        out[how] = select_threshold(sweep_thresholds(vv.labels, vv.p_fake, step), **kw).threshold
    return out


def add_intervals(
    block: dict[str, Any],
    val: Scores,
    test: Scores,
    rule: Mapping[str, Any],
    bootstrap: Mapping[str, Any],
    video_aggregate: str = "mean",
) -> None:
    """Add `test_ci`, `test_at_0.5_ci` and `video_level.test_ci` (video resamples) to an evaluated block.

    With `rechoose_threshold`, the val-chosen threshold is chosen again on a video resample of val for
    each test resample, so the interval carries the threshold's own variability.
    """
    n, seed, level = int(bootstrap["n"]), int(bootstrap.get("seed", 0)), float(bootstrap.get("level", 0.95))
    t: float | np.ndarray = block["threshold"]
    if bootstrap.get("rechoose_threshold", True):
        t = rechosen_thresholds(val.labels, val.p_fake, val.videos, rule, n, seed + 1)
        block["threshold_ci"] = percentile_interval(t, level)
    block["test_ci"] = bootstrap_ci(test.labels, test.p_fake, test.videos, t, n, seed, level)
    block["test_at_0.5_ci"] = bootstrap_ci(test.labels, test.p_fake, test.videos, 0.5, n, seed, level)
    block["bootstrap"] = {"n": n, "seed": seed, "level": level, "resampled": "videos",
                          "threshold_rechosen_on_val_resamples": bool(bootstrap.get("rechoose_threshold", True))}  # fmt: skip
    if "video_level" in block:
        tv = aggregate_videos(test, video_aggregate)
        vl = block["video_level"]
        vl["test_ci"] = bootstrap_ci(tv.labels, tv.p_fake, tv.videos, vl["threshold"], n, seed, level)


def fixed_threshold_table(scores: Scores) -> list[dict[str, float]]:
    """Fake-class F1, precision and recall at 0.25, 0.50, 0.75 and 0.00."""
    rows = []
    for t in FIXED_THRESHOLDS:
        m = detection_metrics(scores.labels, scores.p_fake, t)
        rows.append(
            {
                "threshold": t,
                "fake_f1": m["fake_f1"],
                "fake_precision": m["fake_precision"],
                "fake_recall": m["fake_recall"],
            }
        )
    return rows


def evaluate_scores(
    val: Scores,
    test: Scores,
    threshold: Mapping[str, Any],
    video_aggregate: str = "mean",
    paper_protocol: bool = False,
    bootstrap: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Choose the threshold on `val` with the `threshold` config, then report `test` at it and at 0.5.

    With `paper_protocol`, also the paper's way (threshold chosen on test itself), kept apart and labelled.
    With `bootstrap` ({n, seed, level, rechoose_threshold}), each test block gets a sibling `<block>_ci`
    of 95% intervals resampling whole videos (see evaluation/statistics.py).
    """
    step = float(threshold.get("step", 0.01))
    kw = rule_kwargs(threshold)
    sweep = sweep_thresholds(val.labels, val.p_fake, step)
    choice = select_threshold(sweep, **kw)
    t = choice.threshold
    out: dict[str, Any] = {
        "threshold": t,
        "threshold_choice": {"criterion": choice.criterion, "chosen_on": "val", "note": choice.note, **kw},
        "val": detection_metrics(val.labels, val.p_fake, t),
        "test": detection_metrics(test.labels, test.p_fake, t),
        "test_at_0.5": detection_metrics(test.labels, test.p_fake, 0.5),
        "fixed_thresholds": fixed_threshold_table(test),
        "threshold_sweep_val": sweep,
        "threshold_sweep_test": sweep_thresholds(test.labels, test.p_fake, step),
    }
    if len(np.unique(test.videos.astype(str))) < len(test.videos):
        tv = aggregate_videos(test, video_aggregate)
        vv = aggregate_videos(val, video_aggregate)
        vt = select_threshold(sweep_thresholds(vv.labels, vv.p_fake, step), **kw).threshold
        out["video_level"] = {
            "aggregate": video_aggregate,
            "threshold": vt,
            "test": detection_metrics(tv.labels, tv.p_fake, vt),
            "test_at_0.5": detection_metrics(tv.labels, tv.p_fake, 0.5),
        }
    degenerate = degenerate_threshold(val.labels, val.p_fake, t)
    if degenerate:
        # The rule's constraint could only be met by flagging everything (or nothing): say so, and show
        # what the balanced-accuracy criterion would have given.
        alt = select_threshold(sweep, "balanced_accuracy")
        out["degenerate_threshold"] = {
            "flags": degenerate,
            "note": f"the val-chosen threshold {t:.2f} calls {degenerate} on val; "
            f"the balanced_accuracy criterion would choose {alt.threshold:.2f}",
            "balanced_accuracy_threshold": alt.threshold,
            "test_at_balanced_accuracy_threshold": detection_metrics(test.labels, test.p_fake, alt.threshold),
        }
        log.warning("degenerate threshold: %s", out["degenerate_threshold"]["note"])
    if bootstrap and int(bootstrap.get("n", 0)) > 0:
        add_intervals(out, val, test, threshold, bootstrap, video_aggregate)
    if paper_protocol:
        pc = select_threshold(out["threshold_sweep_test"], **kw)
        out["paper_protocol"] = {
            "threshold": pc.threshold,
            "chosen_on": "test",
            "note": "threshold chosen on the test split itself, as the paper did: optimistic, not a held-out figure",
            "test": detection_metrics(test.labels, test.p_fake, pc.threshold),
        }
    return out
