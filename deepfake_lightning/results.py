"""The results folder of a run or an ensemble: metrics.json, predictions.npz, split.json (load, merge, check, validate)."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

# split.json's format and checks live with the splits; the apps reach them through this module.
from deepfake_lightning.data.cache import write_json
from deepfake_lightning.data.splits import (
    SPLIT_FILE,
    SplitMismatchError,
    check_same_split,
    read_split,
    split_differences,
    write_split,
)

__all__ = ["SPLIT_FILE", "SplitMismatchError", "read_split", "write_split"]  # re-exported for the apps

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.npz"
# What a metrics.json is: a results folder (dfl-ensemble, dfl-yolo, one seed of make paper), one training run
# (dfl-train), an evaluation (dfl-eval) or the summary of several seeds (make paper SEEDS=...). Each is checked
# against its part of schemas/metrics.schema.json on write.
KINDS = ("results", "run", "eval", "seeds")


def load_metrics(folder: str | Path, missing_ok: bool = False) -> dict[str, Any]:
    """A folder's metrics.json ({} when absent and `missing_ok`), naming the file when it is missing or broken."""
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        if missing_ok:
            return {}
        raise FileNotFoundError(f"{path}: no such file (run the step that writes it first)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def validate(metrics: dict[str, Any], kind: str) -> None:
    """Raise jsonschema.ValidationError (with the failing path) when `metrics` breaks the schema of its kind.

    A results folder with its ensemble is checked whole; one that holds only other models so far (dfl-yolo
    before dfl-ensemble) has each model block checked; a run its test blocks; an evaluation its model blocks.
    """
    import jsonschema

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    schema = json.loads(resources.files("deepfake_lightning.schemas").joinpath("metrics.schema.json").read_text())
    if kind == "results" and "ensemble" in metrics.get("models", {}):
        jsonschema.validate(metrics, schema)
        return
    props = schema["properties"]
    parts: dict[str, Any] = {"skipped": props["skipped"]}
    if kind == "seeds":
        parts = {"recipe_claim": {"oneOf": [{"type": "null"}, props["claim"]]}}
    elif kind == "run":
        parts.update({k: {"$ref": "#/$defs/block"} for k in ("test", "test_at_0.5")})
    else:
        parts["models"] = {"type": "object", "additionalProperties": props["models"]["additionalProperties"]}
    if kind == "results":
        parts["dataset"] = props["dataset"]
    jsonschema.validate(metrics, {"$defs": schema["$defs"], "type": "object", "properties": parts})


def write_metrics(folder: str | Path, metrics: dict[str, Any], kind: str) -> Path:
    """Validate `metrics` for its kind, then write the folder's metrics.json atomically."""
    validate(metrics, kind)
    path = Path(folder) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, metrics, indent=2, sort_keys=False)


def results_for_split(folder: str | Path, fingerprint: str) -> dict[str, Any]:
    """The folder's metrics.json to add to, or {} when it holds results of another split (which must not sit
    beside this one's: said in the log)."""
    metrics = load_metrics(folder, missing_ok=True)
    old = (metrics.get("dataset") or {}).get("split_fingerprint") if isinstance(metrics.get("dataset"), dict) else None
    if metrics and old != fingerprint:
        log.warning("%s held results of another split (%s); starting it afresh", Path(folder) / METRICS_FILE, old)
        return {}
    return metrics


def merge_model(
    folder: str | Path, name: str, block: dict[str, Any], run_dir: str | Path, dataset: dict[str, Any],
    split_record: dict[str, Any],
) -> Path:  # fmt: skip
    """Add one model's block (and its run folder) to a results folder, refusing one made on another split."""
    metrics = merge_check(folder, name, run_dir, split_record)
    metrics.setdefault("dataset", dataset)
    metrics.setdefault("models", {})[name] = block
    metrics.setdefault("runs", {})[name] = str(run_dir)
    return write_metrics(folder, metrics, "results")


def merge_check(folder: str | Path, name: str, run_dir: str | Path, split_record: dict[str, Any]) -> dict[str, Any]:
    """The results folder's metrics.json ({} when none yet), or SplitMismatchError when it holds results of
    another split than `split_record` (the one `name`, in `run_dir`, was made on)."""
    folder = Path(folder)
    metrics = load_metrics(folder, missing_ok=True)
    recorded = (metrics.get("dataset") or {}).get("split_fingerprint")
    if recorded and recorded != split_record["fingerprint"]:
        why = split_differences(read_split(folder), split_record) if (folder / SPLIT_FILE).is_file() else []
        raise SplitMismatchError(
            f"split mismatch: {folder / METRICS_FILE} (the models {name} is compared with) used split {recorded}, "
            f"{name} ({run_dir}) made split {split_record['fingerprint']} ({'; '.join(why)}); "
            f"pass data.split_file={folder / SPLIT_FILE} to train it on the same split"
        )
    return metrics


def model_block(folder: str | Path, name: str) -> dict[str, Any]:
    """What a folder's metrics.json says of model `name`: its block in a results folder, else the run's own."""
    metrics = load_metrics(folder, missing_ok=True)
    return (metrics.get("models") or {}).get(name, metrics)


def load_predictions(folder: str | Path) -> Any:
    """A folder's predictions.npz (loaded without pickle), naming the file when it is missing."""
    path = Path(folder) / PREDICTIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (dfl-ensemble, dfl-yolo and dfl-eval write it)")
    return np.load(path, allow_pickle=False)


def write_predictions(folder: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write predictions.npz; object arrays (video names) become strings so the file loads without pickle."""
    path = Path(folder) / PREDICTIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()})
    return path


def check_runs_split(runs: dict[str, str | Path]) -> tuple[str, Path]:
    """All runs share one recorded split: (its fingerprint, the first run's split.json); else SplitMismatchError."""
    records = {role: (str(run_folder(run)), read_split(run_folder(run))) for role, run in runs.items()}
    return check_same_split(records), run_folder(next(iter(runs.values()))) / SPLIT_FILE


def check_results_split(folder: str | Path, roles: tuple[str, ...] | None = None) -> str:
    """The results folder, its metrics.json and every run it names (or those of `roles`) share one split;
    returns its fingerprint, else SplitMismatchError naming what differs."""
    folder = Path(folder)
    metrics = load_metrics(folder)
    runs = {k: v for k, v in sorted(metrics.get("runs", {}).items()) if roles is None or k in roles}
    records = {"results": (str(folder), read_split(folder))}
    records.update({name: (str(run), read_split(run)) for name, run in runs.items()})
    fingerprint = check_same_split(records)
    recorded = (metrics.get("dataset") or {}).get("split_fingerprint")
    if recorded != fingerprint:
        raise SplitMismatchError(
            f"split mismatch: {folder / METRICS_FILE} records split {recorded} but its runs {sorted(runs)} were "
            f"made on split {fingerprint}; re-run dfl-ensemble into {folder}"
        )
    return fingerprint


# Path helpers of a run folder (dfl-train's output): the results folder's owner knows its files.
def find_checkpoint(run: str | Path) -> Path:
    """The checkpoint of a run: the path itself, or the run's best checkpoint (metrics.json), else last.ckpt."""
    run = Path(run)
    if run.is_file():
        return run
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: neither a run folder nor a checkpoint file")
    best = load_metrics(run, missing_ok=True).get("checkpoint")
    if best:
        best_path = Path(best) if Path(best).is_absolute() else run / best
        if best_path.is_file():
            return best_path
        # The run's figures came from that checkpoint: another one would not match them.
        raise FileNotFoundError(
            f"{run}: metrics.json names the checkpoint its figures come from, {best_path}, and it is missing; "
            "restore it, or pass the path of another checkpoint explicitly"
        )
    for cand in (run / "checkpoints" / "last.ckpt", run / "ensemble.ckpt"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{run}: no checkpoint found (looked for metrics.json's best, checkpoints/last.ckpt)")


def run_folder(run: str | Path) -> Path:
    """The run folder (the one holding config.yaml) of a run folder or of a checkpoint inside it."""
    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such run folder or checkpoint")
    for folder in (run, run.parent, run.parent.parent) if run.is_file() else (run,):
        if (folder / "config.yaml").is_file():
            return folder
    raise FileNotFoundError(f"{run}: no config.yaml in its run folder; pass the run folder written by dfl-train")


def run_config(ckpt: Path) -> DictConfig:
    """The resolved config.yaml written beside a run's checkpoints."""
    return OmegaConf.load(run_folder(ckpt) / "config.yaml")
