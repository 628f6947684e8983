"""The evaluation protocol: threshold from validation, figures on test, frame and video level, paper protocol apart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.thresholds import select_threshold, sweep_thresholds

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
    kw = {k: threshold[k] for k in ("criterion", "min_fake_recall", "fallback") if k in threshold}
    out = {}
    for how in AGGREGATES:
        vv = aggregate_videos(val, how)
        out[how] = select_threshold(sweep_thresholds(vv.labels, vv.p_fake, step), **kw).threshold
    return out


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
) -> dict[str, Any]:
    """Choose the threshold on `val` with the `threshold` config, then report `test` at it and at 0.5.

    With `paper_protocol`, also the paper's way (threshold chosen on test itself), kept apart and labelled.
    """
    step = float(threshold.get("step", 0.01))
    kw = {k: threshold[k] for k in ("criterion", "min_fake_recall", "fallback") if k in threshold}
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
    if paper_protocol:
        pc = select_threshold(out["threshold_sweep_test"], **kw)
        out["paper_protocol"] = {
            "threshold": pc.threshold,
            "chosen_on": "test",
            "note": "threshold chosen on the test split itself, as the paper did: optimistic, not a held-out figure",
            "test": detection_metrics(test.labels, test.p_fake, pc.threshold),
        }
    return out
