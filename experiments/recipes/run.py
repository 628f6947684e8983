"""Which recipe to use, measured: paired comparisons over model seeds on one split (experiments/recipes/).

(a) the chain (general + specialist, their 0.6/0.4 logit ensemble at its val-chosen threshold) on ResNet-50 from
    scratch (PROFILE=demo_scratch) vs on the offline ImageNet EfficientNet-Lite0 (PROFILE=demo);
(b) the Lite0 general model with vs without self-blended pseudo-fakes in its batches (data.pseudo_fakes=sbi);
(c) the Lite0 model trained on real frames and their self-blends only, checkpoint and threshold chosen on val reals
    and their blends (no fake video seen anywhere) vs the Lite0 general model.

Each comparison is b - a per model seed on the same test items, with an interval that counts the seeds' spread
and the test set's sampling (identity groups resampled; evaluation/compare.py). Resumable: a finished training
is reused.

    make recipes DATA_ROOT=/data/Celeb-DF-v2 SEEDS="0 1 2 3"        # on your data (Celeb-DF v2 layout)
    .venv/bin/python experiments/recipes/run.py --data-root data/dfl-synth --out outputs/recipes/demo \\
        --seeds 0 1 2 3 --label "embedded demo data (generated faces)"
    .venv/bin/python experiments/recipes/run.py --data-root data/realfaces --out outputs/recipes/realfaces \\
        --seeds 0 1 2 3 --epochs-scale 5 --label "..." data=celebdf       # after realfaces.py (its docstring)
    cp outputs/recipes/demo/summary.json experiments/recipes/demo/ && .venv/bin/python experiments/recipes/make_readme.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from deepfake_lightning.apps.common import offline_defaults
from deepfake_lightning.config import compose_app
from deepfake_lightning.evaluation.compare import compare_recipes, run_test_scores
from deepfake_lightning.pipeline import applies_to, extract, step
from deepfake_lightning.results import METRICS_FILE, read_split

# name -> (profile, experiment, extra overrides): the trainings the comparisons need.
TRAININGS = {
    "scratch_general": ("demo_scratch", "demo_scratch_general", []),
    "scratch_specialist": ("demo_scratch", "demo_scratch_specialist", []),
    "lite_general": ("demo", "demo_general", []),
    "lite_specialist": ("demo", "demo_specialist", []),
    "lite_general_sbi_mixed": ("demo", "demo_general", ["data.pseudo_fakes=sbi", "model.name=general_sbi_mixed"]),
    "lite_sbi_only": ("demo", "demo_sbi_general", ["data.pseudo_fake_val=true"]),
}
ENSEMBLES = {
    "scratch_ensemble": ("scratch_general", "scratch_specialist"),
    "lite_ensemble": ("lite_general", "lite_specialist"),
}
COMPARISONS = {
    "a": (
        "scratch_ensemble",
        "lite_ensemble",
        "the chain's ensemble: ImageNet EfficientNet-Lite0 minus ResNet-50 from scratch",
    ),
    "b": ("lite_general", "lite_general_sbi_mixed", "Lite0 general model: with pseudo-fakes minus without"),
    "c": (
        "lite_general",
        "lite_sbi_only",
        "Lite0: real frames + self-blends only (no fake seen) minus the general model",
    ),
}


def epochs(experiment: str, overrides: list[str], scale: float) -> int:
    """The experiment's own number of epochs times `scale`, rounded (at least 1)."""
    cfg = compose_app("train", [f"experiment={experiment}", "data.root=.", *overrides])
    return max(1, round(int(cfg.trainer.max_epochs) * scale))


def main(argv: list[str] | None = None) -> None:
    offline_defaults()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--label", required=True, help="what the data are, for the summary")
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--only", nargs="*", default=list(COMPARISONS), help="comparisons to run (a b c)")
    ap.add_argument(
        "--epochs-scale",
        type=float,
        default=1.0,
        help="each training's epochs = its experiment's x this (e.g. 5 on a set 5x smaller than the demo's, so "
        "every model takes about as many optimizer steps as on the demo data)",
    )
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every step (e.g. data=frames)")
    ns = ap.parse_args(argv)
    root, out = Path(ns.data_root).resolve(), Path(ns.out).resolve()
    overrides = [o for o in ns.overrides if o != "--"]
    extra = [*(o for o in overrides if applies_to(o, "train")), "logger=csv"]
    wanted = {n for c in ns.only for n in COMPARISONS[c][:2]}
    needed = {n for n in wanted if n in TRAININGS} | {m for n in wanted if n in ENSEMBLES for m in ENSEMBLES[n]}
    profiles = sorted({TRAININGS[n][0] for n in needed})
    t0 = time.monotonic()
    splits = {p: extract(root, out / p, p, lambda app: [o for o in overrides if applies_to(o, app)]) for p in profiles}
    prints = {p: read_split(s)["fingerprint"] for p, s in splits.items()}
    if len(set(prints.values())) > 1:
        raise SystemExit(f"the profiles' splits differ ({prints}): the comparisons need one split")
    timings: dict[str, list[float]] = {}
    for seed in ns.seeds:
        for name in sorted(needed):
            profile, experiment, more = TRAININGS[name]
            run = out / f"seed-{seed}" / name
            if (run / METRICS_FILE).is_file():
                continue
            resume = ["ckpt_path=last"] if (run / "checkpoints" / "last.ckpt").is_file() else []
            if ns.epochs_scale != 1.0:
                more = [*more, f"trainer.max_epochs={epochs(experiment, more, ns.epochs_scale)}"]
            t = time.monotonic()
            step(f"{name} seed {seed}", "train", [f"experiment={experiment}", f"data.root={root}",
                 f"data.split_file={splits[profile]}", f"hydra.run.dir={run}", f"seed={seed}", *resume, *extra, *more], run)  # fmt: skip
            timings.setdefault(name, []).append(time.monotonic() - t)
        for name, (g, s) in ENSEMBLES.items():
            if name not in wanted:
                continue
            folder = out / f"seed-{seed}" / name
            if (folder / "ensemble.ckpt").is_file():
                continue
            step(f"{name} seed {seed}", "ensemble", [f"general={out / f'seed-{seed}' / g}",
                 f"specialist={out / f'seed-{seed}' / s}", f"out_dir={folder}", f"hydra.run.dir={folder}/run",
                 "report.bootstrap=0", f"seed={seed}"], folder)  # fmt: skip
    scores = {
        name: [run_test_scores(out / f"seed-{s}" / name) for s in ns.seeds]
        for c in ns.only
        for name in COMPARISONS[c][:2]
    }
    summary = {
        "data": ns.label,
        "data_root": str(root),
        "overrides": overrides,
        "seeds": ns.seeds,
        "split_fingerprint": next(iter(prints.values())),
        "trainings": {
            n: {"profile": TRAININGS[n][0], "experiment": TRAININGS[n][1], "overrides": TRAININGS[n][2]}
            for n in sorted(needed)
        },
        # Wall time of the trainings this call ran (another job may have shared the cores: not a benchmark).
        "train_seconds_mean": {n: sum(v) / len(v) for n, v in timings.items()},
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}, no GPU",
        "epochs_scale": ns.epochs_scale,
        "epochs": {n: epochs(TRAININGS[n][1], TRAININGS[n][2], ns.epochs_scale) for n in sorted(needed)},
        "comparisons": {},
    }
    for c in ns.only:
        a, b, what = COMPARISONS[c]
        summary["comparisons"][c] = {
            "a": a,
            "b": b,
            "what": what,
            **compare_recipes(scores[a], scores[b], ns.bootstrap, 0, 0.95),
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{out / 'summary.json'} ({time.monotonic() - t0:.0f}s)")
    for c, r in summary["comparisons"].items():
        print(
            f"({c}) {r['what']}: "
            + "; ".join(
                f"{k} {r[k]['estimate']:+.3f} [{r[k]['ci'][0]:+.3f}, {r[k]['ci'][1]:+.3f}] {r[k]['verdict']}"
                for k in ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall")
            )
        )


if __name__ == "__main__":
    sys.exit(main())
