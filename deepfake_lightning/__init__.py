"""deepfake-lightning: deepfake detection under class imbalance with Lightning and Hydra."""

__version__ = "0.1.0"

import os as _os

# Before anything imports torch (and with it the OpenMP runtime, which reads these once): a thread that
# waits at a barrier spins briefly, then sleeps, instead of spinning for ~300,000 rounds while its sibling
# waits for a core. Measured on 2 cores (README, Performance): alone, training keeps its speed; beside a
# busy process it keeps about half instead of a third. Where the framework runs several jobs at once
# (DFL_JOBS > 1), they sleep at once (PASSIVE). A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
# Why here, on import, and not at app start: every app module imports torch (through Lightning) before any
# app code runs, and so does a notebook importing the DataModule; the runtime reads these when torch loads.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    if (_os.environ.get("DFL_JOBS") or "1").strip() not in ("", "0", "1"):
        _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        _os.environ["GOMP_SPINCOUNT"] = "1000"
_os.environ.setdefault("KMP_BLOCKTIME", "1")  # Intel's OpenMP (MKL builds): ms of spinning before sleeping
