"""The evaluation protocol: threshold from validation, figures on test, frame and video level, paper protocol apart."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfake_lightning.evaluation.deployment import deployment_rates
from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.statistics import (
    MIN_GROUPS,
    Rechosen,
    degenerate_threshold,
    few_groups,
    group_counts,
    intervals,
    outside,
    percentile_interval,
    rechosen_thresholds,
    resampled_at,
    resampled_metrics,
)
from deepfake_lightning.evaluation.thresholds import rule_kwargs, select_threshold, sweep_thresholds

log = logging.getLogger(__name__)

FIXED_THRESHOLDS = (0.25, 0.50, 0.75, 0.00)  # the paper's figure 10
AGGREGATES = {"mean": np.mean, "max": np.max, "median": np.median}


@dataclass
class Scores:
    """Per-frame labels, p_fake, the video each frame came from, and the group an interval resamples whole
    (`groups`: the identity where the split grouped by identity, else the video; `group_unit` names which)."""

    labels: np.ndarray
    p_fake: np.ndarray
    videos: np.ndarray
    groups: np.ndarray | None = None
    group_unit: str = "video"

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels).astype(int)
        self.p_fake = np.asarray(self.p_fake, dtype=np.float64)
        self.videos = np.asarray(self.videos, dtype=object)
        self.groups = self.videos if self.groups is None else np.asarray(self.groups, dtype=object)
        if not len(self.labels) == len(self.p_fake) == len(self.videos) == len(self.groups):
            raise ValueError("Scores: labels, p_fake, videos and groups differ in length")


def aggregate_videos(scores: Scores, how: str) -> Scores:
    """One score per video: the mean (or max, median) of its frames' p_fake; the video's label and group."""
    names, first, inverse = np.unique(scores.videos.astype(str), return_index=True, return_inverse=True)
    p = np.array([AGGREGATES[how](scores.p_fake[inverse == i]) for i in range(len(names))])
    labels = np.array([scores.labels[inverse == i][0] for i in range(len(names))])
    return Scores(labels, p, names.astype(object), scores.groups[first], scores.group_unit)


def video_thresholds(val: Scores, threshold: Mapping[str, Any]) -> dict[str, float]:
    """For each video aggregate (mean, max, median): the threshold chosen on val's video scores.

    A video's aggregated p_fake is not distributed like a frame's, so applying the frame threshold
    to it would be a different rule from the one validated; predict uses these for videos.
    """
    return {how: video_threshold(val, threshold, how) for how in AGGREGATES}


def video_threshold(val: Scores, threshold: Mapping[str, Any], how: str) -> float:
    """The threshold the `threshold` rule chooses on val's video scores aggregated by `how`."""
    vv = aggregate_videos(val, how)
    return select_threshold(
        sweep_thresholds(vv.labels, vv.p_fake, float(threshold["step"])), **rule_kwargs(threshold)
    ).threshold


def bootstrap_settings(report: Mapping[str, Any]) -> dict[str, Any]:
    """The `report` group's bootstrap keys as evaluate_scores and add_intervals take them."""
    return {
        "n": int(report["bootstrap"] or 0),
        "seed": int(report["bootstrap_seed"]),
        "level": float(report["ci_level"]),
        "rechoose_threshold": bool(report["rechoose_threshold"]),
        "min_defined_share": float(report["min_defined_share"]),
    }


def resampled_threshold(
    val: Scores | None, threshold: float, rule: Mapping[str, Any], boot: Mapping[str, Any]
) -> Rechosen | float:
    """The threshold each test resample is evaluated at: re-chosen on a val resample (one per resample, with how
    many fell back to the rule's fallback) with `rechoose_threshold`, else the one val-chosen threshold."""
    if not boot["rechoose_threshold"]:
        return float(threshold)
    return rechosen_thresholds(val.labels, val.p_fake, val.groups, rule, int(boot["n"]), int(boot["seed"]) + 1)


# What every interval holds fixed, whatever report.rechoose_threshold says: fitted once on all of val.
HELD_FIXED = (
    "the trained models",
    "the ensemble weight (fitted or fixed)",
    "any calibration",
)


def _put(block: dict[str, Any], name: str, samples: Mapping[str, np.ndarray], boot: Mapping[str, Any]) -> None:
    """block[name + '_ci'], block[name + '_ci_defined'] (resamples that defined each figure) and, where a point
    estimate lies outside its own interval, block[name + '_ci_outside'] (the figures it happens to)."""
    iv = intervals(samples, float(boot["level"]), float(boot["min_defined_share"]))
    block[f"{name}_ci"], block[f"{name}_ci_defined"] = iv["ci"], iv["defined"]
    point = block.get(name) or {}
    out = [k for k, ci in iv["ci"].items() if outside(point.get(k), ci)]
    if out:
        block[f"{name}_ci_outside"] = out


def resampling_record(test: Scores, boot: Mapping[str, Any], rechosen: bool, fell_back: int | None) -> dict[str, Any]:
    """The `bootstrap` block: settings, what was resampled (unit, groups per class, too few?), what was held
    fixed, and how many threshold re-choices fell back to the rule's fallback."""
    counts = group_counts(test.groups, test.labels)
    return {
        "n": int(boot["n"]),
        "seed": int(boot["seed"]),
        "level": float(boot["level"]),
        "min_defined_share": float(boot["min_defined_share"]),
        "resampled": f"whole {test.group_unit} groups, stratified by what a group holds (both classes, real only, fake only), "
        "each resample keeping the split's number of groups of each kind",
        "groups": {"unit": test.group_unit, **counts, "few": few_groups(counts), "min_groups": MIN_GROUPS},
        "threshold_rechosen_on_val_resamples": rechosen,
        "threshold_fallbacks": fell_back,
        "held_fixed": [*HELD_FIXED, *([] if rechosen else ["the one val-chosen threshold (frame and video level)"])],
        "conditional_on": None if rechosen else "the one val-chosen threshold (frame and video level)",
    }


def add_intervals(
    block: dict[str, Any],
    val: Scores | None,
    test: Scores,
    rule: Mapping[str, Any],
    bootstrap: Mapping[str, Any],
    video_aggregate: str,
    prevalences: Sequence[float] = (),
    frame_thresholds: Any = None,
) -> None:
    """Add `test_ci`, `test_at_0.5_ci`, `video_level.test_ci` and deployment intervals to an evaluated block.

    Resamples draw whole groups (Scores.groups: identities where the split grouped by identity, else videos),
    stratified by what a group holds. With `rechoose_threshold`, the val-chosen threshold is chosen again on a val
    resample for each test resample (frame level and video level alike), so the interval carries the threshold's
    own variability; `threshold_ci` is that spread and `bootstrap.threshold_fallbacks` counts the re-choices that
    fell back to the rule's fallback. Each `<block>_ci_defined` says how many resamples defined each figure;
    below `min_defined_share` of them the interval is null. `val=None` (no val scores stored, e.g. dfl-eval of a
    single training run): the intervals are conditional on the stored thresholds, and `bootstrap.conditional_on`
    says so. `frame_thresholds`: resampled_threshold's result for this val and threshold, when the caller already
    has it (the same val resamples serve every degradation dfl-eval tries).
    """
    if val is None:
        bootstrap = {**bootstrap, "rechoose_threshold": False}
    n, seed, level = int(bootstrap["n"]), int(bootstrap["seed"]), float(bootstrap["level"])
    min_share = float(bootstrap["min_defined_share"])
    r = frame_thresholds
    if r is None:
        r = resampled_threshold(val, block["threshold"], rule, bootstrap)
    t, fell_back = (r.thresholds, r.fell_back) if isinstance(r, Rechosen) else (r, None)
    if isinstance(r, Rechosen):
        block["threshold_ci"] = percentile_interval(t, level, min_share)[0]
    at_t, at_05 = resampled_at(test.labels, test.p_fake, test.groups, [t, 0.5], n, seed)
    _put(block, "test", at_t, bootstrap)
    _put(block, "test_at_0.5", at_05, bootstrap)
    rechosen = bool(bootstrap["rechoose_threshold"])
    block["bootstrap"] = resampling_record(test, bootstrap, rechosen, fell_back)
    if "video_level" in block:
        vl = block["video_level"]
        tv = aggregate_videos(test, video_aggregate)
        vv = aggregate_videos(val, video_aggregate) if rechosen else None
        vr = resampled_threshold(vv, vl["threshold"], rule, bootstrap)
        vt = vr.thresholds if isinstance(vr, Rechosen) else vr
        if isinstance(vr, Rechosen):
            vl["threshold_ci"] = percentile_interval(vt, level, min_share)[0]
            vl["threshold_fallbacks"] = vr.fell_back
        _put(vl, "test", resampled_metrics(tv.labels, tv.p_fake, tv.groups, vt, n, seed), bootstrap)
        vl["threshold_rechosen_on_val_resamples"] = rechosen
    if prevalences and "deployment" in block:
        for label, m in (("val-chosen", at_t), ("0.5", at_05)):
            dep = block["deployment"].get(label)
            if dep is None:
                continue
            point = block["test"] if label == "val-chosen" else block["test_at_0.5"]
            dep["rates"] = [
                deployment_rates(
                    point["real_recall"], point["fake_recall"], pi, (m["real_recall"], m["fake_recall"]),
                    level, float(bootstrap["min_defined_share"]),
                )
                for pi in prevalences
            ]  # fmt: skip


def deployment_block(block: dict[str, Any], prevalences: Sequence[float]) -> dict[str, Any]:
    """Each threshold of an evaluated block (val-chosen, 0.5) at each deployment prevalence of fakes (points)."""
    out = {}
    for label, t, m in (("val-chosen", block["threshold"], block["test"]), ("0.5", 0.5, block["test_at_0.5"])):
        if m.get("real_recall") is None or m.get("fake_recall") is None:
            continue
        out[label] = {
            "threshold": t,
            "rates": [deployment_rates(m["real_recall"], m["fake_recall"], p) for p in prevalences],
        }
    return out


def fixed_threshold_table(scores: Scores) -> list[dict[str, float]]:
    """Fake-class F1, precision and recall at 0.25, 0.50, 0.75 and 0.00."""
    keys = ("threshold", "fake_f1", "fake_precision", "fake_recall")
    return [
        {k: m[k] for k in keys} for m in (detection_metrics(scores.labels, scores.p_fake, t) for t in FIXED_THRESHOLDS)
    ]


def evaluate_scores(
    val: Scores,
    test: Scores,
    threshold: Mapping[str, Any],
    video_aggregate: str,
    paper_protocol: bool,
    bootstrap: Mapping[str, Any] | None,
    prevalences: Sequence[float] = (),
) -> dict[str, Any]:
    """Choose the threshold on `val` with the `threshold` config, then report `test` at it and at 0.5.

    With `paper_protocol`, also the paper's way (threshold chosen on test itself), kept apart and labelled.
    With `bootstrap` ({n, seed, level, rechoose_threshold, min_defined_share}), each test block gets a
    sibling `<block>_ci` of intervals resampling whole videos (see evaluation/statistics.py). With
    `prevalences`, `deployment` gives each threshold's PPV, NPV and false alarms at those shares of fakes.
    """
    step = float(threshold["step"])
    kw = rule_kwargs(threshold)
    sweep = sweep_thresholds(val.labels, val.p_fake, step)
    choice = select_threshold(sweep, **kw)
    t = choice.threshold
    out: dict[str, Any] = {
        "threshold": t,
        "threshold_choice": {
            "criterion": choice.criterion,
            "chosen_on": "val",
            "note": choice.note,
            **kw,
            "step": step,
        },
        "val": detection_metrics(val.labels, val.p_fake, t),
        "test": detection_metrics(test.labels, test.p_fake, t),
        "test_at_0.5": detection_metrics(test.labels, test.p_fake, 0.5),
        "fixed_thresholds": fixed_threshold_table(test),
        "threshold_sweep_val": sweep,
        "threshold_sweep_test": sweep_thresholds(test.labels, test.p_fake, step),
    }
    if len(np.unique(test.videos.astype(str))) < len(test.videos):
        tv = aggregate_videos(test, video_aggregate)
        vt = video_threshold(val, threshold, video_aggregate)
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
        alt = select_threshold(sweep, **{**kw, "criterion": "balanced_accuracy"})
        out["degenerate_threshold"] = {
            "flags": degenerate,
            "note": f"the val-chosen threshold {t:.2f} calls {degenerate} on val; "
            f"the balanced_accuracy criterion would choose {alt.threshold:.2f}",
            "balanced_accuracy_threshold": alt.threshold,
            "test_at_balanced_accuracy_threshold": detection_metrics(test.labels, test.p_fake, alt.threshold),
        }
        log.warning("degenerate threshold: %s", out["degenerate_threshold"]["note"])
    if prevalences:
        out["deployment"] = deployment_block(out, prevalences)
    if bootstrap and int(bootstrap.get("n", 0)) > 0:
        add_intervals(out, val, test, threshold, bootstrap, video_aggregate, prevalences)
    if paper_protocol:
        pc = select_threshold(out["threshold_sweep_test"], **kw)
        out["paper_protocol"] = {
            "threshold": pc.threshold,
            "chosen_on": "test",
            "note": "threshold chosen on the test split itself, as the paper did: optimistic, not a held-out figure",
            "test": detection_metrics(test.labels, test.p_fake, pc.threshold),
        }
    return out
