"""Bootstrap intervals over videos, the paired claim test and degenerate thresholds, on hand-made cases."""

import numpy as np
import pytest

from deepfake_lightning.evaluation.claims import claim_verdict, paired_claim
from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.statistics import (
    CI_METRICS,
    degenerate_threshold,
    group_counts,
    group_weights,
    intervals,
    rechosen_thresholds,
    resampled_metrics,
    weighted_metrics,
)
from tests.helpers import rule


def test_unit_weights_equal_detection_metrics():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(30, int), np.ones(70, int)]
    p = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 2)  # rounded: ties in the scores
    for t in (0.0, 0.3, 0.5, 0.99):
        ref = detection_metrics(y, p, t)
        got = weighted_metrics(y, p, t, np.ones((1, len(y))))
        for k in CI_METRICS:
            assert got[k][0] == pytest.approx(ref[k], abs=1e-6), (k, t)


def test_hand_computed_weights():
    # Two real (0.2, 0.6) and two fake (0.4, 0.9); the weights drop the second real item.
    y, p = np.array([0, 0, 1, 1]), np.array([0.2, 0.6, 0.4, 0.9])
    m = weighted_metrics(y, p, 0.5, np.array([[2.0, 0.0, 1.0, 1.0]]))
    assert m["real_recall"][0] == 1.0 and m["fake_recall"][0] == 0.5
    assert m["accuracy"][0] == pytest.approx(3 / 4)
    assert m["roc_auc"][0] == 1.0  # the remaining real item (0.2) is below both fakes


def test_resamples_draw_whole_groups():
    videos = np.array(["a", "a", "b", "c", "c", "c"])
    labels = np.array([0, 0, 1, 1, 1, 1])
    w = group_weights(videos, labels, 50, seed=1)
    assert w.shape == (50, 6) and (w.sum(1) > 0).all()
    for row in w:  # frames of one video always share its multiplicity
        assert row[0] == row[1] and row[3] == row[4] == row[5]
    assert (group_weights(videos, labels, 50, seed=1) == w).all()


def test_identity_groups_resample_real_and_fake_videos_of_one_person_together():
    # Identities p1, p2 hold a real and a fake video; p3 a real one; p4 fakes only. Whole identities are drawn,
    # stratified by what they hold: {p1, p2} (both classes), {p3} (real only), {p4} (fakes only).
    groups = np.array(["p1", "p1", "p2", "p2", "p3", "p4", "p4"])
    labels = np.array([0, 1, 0, 1, 0, 1, 1])
    w = group_weights(groups, labels, 200, seed=0)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 2] == w[:, 3]).all() and (w[:, 5] == w[:, 6]).all()
    assert (w[:, 0] + w[:, 2] == 2).all() and (w[:, 4] == 1).all() and (w[:, 5] == 1).all()
    assert set(np.unique(w[:, 0])) == {0.0, 1.0, 2.0}  # p1 drawn 0, 1 or 2 times
    assert group_counts(groups, labels) == {"real": 3, "fake": 3}


def test_identity_clusters_widen_the_interval_to_its_nominal_coverage():
    # 20 identities of 10 items each, a strong identity effect: items of one person are far from independent.
    # Resampling items (videos) as if independent covers the true real recall far less often than 95%;
    # resampling identities covers it about as often as it says. Fails with the video bootstrap.
    from scipy import stats

    truth = stats.norm.cdf(0.5 / np.sqrt(1 + 1.0))  # P(score < 0), score ~ N(-0.5, 1) + N(0, 1) identity effect
    hits = {"identity": 0, "video": 0}
    trials = 200
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        ident = np.repeat(np.arange(20), 10)
        s = -0.5 + rng.normal(0, 1, 20)[ident] + rng.normal(0, 1, 200)
        y = np.zeros(200, int)
        for unit, g in (("identity", ident.astype(str)), ("video", np.arange(200).astype(str))):
            ci = intervals(resampled_metrics(y, s, g, 0.0, 300, seed), 0.95, 0.9)["ci"]["real_recall"]
            hits[unit] += ci[0] <= truth <= ci[1]
    assert hits["video"] / trials < 0.8
    assert 0.88 <= hits["identity"] / trials <= 0.99


def test_interval_covers_the_true_value_about_95_percent():
    hits, trials = 0, 150
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        y = np.r_[np.zeros(80, int), np.ones(80, int)]
        p = rng.random(160)  # real recall at 0.7 is 0.7 in the population
        ci = intervals(resampled_metrics(y, p, np.arange(160).astype(str), 0.7, 300, seed), 0.95, 0.9)["ci"][
            "real_recall"
        ]
        hits += ci[0] <= 0.7 <= ci[1]
    assert 0.88 <= hits / trials <= 0.99


def test_paired_test_verdicts():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40, int), np.ones(160, int)]
    videos = np.repeat(np.arange(100), 2).astype(str)
    base = np.clip(rng.normal(0.6 + 0.2 * y, 0.15), 0, 1)
    same = paired_claim(y, videos, base, 0.5, base, 0.5, 300, 0, 0.95, 0.9)
    assert same["verdict"] == "not shown" and same["balanced_accuracy"]["estimate"] == 0.0
    better = np.clip(rng.normal(0.2 + 0.6 * y, 0.1), 0, 1)
    won = paired_claim(y, videos, better, 0.5, base, 0.5, 300, 0, 0.95, 0.9)
    assert won["verdict"] == "held" and won["real_recall"]["ci"][0] > 0
    lost = paired_claim(y, videos, base, 0.5, better, 0.5, 300, 0, 0.95, 0.9)
    assert lost["verdict"] == "reversed"
    assert claim_verdict({"balanced_accuracy": {"ci": [-0.1, 0.2]}, "real_recall": {"ci": [0.1, 0.3]}}) == "not shown"


def test_rechosen_thresholds_vary_and_degenerate_is_named():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(50, int), np.ones(150, int)]
    p = np.clip(rng.normal(0.4 + 0.3 * y, 0.15), 0, 1)
    r = rule(criterion="balanced_accuracy", step=0.01)
    ts = rechosen_thresholds(y, p, np.arange(200).astype(str), r, 40, 0).thresholds
    assert ts.shape == (40,) and np.isfinite(ts).all() and ts.std() > 0
    assert degenerate_threshold(y, p, 0.0) == "all fake"
    assert degenerate_threshold(y, p, 1.01) == "all real"
    assert degenerate_threshold(y, p, 0.5) is None


def test_deployment_rates_worked_example():
    from deepfake_lightning.evaluation.deployment import deployment_rates

    # Real recall 0.9, fake recall 0.8, 10% fakes: of 1,000 items, 100 fakes (80 flagged) and 900 real
    # (90 flagged): PPV 80/170, NPV 810/830, 1,000 false alarms per 10,000 real, 1,700 flagged per 10,000.
    d = deployment_rates(0.9, 0.8, 0.1)
    assert d["fake_flag_precision"] == pytest.approx(80 / 170)
    assert d["negative_predictive_value"] == pytest.approx(810 / 830)
    assert d["false_alarms_per_10k_real"] == pytest.approx(1000)
    assert d["flagged_per_10k_items"] == pytest.approx(1700)
    assert deployment_rates(1.0, 0.0, 0.5)["fake_flag_precision"] is None  # nothing flagged


def test_target_fpr_criterion():
    from tests.helpers import choose

    sweep = [
        {"threshold": 0.2, "real_recall": 0.80, "fake_recall": 0.99, "fake_f1": 0.0},
        {"threshold": 0.5, "real_recall": 0.95, "fake_recall": 0.90, "fake_f1": 0.0},
        {"threshold": 0.7, "real_recall": 0.99, "fake_recall": 0.70, "fake_f1": 0.0},
    ]
    assert choose(sweep, "target_fpr", target_fpr=0.05).threshold == 0.5
    assert choose(sweep, "target_fpr", target_fpr=0.01).threshold == 0.7
    assert choose(sweep, "target_fpr", target_fpr=0.25).threshold == 0.2
    c = choose(sweep, "target_fpr", target_fpr=0.0)
    assert c.criterion == "balanced_accuracy" and "fell back" in c.note


def test_ece_zero_when_perfectly_calibrated_and_temperature_keeps_ranking():
    from deepfake_lightning.evaluation.calibration import calibrated_logits, expected_calibration_error, fit_calibration

    # In each bin the share of fakes equals the score: 0.2 -> 1 fake in 5, 0.8 -> 4 in 5.
    p = np.r_[np.full(5, 0.2), np.full(5, 0.8)]
    y = np.r_[1, 0, 0, 0, 0, 1, 1, 1, 1, 0]
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    logits = np.stack([np.zeros(400), 6.0 * (y - 0.5) + rng.normal(0, 3, 400)], 1)  # overconfident
    fit = fit_calibration(logits, y, "temperature")
    assert fit["apply"] and fit["temperature"] > 1.0 and fit["bias"] == 0.0
    soft = lambda z: np.exp(z[:, 1]) / np.exp(z).sum(1)  # noqa: E731
    before, after = soft(logits), soft(calibrated_logits(logits, fit["temperature"], 0.0))
    assert detection_metrics(y, before)["roc_auc"] == pytest.approx(detection_metrics(y, after)["roc_auc"])
    assert expected_calibration_error(y, after) < expected_calibration_error(y, before)


def test_seed_summary_mean_std_and_report(tmp_path):
    from deepfake_lightning.evaluation.seed_report import write_seed_report
    from deepfake_lightning.evaluation.seeds import seed_summary

    def m(ba, verdict):
        return {
            "dataset": {"split_fingerprint": "abc"},
            "models": {"ensemble": {"threshold": 0.2, "test": {"balanced_accuracy": ba}}},
            "claim": {"verdict": verdict, "balanced_accuracy": {"estimate": ba - 0.5, "ci": [0.0, 0.2]}},
        }

    s = seed_summary({0: m(0.6, "not shown"), 1: m(0.7, "held"), 2: m(0.8, "held")})
    sm = s["summary"]["ensemble balanced_accuracy"]
    assert sm["mean"] == pytest.approx(0.7) and sm["std"] == pytest.approx(0.1) and sm["n"] == 3
    assert s["summary"]["ensemble roc_auc"] == {"mean": None, "std": None, "n": 0}
    assert s["verdicts"] == {"0": "not shown", "1": "held", "2": "held"}
    text = write_seed_report(tmp_path, s).read_text()
    assert "| ensemble balanced_accuracy | 0.600 | 0.700 | 0.800 | 0.700 | 0.100 |" in text
    bad = m(0.6, "held")
    bad["dataset"]["split_fingerprint"] = "other"
    with pytest.raises(ValueError, match="different splits"):
        seed_summary({0: m(0.6, "held"), 1: bad})
