"""Celeb-DF v2 layout: list the videos, their labels and identities, and parse the official test list."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REAL, FAKE = 0, 1
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
REAL_DIRS = ("Celeb-real", "YouTube-real")
FAKE_DIRS = ("Celeb-synthesis",)
TEST_LIST = "List_of_testing_videos.txt"


@dataclass(frozen=True)
class VideoItem:
    """One input file with its label (0 = real, 1 = fake) and the identity used for grouping."""

    path: str  # relative to the dataset root, with forward slashes
    label: int
    identity: str


def identity_of(rel_path: str) -> str:
    """Identity for grouping: `idA` of `idA_NNNN` and of the target video in `idA_idB_NNNN`; one per YouTube video."""
    parent, stem = Path(rel_path).parent.name, Path(rel_path).stem
    if parent == "YouTube-real":
        return f"yt{stem}"
    parts = stem.split("_")
    return parts[0] if len(parts) >= 2 else stem


def swapped_in_identity(rel_path: str) -> str:
    """The face swapped into a Celeb-DF fake: `idB` of `Celeb-synthesis/idA_idB_NNNN`; "" for any other video."""
    parent, parts = Path(rel_path).parent.name, Path(rel_path).stem.split("_")
    return parts[1] if parent in FAKE_DIRS and len(parts) >= 3 else ""


def parse_test_list(path: str | Path) -> tuple[dict[str, int], list[dict[str, str]]]:
    """Parse `List_of_testing_videos.txt` (`1 <path>` = real, `0 <path>` = fake) into project labels.

    Returns ({relative path: label with 0 = real, 1 = fake}, [malformed lines as {"path", "reason"}]).
    This is the only place the list's 1 = real convention is converted.
    """
    labels: dict[str, int] = {}
    bad: list[dict[str, str]] = []
    for n, line in enumerate(Path(path).read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            bad.append({"path": f"{path}:{n}", "reason": f"malformed test-list line: {line.strip()[:80]!r}"})
            continue
        labels[parts[1].strip().replace("\\", "/")] = REAL if parts[0] == "1" else FAKE
    return labels, bad


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
            if p.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
                why = unusable_entry(p)
                if why:
                    out.append({"path": p.relative_to(root).as_posix(), "reason": why})
    return out


def list_celebdf(root: str | Path) -> list[VideoItem]:
    """All videos under the Celeb-DF v2 sub-folders of `root`, sorted by path; labels come from the folder."""
    root = Path(root)
    items: list[VideoItem] = []
    for sub, label in [(d, REAL) for d in REAL_DIRS] + [(d, FAKE) for d in FAKE_DIRS]:
        folder = root / sub
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
                rel = f"{sub}/{p.name}"
                items.append(VideoItem(rel, label, identity_of(rel)))
    return items


def frame_folder_video(rel_path: str) -> str:
    """The video a file of a real/ fake/ tree belongs to: the folder of an image below real/ or fake/
    (`real/vid000/frame_0000.png` is a frame of `real/vid000`); the file itself otherwise."""
    p = Path(rel_path)
    if p.suffix.lower() in IMAGE_EXTENSIONS and len(p.parts) > 2:
        return p.parent.as_posix()
    return rel_path


def list_frame_folder(root: str | Path) -> list[VideoItem]:
    """Videos and images under `root/real` and `root/fake` (any depth); the label is the folder name.

    Images in one sub-folder are frames of one video: they share its identity (for grouping).
    """
    root = Path(root)
    items: list[VideoItem] = []
    for sub, label in (("real", REAL), ("fake", FAKE)):
        folder = root / sub
        if not folder.is_dir():
            continue
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
                rel = p.relative_to(root).as_posix()
                items.append(VideoItem(rel, label, frame_folder_video(rel)))
    return items
