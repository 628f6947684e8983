"""The experiments' READMEs are written from their numbers: re-rendering gives the committed text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _module(folder: Path):
    spec = importlib.util.spec_from_file_location(f"make_readme_{folder.name}", folder / "make_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["table1", "pseudo_fakes"])
def test_readme_is_rendered_from_its_numbers(name):
    folder = EXPERIMENTS / name
    mod = _module(folder)
    assert (folder / "README.md").read_text() == mod.render(mod.load(folder))


def test_table1_claims_are_the_difference_of_the_reported_blocks():
    data = _module(EXPERIMENTS / "table1").load(EXPERIMENTS / "table1")
    for m in [data["demo"], *data["per_seed"].values()]:
        ens, base = m["models"]["ensemble"]["test"], m["models"]["baseline"]["test_at_0.5"]
        for k in ("balanced_accuracy", "real_recall", "fake_recall"):
            assert m["claim"][k]["estimate"] == ens[k] - base[k]
    rc = data["seeds"]["recipe_claim"]
    per = [m["claim"]["real_recall"]["estimate"] for m in data["per_seed"].values()]
    assert abs(rc["real_recall"]["estimate"] - sum(per) / len(per)) < 1e-12
