"""Scale-out: multirun with a summary, DDP on CPU (gloo), the distributed balanced sampler, SLURM and Optuna configs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deepfake_lightning.data.datamodule import balanced_weights
from deepfake_lightning.data.samplers import DistributedWeightedSampler
from tests.helpers import TINY_ARCH, compose_cfg


def test_distributed_sampler_disjoint_and_balanced():
    labels = np.r_[np.zeros(100, int), np.ones(500, int)]
    w = balanced_weights(labels)
    shares = [list(DistributedWeightedSampler(w, len(labels), 2, r, seed=3, replacement=False)) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 300
    assert not set(shares[0]) & set(shares[1]), "ranks drew the same samples"
    drawn = []
    for epoch in range(10):
        for r in (0, 1):
            s = DistributedWeightedSampler(w, len(labels), 2, r, seed=3)
            s.set_epoch(epoch)
            drawn += list(s)
    assert abs(labels[drawn].mean() - 0.5) < 0.03
    a, b = DistributedWeightedSampler(w, 600, 2, 0, seed=3), DistributedWeightedSampler(w, 600, 2, 0, seed=3)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)


def _env():
    return {**os.environ, "WANDB_MODE": "offline", "DFL_DEMO_EPOCHS": "1"}


def class_weight_sweep(tiny_root, tmp_path, *params: str) -> subprocess.CompletedProcess:
    """`dfl-train -m hparams_search=class_weight_sweep` on the tiny data, fast_dev_run, with `params`."""
    cmd = [
        sys.executable, "-m", "deepfake_lightning.apps.train", "-m", "hparams_search=class_weight_sweep",
        "experiment=demo_specialist", f"data.root={tiny_root}", f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.log_dir={tmp_path / 'logs'}", "data.extract.image_size=40", "logger=csv", "callbacks=none",
        "+trainer.fast_dev_run=true", f"model.net.arch={TINY_ARCH}", "model.net.weights=null", "seed=0",
        f"hydra.callbacks.summary.out_dir={tmp_path / 'summary'}", *params,
    ]  # fmt: skip
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # three processes of Hydra + Lightning start-up (about 12 s)
def test_two_job_multirun_writes_its_summary(tiny_root, tmp_path):
    out = tmp_path / "summary"
    # the command line overrides the sweep's own params
    res = class_weight_sweep(tiny_root, tmp_path, "model.input_size=32", "model.real_weight_multiplier=1,8")
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads((out / "test" / "summary.json").read_text())
    assert [s["model.real_weight_multiplier"] for s in stats] == ["1", "8"]
    assert (out / "test" / "summary.png").is_file() and (out / "test_at_0_5" / "summary.json").is_file()
    assert "multiplier" in (out / "summary.md").read_text()
    assert (tmp_path / "logs" / "class_weight_sweep" / "multiruns").is_dir()  # the sweep's task_name wins


@pytest.mark.slow  # three processes and a gloo rendezvous (about 15 s)
def test_ddp_on_cpu_with_two_processes(tiny_root, tmp_path):
    cmd = [
        sys.executable, "-m", "deepfake_lightning.apps.train", "trainer=ddp", "trainer.accelerator=cpu",
        "trainer.devices=2", "trainer.precision=32-true", "trainer.sync_batchnorm=false", "+trainer.fast_dev_run=true",
        "model=resnet50_general", f"model.net.arch={TINY_ARCH}", f"data.root={tiny_root}",
        f"paths.cache_dir={tmp_path / 'cache'}", "data.extract.image_size=40", "model.input_size=32", "data.batch_size=4", "logger=csv", "callbacks=none",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    support = metrics["test"]["support"]
    assert support["real"] + support["fake"] >= 1


def test_launcher_and_sweeper_configs_compose(tmp_path):
    cfg = compose_cfg("train", ["hydra/launcher=slurm", "data.root=x"])
    assert cfg is not None
    from hydra.core.hydra_config import HydraConfig

    assert "submitit" in HydraConfig.get().launcher._target_
    compose_cfg("train", ["hparams_search=specialist_optuna", "data.root=x"])
    assert "optuna" in HydraConfig.get().sweeper._target_.lower()
    compose_cfg("ensemble", ["hparams_search=ensemble_sweep", "general=a", "specialist=b"])
    assert HydraConfig.get().sweeper.params["ensemble.weight"] == "0.4,0.5,0.6,0.7,0.8"


@pytest.mark.slow  # three processes of Hydra + Lightning start-up (about 11 s)
def test_a_failing_job_does_not_end_the_multirun(tiny_root, tmp_path):
    out = tmp_path / "summary"
    res = class_weight_sweep(tiny_root, tmp_path, "model.input_size=32,16", "model.real_weight_multiplier=8")
    assert res.returncode == 0, res.stderr[-3000:]
    errors = list((tmp_path / "logs").rglob("error.txt"))
    assert len(errors) == 1 and "model.input_size" in errors[0].read_text()
    assert json.loads((out / "test" / "summary.json").read_text())[0]["runs"] == 1


FAILING_OPTUNA = """# @package _global_
defaults:
  - override /hydra/sweeper: optuna
  - override /hydra/sweeper/sampler: random
optimized_metric: val/balanced_accuracy
hydra:
  mode: MULTIRUN
  sweeper:
    direction: maximize
    n_trials: 2
    n_jobs: 1
    sampler:
      seed: 0  # draws 8.0 then -1.0 (the grid sampler stops the study after its last point, which the
               # pinned sweeper cannot take when that last trial failed)
    params:
      model.real_weight_multiplier: choice(-1.0, 8.0)
"""


@pytest.mark.slow
def test_optuna_sweep_finishes_when_a_trial_fails(tiny_root, tmp_path):
    """One trial fails (a negative multiplier is refused at start-up); the Optuna sweep records it and finishes."""
    extra = tmp_path / "conf"
    (extra / "hparams_search").mkdir(parents=True)
    (extra / "hparams_search" / "failing_optuna.yaml").write_text(FAILING_OPTUNA)
    cmd = [
        sys.executable, "-m", "deepfake_lightning.apps.train", "-m", f"hydra.searchpath=[file://{extra}]",
        "hparams_search=failing_optuna", "experiment=demo_specialist", f"data.root={tiny_root}",
        f"paths.cache_dir={tmp_path / 'cache'}", f"paths.log_dir={tmp_path / 'logs'}", "data.extract.image_size=40",
        "model.input_size=32", "logger=csv", "callbacks=none", "+trainer.fast_dev_run=true",
    ]  # fmt: skip
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    errors = list((tmp_path / "logs").rglob("error.txt"))
    assert len(errors) == 1 and "real_weight_multiplier" in errors[0].read_text()
    assert list((tmp_path / "logs").rglob("optimization_results.yaml"))
