"""Hydra applications, one module per console script."""
