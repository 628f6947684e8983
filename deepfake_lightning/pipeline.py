"""The chain as subprocess steps (extract, train x3, ensemble, YOLO, Grad-CAM, report), shared by `make paper`
and dfl-chain: which step takes which override, running a step, resuming what is done."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from deepfake_lightning.config import compose_app, config_folders
from deepfake_lightning.results import METRICS_FILE, load_metrics

MODELS = {"baseline": "milestone", "general": "general", "specialist": "specialist"}


@dataclass(frozen=True)
class Profile:
    """What a data profile (conf/profile/<name>.yaml) means for the chain: the prefix of the experiments its three
    trainings run (`<prefix>_milestone`, ...) and the YOLO11-cls baselines it trains (with their experiments)."""

    experiments: str
    yolos: dict[str, str]


# The one place that knows the profiles (make paper's --profile choices, dfl-chain's `profile`).
PROFILES = {
    "demo": Profile("demo", {"yolo11n": "demo_yolo11n"}),  # the CPU demo runs the nano model only
    "demo_scratch": Profile("demo_scratch", {"yolo11n": "demo_scratch_yolo11n"}),
    "full": Profile("paper", {"yolo11n": "yolo11n", "yolo11s": "yolo11s"}),  # the paper ran both
}


def profile_of(name: str) -> Profile:
    """The Profile of a profile name, or an error listing them."""
    if name not in PROFILES:
        raise ValueError(f"profile={name}: must be one of {sorted(PROFILES)}")
    return PROFILES[name]


app_config = functools.cache(compose_app)  # an app's composed default config, once per process


def applies_to(override: str, config_name: str) -> bool:
    """Whether a command-line override names a key (or a config group) of that app's config."""
    key = override.lstrip("+~").split("=", 1)[0]
    cfg = app_config(config_name)
    if any((folder / key).is_dir() for folder in config_folders()):  # a group choice such as split=grouped
        return key.split(".")[0] in cfg
    node = cfg
    for part in key.split("."):
        if not OmegaConf.is_dict(node) or part not in node:
            return override.startswith("+")
        node = node[part]
    return True


STEP_APPS = ("extract", "train", "ensemble", "yolo")  # the apps that take ARGS


def uses_pseudo_fakes(overrides: Sequence[str]) -> bool:
    """Whether the trainings' overrides turn self-blended pseudo-fakes on (the last data.pseudo_fakes= wins)."""
    value = "none"
    for o in overrides:
        key, _, v = o.lstrip("+~").partition("=")
        if key == "data.pseudo_fakes":
            value = v
        elif key == "experiment" and "sbi" in v:
            value = "sbi"
    return value == "sbi"


def unaccepted(overrides: Sequence[str]) -> list[str]:
    """The overrides that no step of the chain would take: an error, not silently dropped."""
    return [o for o in overrides if not any(applies_to(o, app) for app in STEP_APPS)]


def step(name: str, module: str, args: list[str], log_dir: Path) -> None:
    """Run one app as a subprocess; stop the chain with its log's path when it fails."""
    cmd = [sys.executable, "-m", f"deepfake_lightning.apps.{module}", *args]
    print(f"==> {name}: {' '.join(cmd[2:])}", flush=True)
    t0 = time.monotonic()
    res = subprocess.run(cmd)
    if res.returncode != 0:
        raise SystemExit(f"step {name} failed (exit {res.returncode}); see {log_dir}")
    print(f"    {name} done in {time.monotonic() - t0:.0f}s", flush=True)


def extract(root: Path, out: Path, profile: str, for_app: Callable[[str], list[str]]) -> Path:
    """Run dfl-extract into OUT/extract (the cache is reused when it exists); returns the split.json it recorded."""
    step(
        "extract",
        "extract",
        [f"data.root={root}", f"profile={profile}", f"hydra.run.dir={out}/extract", *for_app("extract")],
        out / "extract",
    )
    return out / "extract" / "split.json"


def chain(
    root: Path,
    out: Path,
    split_file: Path,
    profile: str,
    for_app: Callable[[str], list[str]],
    fresh: bool,
    no_yolo: bool,
    seed: int | None = None,
    train_args: Sequence[str] = (),
) -> None:
    """Train x3, ensemble, YOLO, Grad-CAM and report into `out`, on the split recorded in `split_file`.

    `train_args` go to the three trainings only (e.g. model.net.arch=efficientnet_b0 for a backbone sweep).
    """
    prefix = profile_of(profile).experiments
    seed_arg = [] if seed is None else [f"seed={seed}"]  # the model seed; split.seed stays fixed
    group = f"paper-{out.name}"  # W&B: the trainings and the results run of this chain in one group
    out.mkdir(parents=True, exist_ok=True)

    def train(name: str, experiment: str, run_dir: Path, extra: Sequence[str] = ()) -> None:
        if (run_dir / METRICS_FILE).is_file() and not fresh:
            print(f"==> train {name}: done before, reusing {run_dir}")
            return
        resume = ["ckpt_path=last"] if (run_dir / "checkpoints" / "last.ckpt").is_file() and not fresh else []
        # data.split_file: one split per experiment, the one extract recorded.
        args = [f"experiment={prefix}_{experiment}", f"data.root={root}", f"data.split_file={split_file}",
                f"hydra.run.dir={run_dir}", *resume, f"++wandb_group={group}", *for_app("train"), *seed_arg,
                *train_args, *extra]  # fmt: skip
        step(f"train {name}", "train", args, run_dir)

    for model, exp in MODELS.items():
        train(model, exp, out / "train" / model)
    # With pseudo-fakes, the general model is also trained without them, on the same split and seed, so the
    # report can say whether they helped on these data (metrics.json `pseudo_fake_comparison`).
    plain = out / "train" / "general_without_pseudo_fakes"
    compare = uses_pseudo_fakes([*for_app("train"), *train_args])
    if compare:
        train("general without pseudo-fakes", "general", plain, ["data.pseudo_fakes=none",
              "data.pseudo_fakes_only=false", "data.pseudo_fake_val=false", "model.name=general_without_pseudo_fakes"])  # fmt: skip
    done = "ensemble" in load_metrics(out, missing_ok=True).get("models", {})
    if done and not fresh:
        print(f"==> ensemble: done before, reusing {out / METRICS_FILE}")
    else:
        args = [
            f"general={out}/train/general",
            f"specialist={out}/train/specialist",
            f"baseline={out}/train/baseline",
            *([f"compare_general={plain}"] if compare else []),
            f"out_dir={out}",
            f"hydra.run.dir={out}/ensemble",
            *for_app("ensemble"),
            *seed_arg,
        ]
        step("ensemble", "ensemble", args, out / "ensemble")
    for name, exp in profile_of(profile).yolos.items():
        if no_yolo:
            break
        if name in load_metrics(out).get("models", {}) and not fresh:
            print(f"==> {name}: done before, reusing its results")
            continue
        args = [
            f"experiment={exp}",
            f"data.root={root}",
            f"data.split_file={split_file}",
            f"out_dir={out}",
            f"hydra.run.dir={out}/yolo/{name}",
            *for_app("yolo"),
            *seed_arg,
        ]
        step(name, "yolo", args, out / "yolo")
    if not (out / "gradcam" / "grid.png").is_file() or fresh:
        step("gradcam", "gradcam", [f"out_dir={out}", f"hydra.run.dir={out}/gradcam/run"], out / "gradcam")
    step("report", "report", [f"out_dir={out}", f"hydra.run.dir={out}/report", f"wandb_group={group}"], out / "report")


def run(
    root: Path,
    out: Path,
    profile: str,
    overrides: Sequence[str] = (),
    seeds: Sequence[int] = (),
    jobs: int = 1,
    fresh: bool = False,
    *,
    no_yolo: bool,
    seed: int | None = None,
    train_args: Sequence[str] = (),
) -> dict:
    """The chain, the one runner behind `make paper` and dfl-chain: extract once, then train x3, ensemble, YOLO,
    Grad-CAM and report into `out` (model seed `seed`), or with `seeds` once per model seed into out/seed-N (`jobs`
    at a time) and their summary into `out`; returns out's metrics.json. `overrides` reach every step that has the
    key; `train_args` the three trainings only."""
    from deepfake_lightning.evaluation.claims import SEEDS_ADVISED
    from deepfake_lightning.evaluation.seed_report import seed_advice, write_seed_report
    from deepfake_lightning.evaluation.seeds import seed_summary
    from deepfake_lightning.results import write_metrics
    from deepfake_lightning.runtime import JOBS_ENV

    profile_of(profile)
    root, out = Path(root).resolve(), Path(out).resolve()
    if not root.is_dir():
        raise SystemExit(f"data root {root} is not a folder (data.root)")
    overrides = [o for o in overrides if o != "--"]
    if seeds and any(o.split("=", 1)[0].lstrip("+~") == "seed" for o in overrides):
        raise SystemExit("give the model seeds with SEEDS=..., not seed= in ARGS")
    unused = unaccepted(overrides)
    if unused:
        raise SystemExit(
            f"ARGS: {' '.join(unused)}: no step of the chain ({', '.join(STEP_APPS)}) has that key; "
            "check the spelling (dfl-train --cfg job shows a step's keys) or add + for a new key"
        )
    if jobs < 1:
        raise SystemExit(f"JOBS={jobs}: give 1 or more")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def for_app(config_name: str) -> list[str]:
        return [o for o in overrides if applies_to(o, config_name)]

    # Extraction and the split are shared by every seed: only the model seed changes between chains.
    split_file = extract(root, out, profile, for_app)

    def one(folder: Path, s: int | None) -> None:
        chain(root, folder, split_file, profile, for_app, fresh, no_yolo, s, train_args)

    if not seeds:
        one(out, seed)
        print(f"\nREPORT.md: {out / 'REPORT.md'}  (whole chain {time.monotonic() - t0:.0f}s)")
        print(
            "The claim's verdict here is about this trained model on this test split. For a verdict about the "
            f"recipe (over the randomness of training), run at least {SEEDS_ADVISED} model seeds: "
            f'SEEDS="{" ".join(str(i) for i in range(SEEDS_ADVISED))}".'
        )
        return load_metrics(out)
    if jobs == 1:
        for s in seeds:
            print(f"\n=== seed {s} ===", flush=True)
            one(out / f"seed-{s}", s)
    else:
        # Several seed chains at once: every step they start divides the cores by the jobs (runtime.py).
        from concurrent.futures import ThreadPoolExecutor

        os.environ[JOBS_ENV] = str(jobs)
        print(f"\n=== seeds {list(seeds)}, {jobs} at a time ===", flush=True)
        with ThreadPoolExecutor(jobs) as pool:
            for f in [pool.submit(one, out / f"seed-{s}", s) for s in seeds]:
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
    return summary
