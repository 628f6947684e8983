"""`make paper`: the whole chain (extract, train x3, ensemble, YOLO, Grad-CAM, report) on one folder, resumable.

Each step is its own Hydra app run in a subprocess with its run folder under OUT, so a step's
config, logs and checkpoints sit together; a step whose result file exists is not redone, and a
training step killed part-way resumes from its last.ckpt.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from deepfake_lightning.apps.common import CONFIG_DIR, offline_defaults

MODELS = {"baseline": "milestone", "general": "general", "specialist": "specialist"}


def applies_to(override: str, config_name: str) -> bool:
    """Whether a command-line override names a key (or a config group) of that app's config."""
    key = override.lstrip("+~").split("=", 1)[0]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name)
    if (Path(CONFIG_DIR) / key).is_dir():  # a group choice such as split=grouped
        return key.split(".")[0] in cfg
    node = cfg
    for part in key.split("."):
        if not OmegaConf.is_dict(node) or part not in node:
            return override.startswith("+")
        node = node[part]
    return True


def step(name: str, module: str, args: list[str], log_dir: Path) -> None:
    """Run one app as a subprocess; stop the chain with its log's path when it fails."""
    cmd = [sys.executable, "-m", f"deepfake_lightning.apps.{module}", *args]
    print(f"==> {name}: {' '.join(cmd[2:])}", flush=True)
    t0 = time.monotonic()
    res = subprocess.run(cmd)
    if res.returncode != 0:
        raise SystemExit(f"step {name} failed (exit {res.returncode}); see {log_dir}")
    print(f"    {name} done in {time.monotonic() - t0:.0f}s", flush=True)


def main(argv: list[str] | None = None) -> None:
    offline_defaults()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True, help="a folder in the Celeb-DF v2 layout")
    ap.add_argument("--out", required=True, help="where metrics.json, REPORT.md and the run folders go")
    ap.add_argument("--profile", choices=("demo", "full"), default="demo")
    ap.add_argument("--fresh", action="store_true", help="redo every step even when its result exists")
    ap.add_argument("--no-yolo", action="store_true", help="leave the YOLO11-cls baseline out")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every step that has the key")
    ns = ap.parse_args(argv)
    overrides = [o for o in ns.overrides if o != "--"]
    root, out = Path(ns.data_root).resolve(), Path(ns.out).resolve()
    if not root.is_dir():
        raise SystemExit(f"DATA_ROOT={root} is not a folder (data.root)")
    out.mkdir(parents=True, exist_ok=True)
    prefix = "demo" if ns.profile == "demo" else "paper"
    t0 = time.monotonic()

    def for_app(config_name: str) -> list[str]:
        return [o for o in overrides if applies_to(o, config_name)]

    step(
        "extract",
        "extract",
        [f"data.root={root}", f"profile={ns.profile}", f"hydra.run.dir={out}/extract", *for_app("extract")],
        out / "extract",
    )
    split_file = out / "extract" / "split.json"
    for model, exp in MODELS.items():
        run_dir = out / "train" / model
        if (run_dir / "metrics.json").is_file() and not ns.fresh:
            print(f"==> train {model}: done before, reusing {run_dir}")
            continue
        resume = ["ckpt_path=last"] if (run_dir / "checkpoints" / "last.ckpt").is_file() and not ns.fresh else []
        args = [
            f"experiment={prefix}_{exp}",
            f"data.root={root}",
            f"data.split_file={split_file}",  # one split per experiment: the one extract recorded
            f"hydra.run.dir={run_dir}",
            *resume,
            *for_app("train"),
        ]
        step(f"train {model}", "train", args, run_dir)
    metrics = out / "metrics.json"
    done = metrics.is_file() and "ensemble" in json.loads(metrics.read_text()).get("models", {})
    if done and not ns.fresh:
        print(f"==> ensemble: done before, reusing {metrics}")
    else:
        args = [
            f"general={out}/train/general",
            f"specialist={out}/train/specialist",
            f"baseline={out}/train/baseline",
            f"out_dir={out}",
            f"hydra.run.dir={out}/ensemble",
            *for_app("ensemble"),
        ]
        step("ensemble", "ensemble", args, out / "ensemble")
    # The paper ran YOLO11n-cls and YOLO11s-cls; the CPU demo runs the nano model only.
    for name in ("yolo11n",) if ns.profile == "demo" else ("yolo11n", "yolo11s"):
        if ns.no_yolo:
            break
        if name in json.loads(metrics.read_text()).get("models", {}) and not ns.fresh:
            print(f"==> {name}: done before, reusing its results")
            continue
        exp = f"demo_{name}" if ns.profile == "demo" else name
        args = [
            f"experiment={exp}",
            f"data.root={root}",
            f"data.split_file={split_file}",
            f"out_dir={out}",
            f"hydra.run.dir={out}/yolo/{name}",
        ]
        step(name, "yolo", [*args, *for_app("yolo")], out / "yolo")
    if not (out / "gradcam" / "grid.png").is_file() or ns.fresh:
        step("gradcam", "gradcam", [f"out_dir={out}", f"hydra.run.dir={out}/gradcam/run"], out / "gradcam")
    step("report", "report", [f"out_dir={out}", f"hydra.run.dir={out}/report"], out / "report")
    print(f"\nREPORT.md: {out / 'REPORT.md'}  (whole chain {time.monotonic() - t0:.0f}s)")


if __name__ == "__main__":
    main()
