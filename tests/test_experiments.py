"""The experiments' READMEs are written from their numbers: re-rendering gives the committed text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TABLE1 = Path(__file__).resolve().parents[1] / "experiments" / "table1"


def test_table1_readme_is_rendered_from_its_numbers():
    spec = importlib.util.spec_from_file_location("make_readme", TABLE1 / "make_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data = mod.load(TABLE1)
    assert (TABLE1 / "README.md").read_text() == mod.render(data)
    # The claim in the tables is the difference of the two reported blocks, in every seed.
    for m in [data["demo"], *data["per_seed"].values()]:
        ens, base = m["models"]["ensemble"]["test"], m["models"]["baseline"]["test_at_0.5"]
        for k in ("balanced_accuracy", "real_recall", "fake_recall"):
            assert m["claim"][k]["estimate"] == ens[k] - base[k]
