"""deepfake-lightning: deepfake detection under class imbalance with Lightning and Hydra."""

__version__ = "0.1.0"

import os as _os

# Before anything imports torch (and with it the OpenMP runtime, which reads this once): threads that
# wait at a barrier sleep instead of spinning, so a training beside another busy process keeps its share
# instead of collapsing (see deepfake_lightning/runtime.py). OMP_WAIT_POLICY=ACTIVE in the environment
# wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
