"""Threshold sweep and selection on hand-computed cases."""

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from deepfake_lightning.config import ThresholdConfig, check_block
from deepfake_lightning.evaluation.thresholds import sweep_thresholds
from tests.helpers import choose, rule

# 2 real (p = 0.1, 0.4), 3 fake (p = 0.3, 0.6, 0.9)
Y = [0, 0, 1, 1, 1]
P = [0.1, 0.4, 0.3, 0.6, 0.9]


def _row(sweep, t):
    return next(r for r in sweep if abs(r["threshold"] - t) < 1e-9)


def test_sweep_values_by_hand():
    s = sweep_thresholds(Y, P, step=0.1)
    assert len(s) == 11 and s[0]["threshold"] == 0.0 and s[-1]["threshold"] == 1.0
    r0 = _row(s, 0.0)
    assert (r0["real_recall"], r0["fake_recall"], r0["fake_precision"]) == (0.0, 1.0, 0.6)
    assert math.isclose(r0["fake_f1"], 0.75)
    r = _row(s, 0.2)  # real 0.1 below; fakes all above; real 0.4 above
    assert r["real_recall"] == 0.5 and r["fake_recall"] == 1.0
    r = _row(s, 0.5)  # reals both below; fake 0.3 below
    assert r["real_recall"] == 1.0 and math.isclose(r["fake_recall"], 2 / 3)
    assert math.isclose(r["fake_precision"], 1.0) and math.isclose(r["fake_f1"], 0.8)
    # p >= t: a score equal to the threshold is fake
    assert _row(sweep_thresholds([0, 1], [0.5, 0.5], 0.5), 0.5)["real_recall"] == 0.0


def test_max_real_recall_with_constraint():
    s = sweep_thresholds(Y, P, step=0.1)
    c = choose(s, "max_real_recall", min_fake_recall=1.0)
    # fake recall stays 1.0 up to t=0.3; real recall is 0.5 for t in (0.1, 0.3]: tie -> lowest threshold 0.2
    assert c.threshold == 0.2 and c.real_recall == 0.5 and c.fake_recall == 1.0 and not c.note
    c = choose(s, "max_real_recall", min_fake_recall=0.6)
    assert c.threshold == 0.5 and c.real_recall == 1.0


def test_unmeetable_constraint_falls_back_and_says_so():
    s = sweep_thresholds([0, 0, 1], [0.9, 0.8, 0.1], step=0.1)
    # fake recall >= 1.0 only at t <= 0.1, always met at t = 0 -> use a constraint above 1 is invalid; use empty sweep
    c = choose([r for r in s if r["threshold"] >= 0.2], "max_real_recall", min_fake_recall=0.9)
    assert c.criterion == "balanced_accuracy" and "no threshold" in c.note


def test_other_criteria():
    s = sweep_thresholds(Y, P, step=0.1)
    # real+fake recall: t=0.2 -> 1.5; t=0.5 -> 1 + 2/3; t=0.7 -> 1 + 1/3
    assert choose(s, "youden").threshold == 0.5
    assert choose(s, "balanced_accuracy").threshold == 0.5
    # F1 fake: t<=0.1 0.75; t=0.2,0.3 P=3/4,R=1 -> 0.857; t=0.5: 0.8
    assert choose(s, "f1_fake").threshold == 0.2


def test_all_equal_scores_and_bad_input():
    s = sweep_thresholds([0, 1, 0, 1], [0.5] * 4, step=0.25)
    assert [r["real_recall"] for r in s] == [0, 0, 0, 1, 1]
    assert choose(s, "youden").threshold == 0.0  # all tie at 1.0: higher fake recall wins
    # Ranges and choices are the config's to check, once, at app start (config.ThresholdConfig).
    with pytest.raises(ValueError, match=r"threshold.min_fake_recall must be in \[0.0, 1.0\]"):
        check_block("threshold", OmegaConf.create(rule(min_fake_recall=1.5)), ThresholdConfig)
    with pytest.raises(ValueError, match="threshold.criterion must be one of"):
        check_block("threshold", OmegaConf.create(rule(criterion="accuracy")), ThresholdConfig)
    one_class = sweep_thresholds([1, 1], [0.2, 0.7], step=0.5)
    assert np.isnan(one_class[0]["real_recall"])
    with pytest.raises(ValueError, match="lacks one of the classes"):
        choose(one_class)
