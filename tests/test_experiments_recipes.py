"""experiments/recipes: README.md is what make_readme.py renders from the committed summaries, and every
comparison there has its seeds, its interval and a verdict that matches the interval."""

import importlib.util
import json
from pathlib import Path

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
