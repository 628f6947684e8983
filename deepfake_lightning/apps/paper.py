"""`make paper`: the whole chain (extract, train x3, ensemble, YOLO, Grad-CAM, report) on one folder, resumable.

With --seeds "0 1 2", extraction and the split are shared and the rest runs once per model seed into
OUT/seed-N/; OUT/metrics.json and OUT/REPORT.md then hold every seed's figures with mean and spread.

Each step is its own Hydra app run in a subprocess with its run folder under OUT, so a step's
config, logs and checkpoints sit together; a step whose result file exists is not redone, and a
training step killed part-way resumes from its last.ckpt.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from deepfake_lightning.apps.common import offline_defaults
from deepfake_lightning.evaluation.seeds import seed_advice, seed_summary, write_seed_report
from deepfake_lightning.evaluation.statistics import SEEDS_ADVISED
from deepfake_lightning.pipeline import STEP_APPS, applies_to, chain, extract, unaccepted
from deepfake_lightning.results import load_metrics, write_metrics
from deepfake_lightning.runtime import JOBS_ENV


def main(argv: list[str] | None = None) -> None:
    offline_defaults()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True, help="a folder in the Celeb-DF v2 layout")
    ap.add_argument("--out", required=True, help="where metrics.json, REPORT.md and the run folders go")
    ap.add_argument("--profile", choices=("demo", "demo_scratch", "full"), default="demo")
    ap.add_argument("--seeds", default="", help='model seeds, e.g. "0 1 2": one chain each in OUT/seed-N')
    ap.add_argument("--jobs", type=int, default=1, help="seed chains run at once; they divide the cores (DFL_JOBS)")
    ap.add_argument("--fresh", action="store_true", help="redo every step even when its result exists")
    ap.add_argument("--no-yolo", action="store_true", help="leave the YOLO11-cls baseline out")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every step that has the key")
    ns = ap.parse_args(argv)
    overrides = [o for o in ns.overrides if o != "--"]
    root, out = Path(ns.data_root).resolve(), Path(ns.out).resolve()
    if not root.is_dir():
        raise SystemExit(f"DATA_ROOT={root} is not a folder (data.root)")
    try:
        seeds = [int(x) for x in ns.seeds.replace(",", " ").split()]
    except ValueError:
        raise SystemExit(f'SEEDS={ns.seeds!r}: give whole numbers, e.g. SEEDS="0 1 2"') from None
    if any(o.split("=", 1)[0].lstrip("+~") == "seed" for o in overrides) and seeds:
        raise SystemExit("give the model seeds with SEEDS=..., not seed= in ARGS")
    unused = unaccepted(overrides)
    if unused:
        raise SystemExit(
            f"ARGS: {' '.join(unused)}: no step of the chain ({', '.join(STEP_APPS)}) has that key; "
            "check the spelling (dfl-train --cfg job shows a step's keys) or add + for a new key"
        )
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def for_app(config_name: str) -> list[str]:
        return [o for o in overrides if applies_to(o, config_name)]

    # Extraction and the split are shared by every seed: only the model seed changes between chains.
    split_file = extract(root, out, ns.profile, for_app)
    if not seeds:
        chain(root, out, split_file, ns.profile, for_app, ns.fresh, ns.no_yolo)
        print(f"\nREPORT.md: {out / 'REPORT.md'}  (whole chain {time.monotonic() - t0:.0f}s)")
        print(
            "The claim's verdict here is about this trained model on this test split. For a verdict about the "
            f"recipe (over the randomness of training), run at least {SEEDS_ADVISED} model seeds: "
            f'SEEDS="{" ".join(str(i) for i in range(SEEDS_ADVISED))}".'
        )
        return
    if ns.jobs < 1:
        raise SystemExit(f"JOBS={ns.jobs}: give 1 or more")
    if ns.jobs == 1:
        for seed in seeds:
            print(f"\n=== seed {seed} ===", flush=True)
            chain(root, out / f"seed-{seed}", split_file, ns.profile, for_app, ns.fresh, ns.no_yolo, seed)
    else:
        # Several seed chains at once: every step they start divides the cores by the jobs (runtime.py).
        from concurrent.futures import ThreadPoolExecutor

        os.environ[JOBS_ENV] = str(ns.jobs)
        print(f"\n=== seeds {seeds}, {ns.jobs} at a time ===", flush=True)
        with ThreadPoolExecutor(ns.jobs) as pool:
            futures = [
                pool.submit(chain, root, out / f"seed-{s}", split_file, ns.profile, for_app, ns.fresh, ns.no_yolo, s)
                for s in seeds
            ]
            for f in futures:
                f.result()
    per_seed = {s: load_metrics(out / f"seed-{s}") for s in seeds}
    summary = seed_summary(per_seed, {s: out / f"seed-{s}" for s in seeds})
    write_metrics(out, summary, "seeds")
    report = write_seed_report(out, summary)
    print(f"\nREPORT.md: {report}  ({len(seeds)} seeds, {time.monotonic() - t0:.0f}s)")
    rc = summary.get("recipe_claim")
    if rc:
        print(f"The claim over {len(seeds)} seeds (the recipe): {rc['verdict']}")
    if len(seeds) < SEEDS_ADVISED:
        print(seed_advice(len(seeds)))


if __name__ == "__main__":
    main()
