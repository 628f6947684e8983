"""Hydra applications, one module per console script (the command line is prepared in argv.py, at app start)."""
