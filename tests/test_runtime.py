"""Thread settings each app applies (runtime config, launcher jobs), and extraction workers that start light."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from deepfake_lightning.apps.common import app_start
from deepfake_lightning.config import CONF_DIR
from deepfake_lightning.runtime import JOBS_ENV, launcher_jobs, plan_threads

APPS = ("train", "ensemble", "yolo", "eval", "extract", "gradcam", "predict", "export", "chain")


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_plan_divides_the_given_cores_between_the_jobs():
    assert (plan_threads("auto", "auto", 2, 1).intra_op, plan_threads("auto", "auto", 2, 1).inter_op) == (2, 1)
    assert plan_threads("auto", "auto", 2, 2).intra_op == 1
    assert plan_threads("auto", "auto", 2, 3).intra_op == 1  # never 0
    p = plan_threads("auto", "auto", 16, 2)
    assert (p.intra_op, p.inter_op) == (8, 4)
    assert plan_threads(3, 2, 16, 4).intra_op == 3 and plan_threads(3, 2, 16, 4).inter_op == 2
    with pytest.raises(ValueError, match="runtime.threads"):
        plan_threads(0, "auto", 2, 1)


def test_jobs_come_from_dfl_jobs_or_the_joblib_launcher(monkeypatch):
    monkeypatch.setenv(JOBS_ENV, "3")
    assert launcher_jobs() == 3
    monkeypatch.delenv(JOBS_ENV)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.mode=MULTIRUN"],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    try:
        assert launcher_jobs() == 2
    finally:
        HydraConfig.instance().cfg = None


@pytest.mark.parametrize("app", APPS)
def test_every_app_applies_its_runtime_block(app, restore_threads, monkeypatch):
    monkeypatch.delenv(JOBS_ENV, raising=False)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        # The shipped train config alone crops 224 px out of 72 px frames (validation refuses it): a profile.
        cfg = compose(app, ["runtime.threads=1", *(["profile=full"] if app == "train" else [])])
    assert cfg.runtime.threads in (1, "1")
    torch.set_num_threads(2)
    app_start(cfg)
    assert torch.get_num_threads() == 1
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        auto = compose(app, ["profile=full"] if app == "train" else [])
    monkeypatch.setenv(JOBS_ENV, "2")
    app_start(auto)
    assert torch.get_num_threads() == max(1, len(os.sched_getaffinity(0)) // 2)


@pytest.mark.parametrize(("jobs", "expected"), [(None, "None 1000"), ("1", "None 1000"), ("2", "PASSIVE None")])
def test_the_package_sets_the_openmp_wait_policy_before_torch(jobs, expected):
    code = "import deepfake_lightning, os; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", JOBS_ENV)}
    if jobs:
        env[JOBS_ENV] = jobs
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
    # A user's own setting wins.
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE None"


def test_extraction_workers_do_not_import_the_apps_main_module(tmp_path):
    # A main module that imports torch, as every dfl-* app does; its extraction workers must not.
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            import torch  # noqa: F401  (the heavy app module)
            from deepfake_lightning.data.build import light_main

            CHECK = "'torch' in __import__('sys').modules"  # eval is a builtin: it pickles by name

            if __name__ == "__main__":
                ctx = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                    with light_main():
                        f = pool.submit(eval, CHECK)
                    print("light", f.result())
                with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                    print("plain", pool.submit(eval, CHECK).result())
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert "light False" in out.stdout and "plain True" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("app", "args", "expected"),
    [
        # `python -m` goes past the console script's early checks (tests/test_cli.py): run_job answers.
        ("eval", [], "dfl-eval: error: run is required: pass run="),
    ],
)
def test_a_users_error_is_one_line_and_exit_2(app, args, expected, tmp_path):
    cmd = [sys.executable, "-m", f"deepfake_lightning.apps.{app}", *args, f"hydra.run.dir={tmp_path / 'run'}"]
    env = {k: v for k, v in os.environ.items() if k not in ("DFL_DEBUG", "HYDRA_FULL_ERROR")}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 2
    assert expected in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "run").exists()  # a run that stopped at start leaves no folder behind
    debug = subprocess.run(cmd, capture_output=True, text=True, env={**env, "DFL_DEBUG": "1"}, cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr + debug.stdout
