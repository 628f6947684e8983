"""The results-folder module: one owner for metrics.json, predictions.npz and split.json."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from deepfake_lightning import results
from deepfake_lightning.data.splits import SplitMismatchError


def block(threshold: float = 0.5) -> dict:
    rates = dict.fromkeys(
        ("accuracy", "balanced_accuracy", "real_recall", "fake_recall", "real_precision", "fake_precision",
         "real_f1", "fake_f1", "roc_auc", "pr_auc", "eer"), 0.5,
    )  # fmt: skip
    m = {**rates, "confusion_matrix": [[1, 1], [1, 1]]}
    return {"threshold": threshold, "test": m, "test_at_0.5": m}


def dataset(fp: str) -> dict:
    counts = {"real": 1, "fake": 1}
    return {
        "split_fingerprint": fp,
        "split": {"strategy": "grouped", "group_by": "identity", "seed": 0, "fractions": [0.7, 0.2, 0.1]},
        "counts": {"train": counts, "val": counts, "test": counts},
    }


def record(fp: str) -> dict:
    return {"fingerprint": fp, "strategy": "grouped", "seed": 0, "videos": {"train": ["a"], "val": [], "test": []}}


def test_every_kind_is_validated_on_write(tmp_path):
    with pytest.raises(jsonschema.ValidationError):
        results.write_metrics(tmp_path, {"test": {"accuracy": 2.0}}, "run")
    with pytest.raises(jsonschema.ValidationError):  # an eval's model block without its test figures
        results.write_metrics(tmp_path, {"models": {"general": {"threshold": 0.4}}}, "eval")
    with pytest.raises(jsonschema.ValidationError):  # a results folder with its ensemble is checked whole
        results.write_metrics(tmp_path, {"models": {"ensemble": block()}}, "results")
    with pytest.raises(jsonschema.ValidationError):
        results.write_metrics(tmp_path, {"recipe_claim": {"verdict": "maybe"}}, "seeds")
    with pytest.raises(ValueError, match="kind"):
        results.write_metrics(tmp_path, {}, "other")
    assert not (tmp_path / results.METRICS_FILE).exists()
    path = results.write_metrics(tmp_path, {"test": block()["test"], "model": "general"}, "run")
    assert results.load_metrics(tmp_path)["model"] == "general" and path.name == results.METRICS_FILE


def test_load_names_the_file(tmp_path):
    assert results.load_metrics(tmp_path, missing_ok=True) == {}
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        results.load_metrics(tmp_path)
    (tmp_path / results.METRICS_FILE).write_text("{broken")
    with pytest.raises(ValueError, match=r"metrics.json: not valid JSON"):
        results.load_metrics(tmp_path)
    with pytest.raises(FileNotFoundError, match="predictions.npz"):
        results.load_predictions(tmp_path)


def test_merge_model_adds_a_block_and_refuses_another_split(tmp_path):
    (tmp_path / "split.json").write_text(json.dumps(record("a" * 16)))
    results.merge_model(tmp_path, "yolo11n", block(0.3), "runs/y", dataset("a" * 16), record("a" * 16))
    results.merge_model(tmp_path, "yolo11s", block(0.4), "runs/s", dataset("a" * 16), record("a" * 16))
    m = results.load_metrics(tmp_path)
    assert set(m["models"]) == {"yolo11n", "yolo11s"} and m["runs"]["yolo11s"] == "runs/s"
    with pytest.raises(SplitMismatchError, match="data.split_file="):
        results.merge_model(tmp_path, "yolo11n", block(), "runs/z", dataset("b" * 16), record("b" * 16))
    assert results.load_metrics(tmp_path)["models"]["yolo11n"]["threshold"] == 0.3  # left as it was


def test_results_of_another_split_are_not_kept(tmp_path):
    results.merge_model(tmp_path, "yolo11n", block(), "r", dataset("a" * 16), record("a" * 16))
    assert "yolo11n" in results.results_for_split(tmp_path, "a" * 16)["models"]
    assert results.results_for_split(tmp_path, "c" * 16) == {}


def test_predictions_load_without_pickle(tmp_path):
    results.write_predictions(tmp_path, {"videos": np.array(["v1", "v2"], dtype=object), "p": np.ones(2)})
    pr = results.load_predictions(tmp_path)
    assert pr["videos"].tolist() == ["v1", "v2"] and pr["p"].sum() == 2


def test_check_results_split_reads_the_recorded_fingerprint(tmp_path):
    (tmp_path / "split.json").write_text(json.dumps(record("a" * 16)))
    results.merge_model(tmp_path, "ensemble_like", block(), str(tmp_path), dataset("a" * 16), record("a" * 16))
    assert results.check_results_split(tmp_path) == "a" * 16
    m = results.load_metrics(tmp_path)
    m["dataset"]["split_fingerprint"] = "d" * 16
    (tmp_path / results.METRICS_FILE).write_text(json.dumps(m))
    with pytest.raises(SplitMismatchError, match="re-run dfl-ensemble"):
        results.check_results_split(tmp_path)


def test_backbone_sweep_table_shows_each_figure_with_its_interval(tmp_path, monkeypatch):
    """The backbone sweep's summary: one row per backbone, intervals where the run has them, jobs in order."""
    from deepfake_lightning.callbacks import sweep

    rows = []
    for arch in ("resnet18", "mobilenet_v3_small"):
        r = {"job": "0", "arch": arch, "ensemble_threshold": 0.3, "verdict": "not shown"}
        for k in ("balanced_accuracy", "real_recall", "fake_recall", "roc_auc"):
            r[f"baseline_{k}"], r[f"baseline_{k}_ci"] = 0.6, None
            r[f"ensemble_{k}"], r[f"ensemble_{k}_ci"] = 0.625, [0.5, 0.75]
        rows.append(r)
    monkeypatch.setattr(sweep, "backbone_cost", lambda arch, size: (1.5, 100.0))
    table = sweep.write_backbone_summary(rows, tmp_path / "out", 64).read_text().splitlines()
    assert table[-1] == (
        "| mobilenet_v3_small | 1.5 | 100 | 0.600 | 0.625 [0.500, 0.750] | 0.600 | 0.625 [0.500, 0.750] | "
        "0.625 [0.500, 0.750] | not shown |"
    )
    for job in ("0", "10", "2"):
        (tmp_path / "sweep" / job).mkdir(parents=True)
    for job in ("10", "0"):
        (tmp_path / "sweep" / job / "metrics.json").write_text("{}")
    assert [p.name for p in sweep.job_folders(tmp_path / "sweep")] == ["0", "10"]
