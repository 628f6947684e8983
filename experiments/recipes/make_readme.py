"""Write experiments/recipes/README.md from the summaries beside it (<name>/summary.json): every figure and verdict in
its prose is read from them, so a reading cannot outlive its numbers (tests/test_experiments_recipes.py re-renders).

    .venv/bin/python experiments/recipes/make_readme.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FEW_GROUPS = 10  # below this many test identities with a real video, a grouped bootstrap's interval is not trusted
FIGURES = ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall")
NAMES = {"roc_auc": "ROC AUC", "balanced_accuracy": "balanced accuracy", "real_recall": "real recall",
         "fake_recall": "fake recall"}  # fmt: skip
WORDS = {"higher": "higher with b (interval above 0)", "lower": "lower with b (interval below 0)",
         "not shown": "not shown (interval includes 0)"}  # fmt: skip


def summaries(here: Path = HERE) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(here.glob("*/summary.json"))}


def f3(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def section(name: str, s: dict[str, Any]) -> list[str]:
    c0 = next(iter(s["comparisons"].values()))
    lines = [
        f"## `{name}/`: {s['data']}",
        "",
        f"{c0['n_items']} test frames in {c0['n_groups']['all']} identity groups ({c0['n_groups']['with_real']} with a "
        f"real video); model seeds {', '.join(str(x) for x in s['seeds'])}; split {s['split_fingerprint']}; "
        f"{s['machine']}. Each model at its own val-chosen threshold; interval: {int(100 * c0['level'])}% over the "
        f"seeds' differences with the test set's identity-grouped bootstrap variance ({c0['n_boot']} resamples) added.",
        "",
        *(
            [
                f"**Only {c0['n_groups']['with_real']} test identities hold a real video**: an interval that resamples "
                f"so few groups cannot be trusted (fewer than {FEW_GROUPS}); read these rows as directions, not as "
                "evidence either way.",
                "",
            ]
            if c0["n_groups"]["with_real"] < FEW_GROUPS
            else []
        ),
        "| | figure | a (mean over seeds) | b (mean over seeds) | b - a [interval] | per seed | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, c in s["comparisons"].items():
        for k in FIGURES:
            d = c[k]
            lines.append(
                f"| ({key}) | {NAMES[k]} | {f3(mean(d['a']))} | {f3(mean(d['b']))} | {d['estimate']:+.3f} "
                f"[{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] | {', '.join(f'{x:+.3f}' for x in d['per_seed'])} | "
                f"{d['verdict']} |"
            )
    lines.append("")
    for key, c in s["comparisons"].items():
        auc, ba = c["roc_auc"], c["balanced_accuracy"]
        lines.append(
            f"- ({key}) {c['what']} (a = `{c['a']}`, b = `{c['b']}`): ROC AUC {f3(mean(auc['a']))} -> "
            f"{f3(mean(auc['b']))}, {WORDS[auc['verdict']]}; balanced accuracy {f3(mean(ba['a']))} -> "
            f"{f3(mean(ba['b']))}, {WORDS[ba['verdict']]}."
        )
    ep = s.get("epochs")
    if isinstance(ep, dict):
        scale = s.get("epochs_scale", 1.0)
        lines += [
            "",
            "Epochs per training: " + ", ".join(f"{n} {v}" for n, v in sorted(ep.items()))
            + ("" if scale == 1.0 else f" (each experiment's own epochs x {scale:g}, so a model takes about as many "
               "optimizer steps as on the demo data)") + ".",
        ]  # fmt: skip
    return [*lines, ""]


def render(here: Path = HERE) -> str:
    parts = [
        "# experiments/recipes: which recipe, measured",
        "",
        "Written by `make_readme.py` from the `summary.json` files beside it (made by `run.py`; how to rerun is in its",
        "docstring). Three paired comparisons, each b - a per model seed on the same test frames:",
        "",
        "- (a) the chain's ensemble (general + specialist, 0.6/0.4 logits, val-chosen threshold): ResNet-50 from",
        "  scratch (a, `PROFILE=demo_scratch`, 64 px) vs EfficientNet-Lite0 fine-tuned from the registry's ImageNet",
        "  weights (b, `PROFILE=demo`, 112 px);",
        "- (b) the Lite0 general model without (a) and with (b) self-blended pseudo-fakes in its batches;",
        "- (c) the Lite0 general model (a) vs Lite0 trained on real frames and their self-blends only, checkpoint and",
        "  threshold chosen on val reals and their blends, so no fake video is seen anywhere (b).",
        "",
        "An interval that includes 0 is a result: the data could not tell the recipes apart.",
        "",
    ]
    for name, s in summaries(here).items():
        parts += section(name, s)
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    (HERE / "README.md").write_text(render())


if __name__ == "__main__":
    sys.exit(main())
