"""DFDC layout: folders (e.g. dfdc_train_part_0/) each holding videos and a metadata.json.

    metadata.json: {"x.mp4": {"label": "FAKE" | "REAL", "original": "y.mp4", "split": "train"}, ...}

Labels come from the metadata, never from names. A fake is grouped with its original (same scene and
actor), a real video is its own group; groups are named by the original's file name alone, so a fake
whose original sits in another part folder still joins its group (DFDC's names are unique across parts).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from deepfake_lightning.data.cache import read_json
from deepfake_lightning.data.items import FAKE, REAL, VIDEO_EXTENSIONS, Layout, VideoItem
from deepfake_lightning.data.layouts.celebdf import generated_videos

log = logging.getLogger(__name__)

METADATA = "metadata.json"
LABELS = {"REAL": REAL, "FAKE": FAKE}


def list_dfdc(root: str | Path) -> tuple[list[VideoItem], list[dict[str, str]]]:
    """(items, skipped) from every metadata.json at or one level below `root`; problems are named, not fatal."""
    root = Path(root)
    metas = sorted({*root.glob(METADATA), *root.glob(f"*/{METADATA}")})
    items: list[VideoItem] = []
    skipped: list[dict[str, str]] = []
    for meta in metas:
        folder = meta.parent
        try:
            entries = read_json(meta, dict, "an object {file: {label, original}}")
        except ValueError as exc:
            skipped.append({"path": str(meta), "reason": f"malformed metadata.json, folder skipped: {exc}"})
            continue
        for name, info in sorted(entries.items()):
            rel = (folder / name).relative_to(root).as_posix()
            label = LABELS.get(str((info or {}).get("label", "")).upper()) if isinstance(info, dict) else None
            if label is None:
                skipped.append({"path": rel, "reason": f"unknown label {info!r} in {meta}"})
                continue
            if Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
                skipped.append({"path": rel, "reason": "not a video file name"})
                continue
            if not (folder / name).is_file():
                skipped.append({"path": rel, "reason": f"named in {meta} but missing"})
                continue
            original = info.get("original") if label == FAKE else None
            group = Path(str(original)).stem if original else Path(name).stem
            items.append(VideoItem(rel, label, group))
    return items, skipped


class DFDC(Layout):
    """DFDC: folders with metadata.json; labels from it, a fake grouped with its original. Its public training
    parts carry no official train/val/test split, and its metadata names a fake's original, not the face
    swapped in (the Layout default: None)."""

    name = "dfdc"
    written = ("dfdc_train_part_0",)

    def list_items(self, root: Path, strategy: str) -> tuple[list[VideoItem], list[dict[str, str]]]:
        items, skipped = list_dfdc(root)
        if not items:
            raise FileNotFoundError(f"data.root={root} holds no metadata.json naming readable videos (DFDC layout)")
        return items, skipped

    def official_assignment(self, root: Path) -> dict[str, str]:
        raise ValueError("DFDC's public training parts carry no official train/val/test split; use split=grouped")

    @staticmethod
    def from_celebdf(root: Path, rng: np.random.Generator) -> dict[str, int]:
        """A generated Celeb-DF folder (dfl-synth) as one DFDC part with its metadata.json."""
        reals, fakes, real_id = generated_videos(root)
        part = root / "dfdc_train_part_0"
        part.mkdir(exist_ok=True)
        meta: dict[str, dict[str, str]] = {}
        for p in reals:
            name = f"r{real_id[p.stem]}.mp4"
            p.rename(part / name)
            meta[name] = {"label": "REAL", "split": "train"}
        for n, p in enumerate(fakes):
            a, _, v = p.stem.split("_")
            name = f"f{n:04d}.mp4"
            p.rename(part / name)
            meta[name] = {"label": "FAKE", "original": f"r{real_id[f'{a}_{v}']}.mp4", "split": "train"}
        (part / "metadata.json").write_text(json.dumps(meta, indent=1))
        return {"real": len(reals), "fake": len(fakes)}
