"""Training throughput on a shared machine (make bench, part `contention`): each figure a ratio inside one run.

- beside one competing single-threaded CPU-bound process / alone (target >= 0.45 on 2 cores);
- two trainings at once, combined / one alone (target >= 0.9), started as the framework's launchers start
  parallel jobs (DFL_JOBS=2), and, for comparison, without it (each taking every core);
- a 2-job joblib multirun of the demo specialist: wall time / twice one job's (target <= 0.6).

Each training runs in its own process (`python -m benchmarks.contention --worker ...`), as an app would:
the package sets the OpenMP wait policy before torch loads, and the worker applies `runtime` (threads=auto).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BUSY = "import time\nt = time.time()\nwhile time.time() - t < 3600:\n    pass\n"


def worker(cache: str, steps: int, warmup: int, size: int, batch: int) -> float:
    """img/s of the demo general model's training step on `cache` (the project path, this process's runtime)."""
    from benchmarks.measures import cache_overrides, project_train_rate
    from deepfake_lightning.config import compose_app, shipped
    from deepfake_lightning.runtime import apply_runtime

    runtime = dict(shipped("runtime/default.yaml"))
    runtime["threads"] = os.environ.get("DFL_BENCH_THREADS", runtime["threads"])
    apply_runtime(runtime)
    cfg = compose_app("train", ["experiment=demo_general", f"model.input_size={size}"])
    data = [*cache_overrides(cache, size, batch), "data.num_workers=0"]
    return project_train_rate(cfg.model, data, {"accelerator": "cpu", "devices": 1}, steps, warmup)


def _start_worker(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "benchmarks.contention", "--worker", "--cache", args.cache, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--size", str(args.size), "--batch", str(args.batch)]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _rate(p: subprocess.Popen) -> float:
    out, _ = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(f"benchmark worker failed (exit {p.returncode})")
    return float(json.loads(out.strip().splitlines()[-1])["img_per_s"])


def training_under_contention(cache: str, steps: int, warmup: int, size: int, batch: int) -> dict[str, Any]:
    """The three training figures; each measurement in fresh processes, one after the other."""
    args = argparse.Namespace(cache=cache, steps=steps, warmup=warmup, size=size, batch=batch)
    env = {k: v for k, v in os.environ.items() if k != "DFL_JOBS"}
    alone = _rate(_start_worker(args, env))
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        beside = _rate(_start_worker(args, env))
    finally:
        busy.kill()
        busy.wait()
    pair = [_start_worker(args, {**env, "DFL_JOBS": "2"}) for _ in range(2)]
    two = sum(_rate(p) for p in pair)
    pair = [_start_worker(args, env) for _ in range(2)]
    two_unshared = sum(_rate(p) for p in pair)
    return {
        "alone_img_per_s": alone,
        "beside_one_busy_process_img_per_s": beside,
        "beside_one_busy_process_ratio": beside / alone,
        "beside_target": 0.45,
        "two_at_once_combined_img_per_s": two,
        "two_at_once_ratio": two / alone,
        "two_at_once_target": 0.9,
        "two_at_once_without_DFL_JOBS_ratio": two_unshared / alone,
        "steps": steps,
        "batch": batch,
        "input_size": size,
    }


def multirun_wall(root: Path, cache_dir: Path, work: Path, overrides: list[str]) -> dict[str, Any]:
    """Wall time of a 2-job joblib multirun of the demo specialist (seeds 0 and 1) / twice one job's."""
    base = [sys.executable, "-m", "deepfake_lightning.apps.train", "-m", "experiment=demo_specialist",
            f"data.root={root}", f"paths.cache_dir={cache_dir}", "logger=csv", "trainer.enable_progress_bar=false",
            "hydra/launcher=joblib", *overrides]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "DFL_JOBS"}
    # The cache is built once first, so neither timing includes extraction.
    subprocess.run([*base, "seed=0", "trainer.max_epochs=1", "+trainer.limit_train_batches=1",
                    f"hydra.sweep.dir={work}/warm"], env=env, check=True, capture_output=True)  # fmt: skip
    one, one_cpu = _timed([*base, "seed=0", "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={work}/one"], env)
    two, two_cpu = _timed([*base, "seed=0,1", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={work}/two"], env)
    return {
        "one_job_s": one,
        "two_jobs_s": two,
        "ratio": two / (2 * one),
        "target_at_most": 0.6,
        # Cores one job keeps busy on average: two jobs cannot finish before 2 x its CPU time / the cores, so
        # the ratio cannot fall below cores_used_by_one_job / cores.
        "cores_used_by_one_job": one_cpu / one,
        "cores_used_by_two_jobs": two_cpu / two,
        "lowest_possible_ratio": one_cpu / one / max(1, len(os.sched_getaffinity(0))),
    }


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return time.perf_counter() - t0, cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps({"img_per_s": worker(a.cache, a.steps, a.warmup, a.size, a.batch)}))
    else:
        print(json.dumps(training_under_contention(a.cache, a.steps, a.warmup, a.size, a.batch), indent=2))


if __name__ == "__main__":
    main()
