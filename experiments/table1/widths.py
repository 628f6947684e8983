"""Interval widths of a table1 folder's results (demo/ and seeds/): what make_readme.py sets before and after side
by side. `python experiments/table1/widths.py OUT.json` writes them for the folder as it is now."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIGURES = ("balanced_accuracy", "real_recall", "roc_auc")


def width(ci: list[float] | None) -> float | None:
    return None if not ci else float(ci[1] - ci[0])


def widths(here: Path = HERE) -> dict[str, Any]:
    """{demo: {ensemble test figure: width, claim figure: width}, seeds: {recipe claim figure: width}, unit}."""
    demo = json.loads((here / "demo" / "metrics.json").read_text())
    seeds = json.loads((here / "seeds" / "metrics.json").read_text())
    ens = demo["models"]["ensemble"]
    boot = ens.get("bootstrap") or {}
    rc = seeds.get("recipe_claim") or {}
    return {
        "unit": (boot.get("groups") or {}).get("unit", "video"),
        "groups": boot.get("groups"),
        "ensemble_test": {k: width((ens.get("test_ci") or {}).get(k)) for k in FIGURES},
        "claim": {k: width((demo.get("claim") or {}).get(k, {}).get("ci")) for k in FIGURES[:2]},
        "recipe_claim": {k: width(rc.get(k, {}).get("ci")) for k in FIGURES[:2]},
        "recipe_method": rc.get("method", rc.get("resampled")),
    }


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(widths(), indent=2) + "\n")
