"""What an operating point does to real and fake items, said in words, and the better point on val where one exists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def share(k: int, n: int) -> str:
    """`152 of 168 (90%)`."""
    return f"{k} of {n} ({100 * k / n:.0f}%)" if n else f"{k} of 0"


def in_words(m: Mapping[str, Any], items: str = "test frames") -> str:
    """What a threshold does on a split, from its confusion matrix [[real->real, real->fake], [fake->real,
    fake->fake]]: `flags 152 of 168 (90%) real test frames as fake and catches 800 of 820 (98%) fakes`."""
    (tn, fp), (fn, tp) = m["confusion_matrix"]
    return f"flags {share(fp, tn + fp)} real {items} as fake and catches {share(tp, fn + tp)} fakes"


def val_points(models: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every model at its val-chosen threshold and at 0.5 with its val balanced accuracy (the val block at the
    chosen threshold, the val sweep's row at 0.5), the candidates a reader could deploy."""
    out = []
    for name, block in models.items():
        val = block.get("val")
        if val and val.get("balanced_accuracy") is not None:
            out.append({"model": name, "at": "val-chosen", "threshold": float(block["threshold"]),
                        "val_balanced_accuracy": float(val["balanced_accuracy"])})  # fmt: skip
        row = next((r for r in block.get("threshold_sweep_val") or [] if abs(r["threshold"] - 0.5) < 1e-9), None)
        if row is not None and row["real_recall"] == row["real_recall"] and row["fake_recall"] == row["fake_recall"]:
            out.append({"model": name, "at": "0.5", "threshold": 0.5,
                        "val_balanced_accuracy": (row["real_recall"] + row["fake_recall"]) / 2})  # fmt: skip
    return out


def better_on_val(models: Mapping[str, Any], model: str, at: str) -> dict[str, Any] | None:
    """The candidate of val_points with the highest val balanced accuracy when it is not (`model`, `at`) and beats
    it there; None when (`model`, `at`) is itself the best on val (or val is not stored)."""
    points = val_points(models)
    own = next((p for p in points if p["model"] == model and p["at"] == at), None)
    if own is None or not points:
        return None
    best = max(points, key=lambda p: p["val_balanced_accuracy"])
    if best["val_balanced_accuracy"] <= own["val_balanced_accuracy"] + 1e-12:
        return None
    return {**best, "own_val_balanced_accuracy": own["val_balanced_accuracy"]}


def better_sentence(models: Mapping[str, Any], model: str, at: str) -> str:
    """REPORT.md's sentence naming the better operating point on val, with what it does on test; "" where none."""
    b = better_on_val(models, model, at)
    if b is None:
        return ""
    block = models[b["model"]]
    m = block["test"] if b["at"] == "val-chosen" else block["test_at_0.5"]
    return (
        f" On val, a better operating point where real and fake errors count alike is {b['model']} at "
        f"{b['threshold']:.2f} ({'its val-chosen threshold' if b['at'] == 'val-chosen' else 'the fixed 0.5'}): "
        f"val balanced accuracy {b['val_balanced_accuracy']:.3f} against {b['own_val_balanced_accuracy']:.3f}; "
        f"on test it {in_words(m)} (balanced accuracy {m['balanced_accuracy']:.3f})."
    )
