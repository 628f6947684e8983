"""`make paper`: the whole chain (extract, train x3, ensemble, YOLO, Grad-CAM, report) on one folder, resumable.

With --seeds "0 1 2", extraction and the split are shared and the rest runs once per model seed into
OUT/seed-N/; OUT/metrics.json and OUT/REPORT.md then hold every seed's figures with mean and spread.

Each step is its own Hydra app run in a subprocess with its run folder under OUT, so a step's
config, logs and checkpoints sit together; a step whose result file exists is not redone, and a
training step killed part-way resumes from its last.ckpt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deepfake_lightning.apps.common import offline_defaults
from deepfake_lightning.pipeline import PROFILES, run


def main(argv: list[str] | None = None) -> None:
    """`make paper`'s argument names (DATA_ROOT, OUT, PROFILE, SEEDS, JOBS, ARGS) into pipeline.run, the runner
    dfl-chain also calls."""
    offline_defaults()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True, help="a folder in the Celeb-DF v2 layout")
    ap.add_argument("--out", required=True, help="where metrics.json, REPORT.md and the run folders go")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="demo")
    ap.add_argument("--seeds", default="", help='model seeds, e.g. "0 1 2": one chain each in OUT/seed-N')
    ap.add_argument("--jobs", type=int, default=1, help="seed chains run at once; they divide the cores (DFL_JOBS)")
    ap.add_argument("--fresh", action="store_true", help="redo every step even when its result exists")
    ap.add_argument("--no-yolo", action="store_true", help="leave the YOLO11-cls baseline out")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every step that has the key")
    ns = ap.parse_args(argv)
    try:
        seeds = [int(x) for x in ns.seeds.replace(",", " ").split()]
    except ValueError:
        raise SystemExit(f'SEEDS={ns.seeds!r}: give whole numbers, e.g. SEEDS="0 1 2"') from None
    run(Path(ns.data_root), Path(ns.out), ns.profile, ns.overrides, seeds, ns.jobs, ns.fresh, no_yolo=ns.no_yolo)


if __name__ == "__main__":
    main()
