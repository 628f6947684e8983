"""How many threads a process uses: decided once at app start from the cores it is given and the jobs sharing them.

On a small machine the cost of oversubscription is not a fair share but a collapse: each process runs as
many OpenMP threads as there are cores, and at every barrier the threads that are scheduled spin while
their sibling waits for a core (a 2-core training beside one busy process ran at 0.33 of its speed, two
trainings at 0.39 combined). Two settings fix it:

- the OpenMP wait policy, set in the package's `__init__` before torch loads its OpenMP runtime (unless the
  user exported OMP_WAIT_POLICY or GOMP_SPINCOUNT): a short spin (GOMP_SPINCOUNT=1000, libgomp's default
  is 300,000) then sleep; PASSIVE (sleep at once) when DFL_JOBS says several jobs share the cores;
- the thread counts: `runtime.threads=auto` gives each process the cores of its affinity mask divided by
  the jobs that share them (a Hydra joblib launcher's `n_jobs`, `make paper`'s parallel seeds, or
  `DFL_JOBS` set by whoever starts several), and `runtime.interop_threads=auto` one inter-op thread per
  two intra-op threads. DataLoader workers and extraction workers run one thread each.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

JOBS_ENV = "DFL_JOBS"  # how many processes of this project share the machine's cores (set by launchers)
_applied: dict[str, Any] | None = None


def available_cores() -> int:
    """The cores this process may run on (its affinity mask), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def launcher_jobs() -> int:
    """How many jobs run at once beside this one: the joblib launcher's n_jobs in a Hydra multirun, else
    DFL_JOBS, else 1."""
    env = os.environ.get(JOBS_ENV)
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            log.warning("%s=%r is not a whole number; ignored", JOBS_ENV, env)
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            n = HydraConfig.get().launcher.get("n_jobs")
            if n is not None:
                n = int(n)
                # joblib: -1 is every core, -2 all but one, ...
                return max(1, available_cores() + 1 + n if n < 0 else n)
    except Exception:  # no Hydra, or a launcher without n_jobs: one job
        pass
    return 1


@dataclass(frozen=True)
class ThreadPlan:
    """The thread settings of one process and why."""

    intra_op: int
    inter_op: int
    cores: int
    jobs: int
    wait_policy: str

    def describe(self) -> str:
        return (
            f"threads: {self.intra_op} intra-op, {self.inter_op} inter-op ({self.cores} core(s) given, shared by "
            f"{self.jobs} job(s)); OpenMP wait policy {self.wait_policy}"
        )


def plan_threads(threads: Any, interop_threads: Any, cores: int, jobs: int) -> ThreadPlan:
    """`threads`/`interop_threads`: "auto" or a positive number. auto: cores // jobs (at least 1), and one
    inter-op thread per two intra-op threads."""
    if threads in (None, "auto"):
        intra = max(1, cores // max(1, jobs))
    else:
        intra = int(threads)
        if intra < 1:
            raise ValueError(f"runtime.threads must be auto or >= 1, got {threads!r}")
    if interop_threads in (None, "auto"):
        inter = max(1, intra // 2)
    else:
        inter = int(interop_threads)
        if inter < 1:
            raise ValueError(f"runtime.interop_threads must be auto or >= 1, got {interop_threads!r}")
    policy = os.environ.get("OMP_WAIT_POLICY") or f"spin {os.environ.get('GOMP_SPINCOUNT', 'default')}, then sleep"
    return ThreadPlan(intra, inter, cores, jobs, policy)


def apply_runtime(runtime: Any) -> ThreadPlan:
    """Set torch's (and OpenCV's) thread counts for this process from the `runtime` config block (None: a
    config without one, as a test's, takes the shipped runtime/default.yaml); logged once."""
    global _applied
    import torch

    from deepfake_lightning.config import shipped

    rt = runtime if runtime is not None else shipped("runtime/default.yaml")
    p = plan_threads(rt["threads"], rt["interop_threads"], available_cores(), launcher_jobs())
    torch.set_num_threads(p.intra_op)
    try:
        torch.set_num_interop_threads(p.inter_op)
    except RuntimeError:  # only settable before the first inter-op work; a second app start in one process
        pass
    try:
        import cv2

        cv2.setNumThreads(p.intra_op)
    except ImportError:
        pass
    key = {"intra": p.intra_op, "inter": p.inter_op, "jobs": p.jobs}
    if _applied != key:
        log.info(p.describe())
        _applied = key
    return p
