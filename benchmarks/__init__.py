"""Benchmarks run by `make bench`: ratios measured inside one run, not part of the installed package."""
