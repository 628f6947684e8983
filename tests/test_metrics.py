"""Metrics and fusion on hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from deepfake_lightning.evaluation.calibration import p_fake_from_logits
from deepfake_lightning.evaluation.metrics import (
    DetectionMetrics,
    classification_report,
    detection_metrics,
    equal_error_rate,
)
from deepfake_lightning.evaluation.protocol import Scores, aggregate_videos
from deepfake_lightning.models.ensemble import fit_weight, fuse_logits
from tests.helpers import evaluate, rule


def test_detection_metrics_by_hand():
    y = [0, 0, 1, 1, 1]
    p = [0.1, 0.6, 0.3, 0.7, 0.9]
    m = detection_metrics(y, p, 0.5)
    # pred = [0, 1, 0, 1, 1]: real recall 1/2, fake recall 2/3
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert math.isclose(m["real_recall"], 0.5, rel_tol=1e-6) and math.isclose(m["fake_recall"], 2 / 3, rel_tol=1e-6)
    assert math.isclose(m["accuracy"], 0.6, rel_tol=1e-6) and math.isclose(
        m["balanced_accuracy"], (0.5 + 2 / 3) / 2, rel_tol=1e-6
    )
    assert math.isclose(m["real_precision"], 0.5, rel_tol=1e-6) and math.isclose(
        m["fake_precision"], 2 / 3, rel_tol=1e-6
    )
    # AUC: fake>real pairs: (0.3>0.1),(0.7>0.1),(0.7>0.6),(0.9>0.1),(0.9>0.6) = 5 of 6
    assert math.isclose(m["roc_auc"], 5 / 6, rel_tol=1e-6)
    rep = classification_report(m)
    assert rep["real"]["support"] == 2 and rep["fake"]["support"] == 3
    assert math.isclose(rep["weighted avg"]["recall"], 0.4 * 0.5 + 0.6 * 2 / 3, rel_tol=1e-6)


def test_eer_perfect_and_inverted():
    assert equal_error_rate(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert math.isclose(equal_error_rate(torch.tensor([0, 0, 1, 1]), torch.tensor([0.9, 0.8, 0.2, 0.1])), 1.0)


def test_one_class_is_reported_not_hidden():
    m = detection_metrics([1, 1, 1], [0.2, 0.7, 0.9], 0.5)
    assert m["roc_auc"] is None and m["real_recall"] is None and m["undefined"]
    assert math.isclose(m["fake_recall"], 2 / 3, rel_tol=1e-6)


def test_metric_object_accumulates():
    dm = DetectionMetrics(threshold=0.5)
    dm.update(torch.tensor([0.1, 0.6]), torch.tensor([0, 0]))
    dm.update(torch.tensor([0.3, 0.7, 0.9]), torch.tensor([1, 1, 1]))
    assert dm.compute()["confusion_matrix"] == [[1, 1], [1, 2]]


def test_fusion_by_hand():
    main = np.array([[2.0, 0.0], [0.0, 1.0]])
    spec = np.array([[0.0, 2.0], [1.0, 0.0]])
    fused = fuse_logits(main, spec, 0.6)
    assert np.allclose(fused, [[1.2, 0.8], [0.4, 0.6]])
    assert np.allclose(p_fake_from_logits(fused), 1 / (1 + np.exp(-(fused[:, 1] - fused[:, 0]))))
    with pytest.raises(ValueError, match="ensemble.weight"):
        fuse_logits(main, spec, 1.2)


def test_fit_weight_prefers_the_informative_member():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    good = np.stack([np.zeros(100), (y * 2 - 1) * 2.0 + rng.normal(0, 0.5, 100)], 1)
    noise = np.stack([np.zeros(100), rng.normal(0, 3, 100)], 1)
    w, table = fit_weight(y, good, noise, "roc_auc", 0.25, rule())
    assert w == 1.0 and len(table) == 5
    w, _ = fit_weight(y, noise, good, "balanced_accuracy", 0.25, rule(criterion="youden"))
    assert w == 0.0


def test_video_aggregation_and_protocol():
    s = Scores([0, 0, 1, 1], [0.2, 0.4, 0.6, 1.0], ["a", "a", "b", "b"])
    v = aggregate_videos(s, "mean")
    assert list(v.videos) == ["a", "b"] and np.allclose(v.p_fake, [0.3, 0.8]) and list(v.labels) == [0, 1]
    assert np.allclose(aggregate_videos(s, "max").p_fake, [0.4, 1.0])
    out = evaluate(s, s, rule(criterion="youden", step=0.1), paper_protocol=True)
    assert out["threshold_choice"]["chosen_on"] == "val" and out["paper_protocol"]["chosen_on"] == "test"
    assert "video_level" in out and [r["threshold"] for r in out["fixed_thresholds"]] == [0.25, 0.5, 0.75, 0.0]
