"""Evaluation: pure metric and threshold functions, plots and the report."""
