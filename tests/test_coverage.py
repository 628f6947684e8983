"""The recipe verdict's interval covers the true recipe difference as often as its level says (issue 28).

Simulated experiments with what a real comparison has: test items clustered by identity (a person's items share an
identity effect), a model seed effect, each seed's own item-level noise, and one test set shared by every seed and
both models. The true difference of real recall (and balanced accuracy) between the recipes is known in closed
form, so each experiment's interval either covers it or not; 500 experiments per seed count README advises.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepfake_lightning.evaluation.claims import SEEDS_ADVISED, two_level_claim

G, REAL, FAKE = 30, 3, 3  # identities in the test split, real and fake items each
TAU, SEED_SD, ITEM_SD = 0.7, 0.3, 0.6  # identity effect, seed effect (new recipe), each seed's own noise
M_NEW, M_BASE, M_FAKE = 0.8, 0.5, 1.0  # real items' mean distance below the threshold; fakes' above it


def truth() -> dict[str, float]:
    """Expected over identities, items and seeds: P(real scored below 0) and P(fake scored at or above 0)."""
    s = np.sqrt(TAU**2 + 1 + ITEM_SD**2)
    rr = stats.norm.cdf(M_NEW / np.sqrt(s**2 + SEED_SD**2)) - stats.norm.cdf(M_BASE / s)
    return {"real_recall": rr, "balanced_accuracy": rr / 2}  # fake recall is the same for both recipes


def experiment(rng: np.random.Generator, n_seeds: int) -> dict:
    ident = np.repeat(np.arange(G), REAL + FAKE)
    labels = np.tile(np.r_[np.zeros(REAL, int), np.ones(FAKE, int)], G)
    shared = rng.normal(0, TAU, G)[ident] + rng.normal(0, 1, len(labels))  # the test set: identities and items
    seeds = []
    for _ in range(n_seeds):
        a = rng.normal(0, SEED_SD)
        new = np.where(labels == 1, M_FAKE, -M_NEW + a) + shared + rng.normal(0, ITEM_SD, len(labels))
        base = np.where(labels == 1, M_FAKE, -M_BASE) + shared + rng.normal(0, ITEM_SD, len(labels))
        seeds.append({"test_labels": labels, "test_groups": ident.astype(str), "p_new": 1 / (1 + np.exp(-new)),
                      "p_base": 1 / (1 + np.exp(-base)), "t_new": 0.5, "t_base": 0.5})  # fmt: skip
    return two_level_claim(seeds, 100, int(rng.integers(1 << 30)), 0.95, {})


@pytest.mark.parametrize("n_seeds", [SEEDS_ADVISED, 4])
def test_recipe_interval_covers_at_its_level(n_seeds):
    # SEEDS_ADVISED is what README and `make paper` advise; 4 is what experiments/table1 runs.
    rng = np.random.default_rng(n_seeds)
    mu, sims = truth(), 500
    hits = dict.fromkeys(mu, 0)
    for _ in range(sims):
        out = experiment(rng, n_seeds)
        for k in mu:
            lo, hi = out[k]["ci"]
            hits[k] += lo <= mu[k] <= hi
    se = np.sqrt(0.95 * 0.05 / sims)
    for k, h in hits.items():
        assert abs(h / sims - 0.95) < 3 * se, (k, h / sims)  # within simulation error of 95%
