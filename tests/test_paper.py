"""The whole chain: ensemble app, report, metrics.json schema, and `make paper` on a tiny dataset."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from deepfake_lightning.apps.ensemble import run as run_ensemble
from deepfake_lightning.apps.paper import main as paper_main
from deepfake_lightning.evaluation.report import write_report
from deepfake_lightning.pipeline import applies_to, unaccepted
from deepfake_lightning.results import validate
from tests.helpers import compose_cfg


def test_overrides_reach_the_apps_that_have_the_key():
    assert applies_to("data.extract.frames_per_video=4", "train") and applies_to(
        "data.extract.frames_per_video=4", "extract"
    )
    assert not applies_to("data.extract.frames_per_video=4", "ensemble")
    assert applies_to("split=grouped", "train") and not applies_to("split=grouped", "ensemble")
    # one threshold group: the training's callback, the ensemble and YOLO choose with the same rule
    assert all(applies_to("threshold.min_fake_recall=0.9", app) for app in ("train", "ensemble", "yolo"))
    assert applies_to("trainer.max_epochs=2", "train") and not applies_to("trainer.max_epochs=2", "ensemble")
    assert unaccepted(["trainer.max_epochs=2", "data.frames_per_vidoe=4", "+new.key=1"]) == ["data.frames_per_vidoe=4"]


def test_make_paper_rejects_an_override_no_step_takes(tmp_path):
    with pytest.raises(SystemExit, match="data.frames_per_vidoe=4: no step"):
        paper_main(["--data-root", str(tmp_path), "--out", str(tmp_path / "o"), "--", "data.frames_per_vidoe=4"])
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def trained(tiny_runs):
    """Baseline, general and specialist (the session's tiny runs)."""
    return tiny_runs


def test_ensemble_metrics_schema_and_report(trained, tmp_path):
    out = tmp_path / "out"
    cfg = compose_cfg(
        "ensemble",
        [
            f"general={trained['general']}",
            f"specialist={trained['specialist']}",
            f"baseline={trained['baseline']}",
            f"out_dir={out}",
            "ensemble.fit_weight=true",
            "ensemble.grid_step=0.25",
            "report.paper_protocol=true",
            "calibration=platt",
        ],
        tmp_path,
    )
    metrics = run_ensemble(cfg)
    on_disk = json.loads((out / "metrics.json").read_text())
    validate(on_disk, "results")
    assert set(on_disk["models"]) == {"baseline", "general", "specialist", "ensemble"}
    assert on_disk["models"]["ensemble"]["threshold_choice"]["chosen_on"] == "val"
    assert on_disk["models"]["ensemble"]["paper_protocol"]["chosen_on"] == "test"
    assert "video_level" in on_disk["models"]["ensemble"]  # two frames per video
    assert metrics["ensemble"]["weight"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    report = write_report(out)
    text = report.read_text()
    assert "Table 1" in text and "91.7%" in text
    verdict = on_disk["claim"]["verdict"]
    assert f"**{verdict}**" in text and verdict in ("held", "not shown", "reversed")
    ci = on_disk["models"]["ensemble"]["test_ci"]["balanced_accuracy"]
    assert ci[0] <= ci[1] and f"[{ci[0]:.3f}, {ci[1]:.3f}]" in text
    assert on_disk["claim"]["balanced_accuracy"]["ci"] is not None
    # The claim's estimate is exactly the difference of the two blocks table 1 shows beside it.
    ens_b, base_b = on_disk["models"]["ensemble"]["test"], on_disk["models"]["baseline"]["test_at_0.5"]
    for k in ("balanced_accuracy", "real_recall", "fake_recall"):
        assert on_disk["claim"][k]["estimate"] == ens_b[k] - base_b[k]
    assert "this test split" in on_disk["claim"]["scope"] and "For these trained models" in text
    cal = on_disk["calibration"]
    assert set(cal["models"]) == {"baseline", "general", "specialist", "ensemble"}
    ens_cal = cal["models"]["ensemble"]
    assert ens_cal["applied"] == (ens_cal.get("reason") is None)
    import torch

    ckpt = torch.load(out / "ensemble.ckpt", map_location="cpu", weights_only=True)
    t, b = (ens_cal["temperature"], ens_cal["bias"]) if ens_cal["applied"] else (1.0, 0.0)
    assert ckpt["temperature"] == pytest.approx(t) and ckpt["bias"] == pytest.approx(b)
    assert "## Calibration" in text and (out / "plots" / "reliability_test_after.png").is_file()
    # The stored scores are the evaluated ones (fused at the fitted weight, then calibrated): the report's
    # curves read them instead of re-fusing raw logits.
    import numpy as np

    from deepfake_lightning.evaluation.calibration import calibrated_logits, p_fake_from_logits
    from deepfake_lightning.evaluation.metrics import detection_metrics
    from deepfake_lightning.models.ensemble import fuse_logits

    pr = np.load(out / "predictions.npz")
    fused = fuse_logits(pr["test_main"], pr["test_specialist"], metrics["ensemble"]["weight"])
    assert np.allclose(pr["test_p_fake_ensemble"], p_fake_from_logits(calibrated_logits(fused, t, b)), atol=1e-6)
    stored = detection_metrics(
        pr["test_labels"], pr["test_p_fake_ensemble"], on_disk["models"]["ensemble"]["threshold"]
    )
    assert stored["roc_auc"] == pytest.approx(on_disk["models"]["ensemble"]["test"]["roc_auc"])
    rates = on_disk["deployment"]["ensemble@val-chosen"]["rates"]
    assert len(rates) == 3 and "Where it is deployed" in text
    assert all("false_alarms_per_10k_real_ci" in r for r in rates)
    from deepfake_lightning.evaluation.wandb_results import log_results

    run_dir = log_results(out, "test-group")  # offline (conftest sets WANDB_MODE)
    files = Path(run_dir)  # offline: the summary lives in the binary run-*.wandb; check what was logged
    assert list(files.parent.glob("run-*.wandb")) and list(files.glob("media/images/plots/roc_pr*.png"))
    assert list(files.glob("media/table/table1*.json")) and list(files.glob("media/table/test/models*.json"))
    assert (out / "plots" / "roc_pr.png").is_file() and (out / "plots" / "threshold_sweep.png").is_file()
    bad = dict(on_disk, dataset={"train": {"real": -1, "fake": 0}})
    with pytest.raises(jsonschema.ValidationError):
        validate(bad, "results")


@pytest.mark.slow
def test_make_paper_on_a_tiny_dataset(tiny_root, tmp_path):
    out = tmp_path / "paper"
    cmd = [
        sys.executable,
        "-m",
        "deepfake_lightning.apps.paper",
        "--data-root",
        str(tiny_root),
        "--out",
        str(out),
        "--profile",
        "demo",
        "--",
        "trainer.max_epochs=1",
        f"paths.cache_dir={tmp_path / 'cache'}",
        "yolo.epochs=1",
        "logger=csv",
    ]
    env = {"DFL_DEMO_EPOCHS": "1"}
    import os

    res = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    validate(json.loads((out / "metrics.json").read_text()), "results")
    assert (out / "REPORT.md").is_file() and "yolo11n" in (out / "REPORT.md").read_text()
    again = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "done before" in again.stdout


@pytest.mark.slow
def test_make_paper_with_two_seeds_shares_one_split(tiny_root, tmp_path):
    import os

    out = tmp_path / "seeds"
    cmd = [
        sys.executable, "-m", "deepfake_lightning.apps.paper", "--data-root", str(tiny_root), "--out", str(out),
        "--profile", "demo", "--seeds", "0 1", "--no-yolo", "--", f"paths.cache_dir={tmp_path / 'cache'}",
        "logger=csv", "report.bootstrap=50",
    ]  # fmt: skip
    res = subprocess.run(cmd, env={**os.environ, "DFL_DEMO_EPOCHS": "1"}, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["seeds"] == [0, 1] and set(summary["rows"]) == {"0", "1"}
    assert summary["summary"]["ensemble balanced_accuracy"]["n"] == 2
    for s in (0, 1):
        seed_metrics = json.loads((out / f"seed-{s}" / "metrics.json").read_text())
        assert seed_metrics["dataset"]["split_fingerprint"] == summary["split_fingerprint"]
        cfg = (out / f"seed-{s}" / "train" / "general" / "config.yaml").read_text()
        assert f"\nseed: {s}\n" in cfg
    assert "mean" in (out / "REPORT.md").read_text()
