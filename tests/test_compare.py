"""Two recipes over seeds: the interval's maths on hand-computed cases, grouped resampling, and its coverage."""

import numpy as np
import pytest
from scipy import stats

from deepfake_lightning.evaluation.claims import seed_interval
from deepfake_lightning.evaluation.compare import TestScores, compare_recipes, verdict
from deepfake_lightning.evaluation.statistics import group_weights


def test_seed_interval_by_hand():
    # Differences 0.1, 0.2, 0.3 over 3 seeds (sd 0.1), no test-sampling spread: 0.2 +- t(2, 0.975) x 0.1 / sqrt(3).
    flat = np.full((3, 100), 0.2)
    out = seed_interval(np.array([0.1, 0.2, 0.3]), flat, 0.95)
    half = 4.302652729911275 * 0.1 / np.sqrt(3)
    assert out["estimate"] == pytest.approx(0.2) and out["seed_sd"] == pytest.approx(0.1)
    assert out["ci"] == pytest.approx([0.2 - half, 0.2 + half]) and out["df_seeds"] == 2
    # A test-set error shared by the seeds (the same +-0.05 in every seed's resamples) adds its variance 0.0025:
    # sqrt(t(2)^2 x 0.01 / 3 + z^2 x 0.0025).
    shared = 0.05 * np.array([-1.0, 1.0] * 50) * np.sqrt(99 / 100)
    wide = seed_interval(np.array([0.1, 0.2, 0.3]), 0.2 + np.tile(shared, (3, 1)), 0.95)
    q_t, q_z = stats.t.ppf(0.975, 2), stats.norm.ppf(0.975)
    assert wide["ci"][1] - 0.2 == pytest.approx(np.sqrt(q_t**2 * 0.01 / 3 + q_z**2 * 0.0025), rel=1e-6)
    # An error of each seed's own (independent across seeds) is already in the seeds' spread: not added again.
    rng = np.random.default_rng(0)
    own = seed_interval(np.array([0.1, 0.2, 0.3]), 0.2 + rng.normal(0, 0.05, (3, 4000)), 0.95)
    assert own["ci"][1] - 0.2 == pytest.approx(half, rel=0.05)
    assert verdict(wide) == "not shown" and verdict({"ci": [0.1, 0.2]}) == "higher"
    assert verdict({"ci": [-0.3, -0.1]}) == "lower" and verdict({"ci": None}) == "not shown"


def test_groups_are_resampled_whole_and_by_kind():
    groups = np.array(["a", "a", "b", "c", "c", "d"])
    labels = np.array([0, 1, 1, 0, 1, 1])  # a and c hold a real item; b and d are fakes only
    w = group_weights(groups, labels, 200, 0)
    assert w.shape == (200, 6)
    assert np.array_equal(w[:, 0], w[:, 1]) and np.array_equal(w[:, 3], w[:, 4])  # a group moves as one
    # Two groups with a real item and two without, in every resample.
    assert np.allclose(w[:, 0] + w[:, 3], 2) and np.allclose(w[:, 2] + w[:, 5], 2)


def _scores(p, threshold=0.5, seed=0):
    n = len(p)
    labels = np.array([0, 1] * (n // 2))
    keys = np.array([f"v{i}#0" for i in range(n)])
    return TestScores(keys, labels, np.asarray(p, dtype=float), threshold, np.array([f"g{i // 4}" for i in range(n)]))


def test_identical_recipes_differ_by_nothing_and_items_are_paired_by_key():
    rng = np.random.default_rng(0)
    a = [_scores(rng.random(40)) for _ in range(3)]
    out = compare_recipes(a, a, 100, 0, 0.95)
    for k in ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall"):
        assert out[k]["estimate"] == 0 and out[k]["ci"] == [0, 0] and out[k]["verdict"] == "not shown"
    # The same scores in another order are the same model.
    s = a[0]
    order = rng.permutation(40)
    shuffled = TestScores(s.keys[order], s.labels[order], s.p_fake[order], s.threshold, s.groups[order])
    assert compare_recipes([s], [shuffled], 50, 0, 0.95)["roc_auc"]["estimate"] == 0
    with pytest.raises(ValueError, match="missing"):
        compare_recipes([s], [_scores(rng.random(38))], 10, 0, 0.95)


def test_a_better_recipe_is_found_and_the_figures_are_each_models():
    labels = np.array([0, 1] * 30)
    a = [_scores(np.where(labels == 1, 0.6, 0.4) + np.random.default_rng(s).normal(0, 0.3, 60)) for s in range(4)]
    b = [_scores(np.where(labels == 1, 0.9, 0.1) + np.random.default_rng(s).normal(0, 0.05, 60)) for s in range(4)]
    out = compare_recipes(a, b, 200, 0, 0.95)
    assert out["roc_auc"]["verdict"] == "higher" and out["n_seeds"] == 4 and out["n_groups"]["all"] == 15
    assert out["roc_auc"]["b"][0] == pytest.approx(1.0) and out["roc_auc"]["estimate"] == pytest.approx(
        np.mean(np.array(out["roc_auc"]["b"]) - np.array(out["roc_auc"]["a"]))
    )


@pytest.mark.parametrize(
    ("sd_seed", "sd_test", "sd_own", "n_seeds"),
    [(0.04, 0.02, 0.01, 4), (0.05, 0.001, 0.01, 4), (0.01, 0.04, 0.02, 4), (0.03, 0.03, 0.02, 3)],
)
def test_the_seed_interval_covers_at_its_level_with_seed_and_test_noise(sd_seed, sd_test, sd_own, n_seeds):
    # 2,000 simulated experiments: each seed's difference = true effect + the test set's error (shared by the seeds
    # of one experiment) + the seed's own error + the seed's own test-set error; the resamples see both test errors.
    rng = np.random.default_rng(0)
    delta, sims = 0.05, 2000
    hits = 0
    for _ in range(sims):
        test_err, own_err = rng.normal(0, sd_test), rng.normal(0, sd_own, n_seeds)
        per_seed = delta + test_err + own_err + rng.normal(0, sd_seed, n_seeds)
        boot = per_seed[:, None] + rng.normal(0, sd_test, 200)[None, :] + rng.normal(0, sd_own, (n_seeds, 200))
        lo, hi = seed_interval(per_seed, boot, 0.95)["ci"]
        hits += lo <= delta <= hi
    coverage = hits / sims
    se = np.sqrt(0.95 * 0.05 / sims)
    assert coverage > 0.95 - 3 * se - 0.01, coverage  # never below 95% by more than simulation error
    # Each part on its own quantile errs on the safe side where the two are of one size and the seeds few (0.976 at
    # 3 seeds, equal parts): at most 3 points above.
    assert coverage < 0.95 + 0.03, coverage
