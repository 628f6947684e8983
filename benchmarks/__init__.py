"""Benchmarks run by `make bench`: ratios measured inside one run, not part of the installed package."""

import deepfake_lightning  # noqa: E402, F401  (first: the package sets the OpenMP wait policy before torch loads)
