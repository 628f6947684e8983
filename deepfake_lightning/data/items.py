"""The vocabulary every dataset layout shares: labels, media extensions, the listed item, unusable entries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REAL, FAKE = 0, 1
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS


@dataclass(frozen=True)
class VideoItem:
    """One input file with its label (0 = real, 1 = fake) and the identity used for grouping."""

    path: str  # relative to the dataset root, with forward slashes
    label: int
    identity: str


def videos_in(folder: Path) -> list[Path]:
    """The video files directly inside `folder`, sorted ([] when it is not a folder)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def unusable_entry(p: Path) -> str | None:
    """Why a directory entry named like a video or image cannot be used (never passed over in silence), or None."""
    if p.is_symlink() and not p.exists():
        try:
            p.resolve(strict=True)
        except RuntimeError:
            return "a symlink loop"
        except OSError as exc:
            if exc.errno == 40:  # ELOOP
                return "a symlink loop"
        return f"a dangling symlink (to {os.readlink(p)})"
    if p.is_dir():
        return "a folder named like a media file, not a file"
    if not p.is_file():
        return "not a regular file"
    return None


def odd_entries(root: Path, folders: list[Path], recursive: bool = False) -> list[dict[str, str]]:
    """Entries named like videos or images under `folders` that are not usable files, as skipped records."""
    out = []
    for folder in folders:
        if not folder.is_dir():
            continue
        entries = folder.rglob("*") if recursive else folder.iterdir()
        for p in sorted(entries):
            if p.suffix.lower() in MEDIA_EXTENSIONS:
                why = unusable_entry(p)
                if why:
                    out.append({"path": p.relative_to(root).as_posix(), "reason": why})
    return out


class Layout:
    """How one dataset layout lists its files (labels from its own lists where it has them), which videos its
    official lists assign to which split, and whose face a fake shows. Listing only: no extraction, no split."""

    name = ""
    # Top-level folders and files the layout's data has, which dfl-synth replaces when it writes this layout.
    written: tuple[str, ...] = ()

    def list_items(self, root: Path, strategy: str) -> tuple[list[VideoItem], list[dict[str, str]]]:
        """(items, skipped entries, each {"path", "reason"}) under `root`; `strategy` is split.strategy."""
        raise NotImplementedError

    def official_assignment(self, root: Path) -> dict[str, str]:
        """{video: split} from the dataset's own lists (split.strategy=official)."""
        raise ValueError(f"split.strategy=official: the {self.name} layout has no official split; use split=grouped")

    def second_identities(self, videos: np.ndarray) -> np.ndarray | None:
        """Per row, the swapped-in identity of a fake ("" where none); None when the layout does not say."""
        return None

    def video_of(self, path: str) -> str:
        """The video a listed file belongs to (the file itself, except in a tree of frame folders)."""
        return path

    def video_view(self, index: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The cache index as the rest of the chain sees it: one `video` per video."""
        return index

    @staticmethod
    def from_celebdf(root: Path, rng: np.random.Generator) -> dict[str, int]:
        """Move a generated Celeb-DF folder (dfl-synth) into this layout (`rng`: its own draws, seeded by synth's
        seed); returns what was written per part. Without it, dfl-synth does not write the layout."""
        raise NotImplementedError
