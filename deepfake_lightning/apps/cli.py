"""The dfl-* console scripts: `--help` and start-up errors answered before torch loads, then the app itself."""

from __future__ import annotations

import functools
import importlib
import sys
from dataclasses import dataclass
from typing import Any

from deepfake_lightning.apps.argv import READ_KEYS, prepare_argv
from deepfake_lightning.config import compose_app, config_folders, shipped

HELP_FLAGS = ("--help", "-h")
REQUIRED = "???  (required)"


@dataclass(frozen=True)
class App:
    """What `dfl-<name> --help` says: one line of usage, what it does, one example."""

    usage: str
    does: str
    example: str
    hidden: tuple[str, ...] = ()  # keys the app reads from elsewhere, left out of its help


APPS = {
    "synth": App("dfl-synth [synth=demo|default] [out_dir=<folder>]",
                 "Write the embedded Celeb-DF v2 style dataset (generated videos, nothing downloaded).",
                 "dfl-synth synth=demo"),
    "extract": App("dfl-extract data.root=<folder> [data=<layout>] [profile=<profile>]",
                   "Extract frames into the frame cache, make the split and record it (split.json).",
                   "dfl-extract data.root=/data/Celeb-DF-v2 profile=full"),
    "train": App("dfl-train [experiment=<name>] data.root=<folder> [key=value ...]",
                 "Train one classifier, choose its threshold on val, test its best checkpoint.",
                 "dfl-train experiment=demo_specialist data.root=data/dfl-synth"),
    "ensemble": App("dfl-ensemble general=<run> specialist=<run> [baseline=<run>] out_dir=<folder>",
                    "Fuse general + specialist logits, choose the threshold on val, evaluate every model on test.",
                    "dfl-ensemble general=outputs/demo/train/general specialist=outputs/demo/train/specialist "
                    "out_dir=outputs/demo"),
    "eval": App("dfl-eval run=<train run | ensemble folder> data.root=<folder> [data=<layout>] "
                "[subset=all|test] [perturb=[jpeg,blur,...]] out_dir=<folder>",
                "Test a finished run on any data with the thresholds it chose on its own val split.",
                "dfl-eval run=outputs/demo data=frames data.root=/data/my-videos out_dir=outputs/eval-mine",
                hidden=("data.extract",)),
    "chain": App("dfl-chain data_root=<folder> out_dir=<folder> [arch=<torchvision model>]",
                 "The whole chain (extract, train x3, ensemble, Grad-CAM, report) as one job, for sweeps.",
                 "dfl-chain -m hparams_search=backbone_sweep data_root=data/dfl-synth"),
    "report": App("dfl-report out_dir=<results folder>",
                  "Write REPORT.md and plots from a folder dfl-ensemble wrote; log it to W&B (offline by default).",
                  "dfl-report out_dir=outputs/demo"),
    "yolo": App("dfl-yolo [experiment=yolo11n|demo_yolo11n] data.root=<folder> out_dir=<results folder>",
                "Train the YOLO11-cls baseline (ultralytics) on the same cache and split, evaluate it like the others.",
                "dfl-yolo experiment=demo_yolo11n data.root=data/dfl-synth "
                "data.split_file=outputs/demo/split.json out_dir=outputs/demo"),
    "gradcam": App("dfl-gradcam out_dir=<results folder> [n=4]",
                   "Grad-CAM overlays of real and fake test frames for every model of a results folder.",
                   "dfl-gradcam out_dir=outputs/demo"),
    "export": App("dfl-export run=<ensemble folder | ensemble.ckpt> [output=<file.onnx>]",
                  "Export the fused ensemble to ONNX with its thresholds, checked against PyTorch.",
                  "dfl-export run=outputs/demo"),
    "predict": App("dfl-predict run=<ensemble folder | train run> input=<video | image | folder> "
                   "[format=jsonl|csv] [aggregate=mean|max|median]",
                   "Score videos and images with a trained model at the threshold it chose on val.",
                   'dfl-predict run=outputs/demo "input=/data/Jürgen Müller 写真.jpg"'),
}  # fmt: skip


def groups_of(node: Any) -> list[str]:
    """The config groups an app config's defaults list names (`data: celebdf` -> data)."""
    out = []
    for entry in node.get("defaults", []):
        if hasattr(entry, "keys"):  # `group: option`, not `_self_`
            key = str(next(iter(entry.keys()))).removeprefix("override ").strip()
            if not key.startswith("hydra") and not key.startswith("/"):
                out.append(key)
    return out


def leaves(node: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value as written) of every plain setting; instantiation keys and callback/logger objects
    (groups of their own) are left out."""
    from omegaconf import OmegaConf

    out = []
    for key in node:
        full = f"{prefix}{key}"
        if str(key).startswith("_") or full in ("callbacks", "logger", "hydra"):
            continue
        # Nothing is resolved: interpolations (${hydra:...}) are shown as written, a ??? as required.
        if OmegaConf.is_missing(node, key):
            value = REQUIRED
        elif OmegaConf.is_interpolation(node, key):
            value = str(OmegaConf.to_container(node, resolve=False)[key])
        elif OmegaConf.is_dict(node[key]):
            out += leaves(node[key], f"{full}.")
            continue
        else:
            value = OmegaConf.to_yaml(node[key]).strip() if OmegaConf.is_list(node[key]) else str(node[key])
        out.append((full, value))
    return out


def help_text(name: str, overrides: list[str]) -> str:
    """Usage, what the app does, one example, its config groups with their options, and the keys it reads
    with their values (for the given overrides: `dfl-train experiment=demo_general --help`)."""

    app = APPS[name]
    lines = [f"usage: {app.usage}", "", app.does, "", f"example:  {app.example}", ""]
    groups = groups_of(shipped(f"{name}.yaml"))
    if groups:
        folders = config_folders()
        lines.append(f"config groups (group=option: a file <group>/<option>.yaml in {' or '.join(map(str, folders))}):")
        for g in groups:
            options = sorted({p.stem for f in folders for p in (f / g).glob("*.yaml")})
            lines.append(f"  {g:<15} {' | '.join(options) or '(none here)'}")
        lines.append("")
    cfg = compose_app(name, overrides)
    keys = [(k, v) for k, v in leaves(cfg) if not any(k == h or k.startswith(f"{h}.") for h in app.hidden)]
    lines.append("keys (key=value on the command line; --cfg job prints the whole config):")
    width = min(max(len(k) for k, _ in keys), 36)
    lines += [f"  {k:<{width}} {v}" for k, v in keys]
    if app.hidden:
        lines += ["", f"  not settable here: {', '.join(app.hidden)} (the run's own values are used)"]
    lines += ["", "Hydra: -m for a multirun, --cfg job for the composed config, --hydra-help for Hydra's own options."]
    return "\n".join(lines)


def early_error(name: str, overrides: list[str]) -> str | None:
    """An error the command line itself causes (a required key missing, a misspelt key, a value out of range),
    found by composing the config without loading the app; None when there is none or it cannot be told here."""

    from deepfake_lightning.apps.common import user_error
    from deepfake_lightning.config import validate

    try:
        cfg = compose_app(name, overrides)
    except Exception as exc:  # Hydra's own composition errors, in one line
        return composition_error(name, overrides, str(exc).strip())
    missing = [k for k, v in leaves(cfg) if v == REQUIRED]  # in the config's order: run before data.root
    if missing:
        return (f"{missing[0]} is required: pass {missing[0]}=... on the command line, e.g. "
                f"{APPS[name].example}  (dfl-{name} --help lists every key)")  # fmt: skip
    try:
        validate(cfg)
    except Exception as exc:
        return user_error(exc)
    return missing_path(cfg)


def missing_path(cfg: Any) -> str | None:
    """`key=value: no such file or folder` for the first argv.READ_KEYS key whose value does not exist, else None."""
    from pathlib import Path

    from omegaconf import OmegaConf

    for key in READ_KEYS:
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if isinstance(value, str) and value and not Path(value).expanduser().exists():
            return f"{key}={value}: no such file or folder"
    return None


def composition_error(name: str, overrides: list[str], text: str) -> str | None:
    """Hydra's composition error in one line: a misspelt key names the nearest existing keys, a missing option
    lists every option of its group (Hydra's own list, which runs over several lines)."""
    import difflib
    import re

    if not text:
        return None
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    bad = re.match(r"Could not override '([^']+)'", lines[0])
    if bad:
        key = bad.group(1)
        rest = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
        try:
            known = [k for k, _ in leaves(compose_app(name, rest))]
        except Exception:
            known = []
        near = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(near)}?" if near else f"dfl-{name} --help lists every key"
        return f"{key} is not a key of dfl-{name}: {hint} (+{key}=... adds a new key)"
    if "Available options in" in text:
        i = next(i for i, x in enumerate(lines) if x.startswith("Available options in"))
        options = []
        for x in lines[i + 1 :]:
            if x.startswith("Config search path"):
                break
            options.append(x)
        return f"{lines[0]}; {lines[i].rstrip(':')}: {', '.join(options)}"
    return lines[0]


def launch(name: str) -> None:
    """Answer --help, or a command line that cannot run, without importing the app; else run the app."""
    args = prepare_argv(name)  # file names quoted for Hydra's grammar, dfl-predict's threshold= read
    overrides = [a for a in args if not a.startswith("-")]
    if any(a in HELP_FLAGS for a in args):
        print(help_text(name, [o for o in overrides if not o.startswith("hydra.")]))
        return
    plain = len(overrides) == len(args) and not any(o.startswith("hydra.") for o in overrides)
    if plain:  # -m, --cfg and other Hydra flags go straight to Hydra
        from deepfake_lightning.apps.common import debug_mode

        message = None if debug_mode() else early_error(name, overrides)
        if message:
            print(f"dfl-{name}: error: {message}", file=sys.stderr)
            raise SystemExit(2)
    importlib.import_module(f"deepfake_lightning.apps.{name}").main()


def __getattr__(name: str) -> Any:
    """The console scripts (pyproject.toml [project.scripts], `dfl-X = deepfake_lightning.apps.cli:X`): one launcher
    per app of APPS, the one list of apps (a test checks pyproject against it)."""
    if name in APPS:
        return functools.partial(launch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
