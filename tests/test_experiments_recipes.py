"""experiments/recipes: README.md is what make_readme.py renders from the committed summaries, and every
comparison there has its seeds, its interval and a verdict that matches the interval."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parents[1] / "experiments" / "recipes"


def _module():
    spec = importlib.util.spec_from_file_location("recipes_readme", HERE / "make_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_is_rendered_from_the_summaries():
    assert (HERE / "README.md").read_text() == _module().render(HERE)


@pytest.mark.parametrize("summary", sorted(HERE.glob("*/summary.json")), ids=lambda p: p.parent.name)
def test_each_comparison_has_four_seeds_an_interval_and_a_matching_verdict(summary):
    from deepfake_lightning.evaluation.compare import verdict

    s = json.loads(summary.read_text())
    assert set(s["comparisons"]) == {"a", "b", "c"} and len(s["seeds"]) >= 4
    for c in s["comparisons"].values():
        for k in ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall"):
            d = c[k]
            assert len(d["per_seed"]) == len(s["seeds"]) == len(d["a"]) == len(d["b"])
            assert d["ci"][0] <= d["estimate"] <= d["ci"][1]
            assert d["verdict"] == verdict(d)
            assert abs(d["estimate"] - sum(b - a for a, b in zip(d["a"], d["b"])) / len(d["a"])) < 1e-9


def test_the_runner_trains_scores_and_compares_on_a_tiny_set(tiny_root, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("recipes_run", HERE / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "out"
    run.main(["--data-root", str(tiny_root), "--out", str(out), "--seeds", "0", "1", "--label", "tiny", "--only", "b",
              "--bootstrap", "50", "debug=tiny", f"paths.cache_dir={tmp_path / 'cache'}", "data.extract.frames_per_video=2"])  # fmt: skip
    s = json.loads((out / "summary.json").read_text())
    b = s["comparisons"]["b"]
    assert (b["a"], b["b"], b["n_seeds"]) == ("lite_general", "lite_general_sbi_mixed", 2)
    assert b["roc_auc"]["ci"][0] <= b["roc_auc"]["estimate"] <= b["roc_auc"]["ci"][1]
    # Each model was scored on the same test items, at its own stored threshold.
    for name in ("lite_general", "lite_general_sbi_mixed"):
        z = np.load(out / "seed-1" / name / "test_scores.npz")
        saved = json.loads((out / "seed-1" / name / "metrics.json").read_text())
        assert float(z["threshold"]) == saved["threshold"] and len(z["keys"]) == b["n_items"]
