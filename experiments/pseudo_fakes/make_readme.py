"""Write experiments/pseudo_fakes/README.md from its numbers (demo/metrics.json, robustness/metrics.json): the
with/without comparison of self-blended pseudo-fakes on the embedded demo, and the demo ensemble under
degradations. Every figure in the prose is read from those files; a test re-renders and compares.

    python experiments/pseudo_fakes/make_readme.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load(here: Path = HERE) -> dict[str, Any]:
    out = {"demo": json.loads((here / "demo" / "metrics.json").read_text())}
    only = here / "sbi_only" / "metrics.json"
    if only.is_file():
        out["sbi_only"] = json.loads(only.read_text())
    rob = here / "robustness" / "metrics.json"
    if rob.is_file():
        out["robustness"] = json.loads(rob.read_text())["robustness"]
    return out


def d(x: dict[str, Any]) -> str:
    ci = x.get("ci")
    return f"{x['estimate']:+.3f}" + ("" if not ci else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]")


def f3(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def comparison_lines(m: dict[str, Any]) -> list[str]:
    c, models, pf = m["pseudo_fake_comparison"], m["models"], m.get("pseudo_fakes") or {}
    g, p = models["general"]["test"], models["general_without_pseudo_fakes"]["test"]
    lines = [
        "| Figure (test, val-chosen threshold) | general with pseudo-fakes | general without | difference [95% CI] |",
        "|---|---|---|---|",
    ]
    for k in ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall"):
        lines.append(f"| {k.replace('_', ' ')} | {f3(g[k])} | {f3(p[k])} | {d(c[k])} |")
    verdict = c["verdict"]
    meaning = {
        "helped": "both the ROC AUC and the balanced-accuracy intervals lie above 0",
        "hurt": "an interval lies entirely below 0",
        "not shown": "an interval includes 0",
    }[verdict]
    ens = models["ensemble"]["test"]
    lines += [
        "",
        "Reading it (every figure read from `demo/metrics.json`):",
        f"- Verdict for these two trained models on this test split: **{verdict}** ({meaning}). ROC AUC "
        f"{f3(p['roc_auc'])} without -> {f3(g['roc_auc'])} with; balanced accuracy {f3(p['balanced_accuracy'])} -> "
        f"{f3(g['balanced_accuracy'])}. One model seed: training randomness is not in the interval.",
        f"- The trainings saw about {pf.get('seen_per_epoch', {}).get('real', '?')} real and "
        f"{pf.get('seen_per_epoch', {}).get('fake', '?')} fake frames per epoch, {100 * pf.get('ratio', 0):.0f}% of "
        f"each batch made into pseudo-fakes (mask: {pf.get('mask', '?')}).",
        f"- The ensemble of the two pseudo-fake-trained members reached ROC AUC {f3(ens['roc_auc'])} (real recall "
        f"{f3(ens['real_recall'])} at its val-chosen threshold {models['ensemble']['threshold']:.2f}); the claim "
        f"against the baseline: **{m['claim']['verdict']}** (balanced accuracy {d(m['claim']['balanced_accuracy'])}, "
        f"real recall {d(m['claim']['real_recall'])}).",
    ]
    return lines


def sbi_only_lines(ev: dict[str, Any]) -> list[str]:
    """The SBI setting: trained on real frames and pseudo-fakes only, tested on the demo's fake videos."""
    name, block = next(iter(ev["models"].items()))
    t, ci = block["test"], block.get("test_ci") or {}

    def c(k: str) -> str:
        return f3(t[k]) + ("" if not ci.get(k) else f" [{ci[k][0]:.3f}, {ci[k][1]:.3f}]")

    return [
        "## Real frames and pseudo-fakes only (the SBI setting)",
        "",
        f"`dfl-train experiment=demo_sbi_general` (no fake video seen in training), then `dfl-eval ... subset=test` "
        f"(`sbi_only/`): on {ev['eval']['videos']} test videos, ROC AUC {c('roc_auc')}, balanced accuracy "
        f"{c('balanced_accuracy')} and real recall {c('real_recall')} at its val-chosen threshold "
        f"{block['threshold']:.2f} (intervals conditional on that threshold: a single run stores no val scores). "
        + (
            f"Its ROC AUC interval lies above 0.5, by at most {ci['roc_auc'][1] - 0.5:.3f}."
            if ci.get("roc_auc") and ci["roc_auc"][0] > 0.5
            else "Its ROC AUC interval includes 0.5: not distinguishable from chance."
            if ci.get("roc_auc") and ci["roc_auc"][1] >= 0.5
            else "Its ROC AUC interval lies below 0.5."
        ),
    ]


def robustness_lines(rob: dict[str, Any]) -> list[str]:
    names = list(rob["clean"])
    lines = [
        "## The demo ensemble under degradations",
        "",
        f"`dfl-eval` on the {rob['videos']} test videos of `experiments/table1/demo` (seed 0), each degradation "
        f"applied {rob['applied']}; ROC AUC per model, severity 0 = clean:",
        "",
        "| kind | level | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for kind, rows in rob["kinds"].items():
        for r in [{"level": 0, "models": rob["clean"]}, *rows]:
            lines.append(
                f"| {kind} | {r['level']} | " + " | ".join(f3(r["models"][n]["roc_auc"]) for n in names) + " |"
            )
    worst = min(
        ((kind, r["level"], r["models"]["ensemble"]["roc_auc"]) for kind, rows in rob["kinds"].items() for r in rows),
        key=lambda t: t[2] if t[2] is not None else 9,
    )
    clean = rob["clean"]["ensemble"]["roc_auc"]
    lines += [
        "",
        f"- The ensemble's clean ROC AUC is {f3(clean)}; its lowest under a degradation is {f3(worst[2])} "
        f"({worst[0]}, level {worst[1]}). Intervals for every cell are in `robustness/metrics.json` and "
        "`robustness/REPORT.md`.",
    ]
    return lines


def render(data: dict[str, Any]) -> str:
    m = data["demo"]
    lines = [
        "# pseudo_fakes: self-blended pseudo-fakes, with and without, and degradations",
        "",
        "What it measures (not in the paper): whether self-blended pseudo-fakes (Shiohara & Yamasaki, CVPR 2022;",
        "README, *Self-blended pseudo-fakes*) change what the chain learns on the embedded demo, as a paired",
        "difference between the general model trained with and without them on one split and one seed; and how",
        "the demo ensemble holds up under real-world degradations (README, *Under real-world degradations*).",
        "",
        'How: `make paper DATA_ROOT=data/dfl-synth PROFILE=demo OUT=outputs/demo-sbi ARGS="data.pseudo_fakes=sbi"`',
        "(`demo/` here), and `dfl-eval run=outputs/demo data.root=data/dfl-synth subset=test",
        '"perturb=[jpeg,blur,noise,resize,contrast,h264]" perturb_levels=[1,3,5]` (`robustness/`). This README is',
        "written by `python experiments/pseudo_fakes/make_readme.py` from those folders.",
        "",
        "## With and without pseudo-fakes (demo, CPU, from scratch)",
        "",
        *comparison_lines(m),
        "",
    ]
    if "sbi_only" in data:
        lines += [*sbi_only_lines(data["sbi_only"]), ""]
    if "robustness" in data:
        lines += [*robustness_lines(data["robustness"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":  # python experiments/<name>/make_readme.py [folder]
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else HERE)
    (folder / "README.md").write_text(render(load(folder)))
    print(f"wrote {folder / 'README.md'}")
