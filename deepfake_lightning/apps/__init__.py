"""Hydra applications, one module per console script."""

import sys as _sys


def quote_override(arg: str) -> str:
    """A `key=value` override whose value Hydra's grammar would reject unquoted (non-ASCII characters, as in
    `input=/data/Jürgen Müller 写真.jpg`), quoted for it; anything else as it is."""
    if arg.startswith("-") or "=" not in arg:
        return arg
    key, value = arg.split("=", 1)
    if not value or value.isascii() or value[0] in "'\"[{":
        return arg
    # In a quoted value Hydra's grammar only needs the quote escaped (and a backslash right before one).
    return f"{key}='" + value.replace("\\'", "\\\\'").replace("'", "\\'") + "'"


# Before Hydra reads the command line of a dfl-* app: file names are passed as they are, no quoting needed.
# (`python -m deepfake_lightning.apps.X` imports this package while argv[0] is still "-m".)
_main = _sys.argv[0] if _sys.argv else ""
if _main.rsplit("/", 1)[-1].startswith("dfl-") or _main == "-m" or "deepfake_lightning/apps/" in _main:
    _sys.argv[1:] = [quote_override(a) for a in _sys.argv[1:]]
