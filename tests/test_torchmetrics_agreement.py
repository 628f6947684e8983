"""The project's own metric code against torchmetrics' BinaryEER, BinaryROC and BinarySpecificityAtSensitivity."""

import numpy as np
import pytest
import torch
from torchmetrics.classification import BinaryEER, BinaryROC, BinarySpecificityAtSensitivity

from deepfake_lightning.evaluation.metrics import equal_error_rate
from deepfake_lightning.evaluation.thresholds import sweep_thresholds
from tests.helpers import choose

GRID = torch.linspace(0, 1, 101)


def _case(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    p = torch.rand(n, generator=g) * 0.6 + 0.3 * y  # no score on a grid point: float32 vs float64 ties aside
    return y, p


def test_eer_equals_torchmetrics_where_the_roc_has_a_point_with_far_equal_frr():
    # Hand-computed: at t = 0.5, one of two reals is flagged (FAR 0.5) and one of two fakes missed (FRR 0.5).
    y = torch.tensor([0, 0, 1, 1])
    p = torch.tensor([0.2, 0.6, 0.4, 0.9])
    assert equal_error_rate(y, p) == pytest.approx(0.5)
    assert float(BinaryEER()(p, y)) == pytest.approx(0.5)
    y, p = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), torch.tensor([0.1, 0.2, 0.3, 0.7, 0.4, 0.8, 0.85, 0.9])
    assert equal_error_rate(y, p) == pytest.approx(0.25) == float(BinaryEER()(p, y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eer_agrees_with_torchmetrics_on_large_samples(seed):
    # They differ on small samples by design (interpolated crossing vs the nearest ROC point's mean of
    # FAR and FRR, see equal_error_rate); the two converge as the ROC curve fills in.
    y, p = _case(4000, seed)
    assert equal_error_rate(y, p) == pytest.approx(float(BinaryEER()(p, y)), abs=2e-3)


@pytest.mark.parametrize("seed", [0, 1])
def test_sweep_is_binary_roc_on_the_same_grid(seed):
    y, p = _case(500, seed)
    fpr, tpr, thr = (t.flip(0) for t in BinaryROC(thresholds=GRID)(p, y))  # it lists thresholds descending
    rows = sweep_thresholds(y.numpy(), p.numpy(), step=0.01)
    assert np.allclose([r["threshold"] for r in rows], thr.numpy(), atol=1e-6)
    assert np.allclose([1 - r["real_recall"] for r in rows], fpr.numpy(), atol=1e-6)
    assert np.allclose([r["fake_recall"] for r in rows], tpr.numpy(), atol=1e-6)


@pytest.mark.parametrize(("seed", "min_fake_recall"), [(0, 0.98), (1, 0.9), (2, 0.8)])
def test_max_real_recall_is_specificity_at_sensitivity_on_the_same_grid(seed, min_fake_recall):
    y, p = _case(500, seed)
    spec, _ = BinarySpecificityAtSensitivity(min_sensitivity=min_fake_recall, thresholds=GRID)(p, y)
    choice = choose(sweep_thresholds(y.numpy(), p.numpy(), 0.01), "max_real_recall", min_fake_recall)
    assert choice.real_recall == pytest.approx(float(spec), abs=1e-6)
    assert choice.fake_recall >= min_fake_recall
