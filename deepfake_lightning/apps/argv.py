"""The command line as a user types it, made into Hydra overrides: file names passed as they are."""

from __future__ import annotations

import os
import sys

# Keys whose values are file or folder names (any app): passed to Hydra quoted, so that `photo (1).jpg`,
# `Smith, John.jpg`, `O'Brien.jpg`, `a[1].jpg`, `x=y.jpg` or `Jürgen Müller 写真.jpg` are taken as they are.
# READ_KEYS name what an app reads (cli.missing_path checks they exist before anything is written); WRITTEN_KEYS
# what it writes (never a sweep of existing names, so always quoted); the other two may not exist yet
# (ckpt_path=last, a cache folder to create).
READ_KEYS = ("data.root", "data_root", "run", "input", "general", "specialist", "baseline", "compare_general",
             "data.split_file")  # fmt: skip
WRITTEN_KEYS = frozenset({"output", "out_dir"})
PATH_KEYS = frozenset({*READ_KEYS, *WRITTEN_KEYS, "ckpt_path", "paths.cache_dir"})
# A plain key of an app whose name is also a config group (Hydra would try to select an option of the group):
# the key it is stored under. `dfl-predict threshold=0.5`, `dfl-chain profile=demo_scratch`.
RENAMED = {("predict", "threshold"): "fixed_threshold", ("chain", "profile"): "data_profile"}


def _quoted(value: str) -> str:
    # In a quoted value Hydra's grammar only needs the quote escaped (and a backslash right before one).
    return "'" + value.replace("\\'", "\\\\'").replace("'", "\\'") + "'"


def quote_override(arg: str) -> str:
    """A `key=value` override whose value Hydra's grammar would reject unquoted, quoted for it; anything else as
    it is. Quoted: a non-ASCII value (any key), and the value of a path key (PATH_KEYS) unless it is already
    quoted, a list, or (a key the app reads) a comma-separated sweep of names that do not exist as one file."""
    if arg.startswith("-") or "=" not in arg:
        return arg
    key, value = arg.split("=", 1)
    if not value or value[0] in "'\"":
        return arg
    if key.lstrip("+~") in PATH_KEYS and value[0] != "[":
        if "," not in value or os.path.exists(value) or key.lstrip("+~") in WRITTEN_KEYS:
            return f"{key}={_quoted(value)}"
        return arg
    if value.isascii() or value[0] in "[{":
        return arg
    return f"{key}={_quoted(value)}"


def prepare_argv(app: str, argv: list[str] | None = None) -> list[str]:
    """sys.argv[1:] for Hydra (in place when `argv` is None): file names quoted, and a plain key named like a config
    group (RENAMED: dfl-predict's `threshold=X`, a number; dfl-chain's `profile=`) given its stored name. Run where an app starts (cli.launch, common.hydra_app), never on
    import; quoting twice changes nothing."""
    args = sys.argv[1:] if argv is None else argv
    out = []
    for a in args:
        key, eq, value = a.partition("=")
        if eq and (app, key) in RENAMED and (app != "predict" or _is_number(value)):
            a = f"{RENAMED[app, key]}={value}"
        out.append(quote_override(a))
    if argv is None:
        sys.argv[1:] = out
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
