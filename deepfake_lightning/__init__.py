"""deepfake-lightning: deepfake detection under class imbalance with Lightning and Hydra."""

__version__ = "0.1.0"
