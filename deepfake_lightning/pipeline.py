"""The chain as subprocess steps (extract, train x3, ensemble, YOLO, Grad-CAM, report), shared by `make paper`
and dfl-chain: which step takes which override, running a step, resuming what is done."""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from deepfake_lightning.config import compose_app, config_folders
from deepfake_lightning.results import METRICS_FILE, load_metrics

MODELS = {"baseline": "milestone", "general": "general", "specialist": "specialist"}


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
    prefix = profile if profile.startswith("demo") else "paper"  # demo -> demo_general, demo_scratch_general
    seed_arg = [] if seed is None else [f"seed={seed}"]  # the model seed; split.seed stays fixed
    group = f"paper-{out.name}"  # W&B: the trainings and the results run of this chain in one group
    out.mkdir(parents=True, exist_ok=True)
    for model, exp in MODELS.items():
        run_dir = out / "train" / model
        if (run_dir / METRICS_FILE).is_file() and not fresh:
            print(f"==> train {model}: done before, reusing {run_dir}")
            continue
        resume = ["ckpt_path=last"] if (run_dir / "checkpoints" / "last.ckpt").is_file() and not fresh else []
        args = [
            f"experiment={prefix}_{exp}",
            f"data.root={root}",
            f"data.split_file={split_file}",  # one split per experiment: the one extract recorded
            f"hydra.run.dir={run_dir}",
            *resume,
            f"++wandb_group={group}",
            *for_app("train"),
            *seed_arg,
            *train_args,
        ]
        step(f"train {model}", "train", args, run_dir)
    # With pseudo-fakes, the general model is also trained without them, on the same split and seed, so the
    # report can say whether they helped on these data (metrics.json `pseudo_fake_comparison`).
    plain = out / "train" / "general_without_pseudo_fakes"
    compare = uses_pseudo_fakes([*for_app("train"), *train_args])
    if compare and not ((plain / METRICS_FILE).is_file() and not fresh):
        resume = ["ckpt_path=last"] if (plain / "checkpoints" / "last.ckpt").is_file() and not fresh else []
        args = [
            f"experiment={prefix}_general", f"data.root={root}", f"data.split_file={split_file}",
            f"hydra.run.dir={plain}", *resume, f"++wandb_group={group}", *for_app("train"), *seed_arg, *train_args,
            "data.pseudo_fakes=none", "data.pseudo_fakes_only=false", "data.pseudo_fake_val=false",
            "model.name=general_without_pseudo_fakes",
        ]  # fmt: skip
        step("train general without pseudo-fakes", "train", args, plain)
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
    # The paper ran YOLO11n-cls and YOLO11s-cls; the CPU demo runs the nano model only.
    for name in ("yolo11n",) if profile.startswith("demo") else ("yolo11n", "yolo11s"):
        if no_yolo:
            break
        if name in load_metrics(out).get("models", {}) and not fresh:
            print(f"==> {name}: done before, reusing its results")
            continue
        exp = f"{prefix}_{name}" if profile.startswith("demo") else name
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
