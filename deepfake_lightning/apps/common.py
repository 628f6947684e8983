"""The one start and end of every dfl-* app: where the configs live, offline defaults, thread counts,
validation, seeding, and failure handling that lets a multirun go on."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepfake_lightning.config import register_resolvers

# The configs ship inside the package: Hydra finds them through pkg://, so an installed wheel works from
# any folder (config.CONF_DIR is the same folder on disk).
CONFIG_PATH = "pkg://deepfake_lightning.conf"


def hydra_app(
    config_name: str, body: Callable[[Any], Any], objective: Callable[[Any], Any] | None = None
) -> Callable[[], Any]:
    """An app's main: hydra.main over `body` under run_app (what a sweeper reads: `objective(result)`), with the
    command line prepared first (apps/argv.py: file names quoted, dfl-predict's threshold=): the one place a
    `python -m deepfake_lightning.apps.X` start touches argv."""
    import functools

    import hydra

    from deepfake_lightning.apps.argv import prepare_argv

    @functools.wraps(body)  # Hydra names the job (its log file) after the body's module
    def task(cfg: Any) -> Any:
        return run_app(cfg, body, objective)

    main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(task)

    def start() -> Any:
        prepare_argv(config_name)
        return main()

    return start


def offline_defaults() -> None:
    """W&B offline and ultralytics offline unless the user said otherwise."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("YOLO_OFFLINE", "true")


def app_start(cfg: Any) -> None:
    """What every app body does first, whether Hydra or a test calls it: offline defaults, this process's
    thread counts (`runtime`), the typed checks of every block (config.validate), and the seed."""
    from deepfake_lightning.config import validate
    from deepfake_lightning.runtime import apply_runtime

    offline_defaults()
    apply_runtime(cfg.get("runtime"))
    validate(cfg)
    if cfg.get("seed") is not None:
        from lightning.fabric.utilities.seed import seed_everything

        seed_everything(int(cfg.seed), workers=True, verbose=False)


def run_app(cfg: Any, body: Callable[[Any], Any], objective: Callable[[Any], Any] | None = None) -> Any:
    """Every dfl-* app's Hydra main: `body(cfg)` under run_job's failure handling (one line for a user's
    error; error.txt and the next job in a multirun), returning what a sweeper reads: `objective(result)` as
    a float, None for a failed job or an app without one."""
    from omegaconf import OmegaConf

    out = cfg.get("out_dir") or OmegaConf.select(cfg, "paths.output_dir", default=None)
    result = run_job(lambda: body(cfg), out)
    return None if objective is None or result is None else sweep_value(objective(result))


class _NoTips(logging.Filter):
    """Drops Lightning's advertisement for its hosted logger, printed by every Trainer (several per chain)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())


def in_multirun() -> bool:
    """Whether this job is one of a Hydra multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def debug_mode() -> bool:
    """Whether errors keep their traceback: DFL_DEBUG=1 or Hydra's own HYDRA_FULL_ERROR=1."""
    return any(os.environ.get(k, "") not in ("", "0") for k in ("DFL_DEBUG", "HYDRA_FULL_ERROR"))


def user_error(exc: BaseException) -> str | None:
    """The one-line message for an error the user's input caused (a bad value, a missing file or key), else None."""
    from omegaconf.errors import ConfigKeyError, MissingMandatoryValue

    if isinstance(exc, MissingMandatoryValue):
        key = getattr(exc, "full_key", None) or getattr(exc, "key", "?")
        return f"{key} is required: pass {key}=... on the command line (--cfg job shows every key and its value)"
    if isinstance(exc, ConfigKeyError):
        return str(exc).splitlines()[0]
    if isinstance(exc, (ValueError, FileNotFoundError, KeyError)):
        # str() of a KeyError is the repr of its key: its own text, without the quotes, is the message.
        text = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def remove_empty_run_dir() -> None:
    """After a run that stopped at start: remove its Hydra run folder when it holds nothing but Hydra's own
    config copies and its log (whose lines were on the console too), so no timestamped folder is left behind
    by a typo. A run that wrote anything of its own (config.yaml, split.json, checkpoints) keeps its folder."""
    import shutil

    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    folder = Path(HydraConfig.get().runtime.output_dir)
    if not folder.is_dir():
        return
    for p in folder.rglob("*"):
        if p.is_file() and not (p.relative_to(folder).parts[0] == ".hydra" or p.suffix == ".log"):
            return
    # Hydra's file handler still holds the log open; on POSIX the folder can go all the same.
    shutil.rmtree(folder, ignore_errors=True)


def app_name() -> str:
    name = Path(sys.argv[0]).name
    return name if name.startswith("dfl-") else f"dfl-{name.removesuffix('.py')}"


def run_job(fn: Callable[[], Any], out_dir: str | Path | None = None) -> Any:
    """Run one app body; W&B is closed in every case.

    In a multirun a failed job is logged and recorded (error.txt in its folder) instead of ending the whole
    sweep. In a single run an error the user caused (bad value, missing file or required key) prints one
    line and exits with status 2, no traceback (DFL_DEBUG=1 or HYDRA_FULL_ERROR=1 shows it).
    """
    try:
        return fn()
    except Exception as exc:
        if not in_multirun():
            message = None if debug_mode() else user_error(exc)
            if message is None:
                raise
            print(f"{app_name()}: error: {message}  (DFL_DEBUG=1 shows the traceback)", file=sys.stderr)
            remove_empty_run_dir()
            raise SystemExit(2) from None
        logging.getLogger(__name__).exception("job failed; the multirun goes on")
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / "error.txt").write_text(traceback.format_exc())
        return None
    finally:
        close_wandb()


def sweep_value(value: float | None) -> float | None:
    """What an app returns to a Hydra sweeper: the objective as a float, or None for a failed job.

    Not NaN: hydra-optuna-sweeper 1.3 with the pinned optuna 2.10 raises on a NaN objective (study.tell
    refuses it, then the sweeper's own FAIL branch tells it again) and ends the sweep, while None is
    recorded as a failed trial and the sweep goes on (tests/test_scale.py checks both sweepers).
    """
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def close_wandb() -> None:
    """Finish a W&B run if one is open."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=1 if sys.exc_info()[0] is not None else 0)


register_resolvers()
