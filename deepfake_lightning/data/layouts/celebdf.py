"""Celeb-DF v2 layout: list the videos, their labels and identities, and parse the official test list."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from deepfake_lightning.data.items import FAKE, REAL, Layout, VideoItem, odd_entries, videos_in

log = logging.getLogger(__name__)

REAL_DIRS = ("Celeb-real", "YouTube-real")
FAKE_DIRS = ("Celeb-synthesis",)
TEST_LIST = "List_of_testing_videos.txt"


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


def list_celebdf(root: str | Path) -> list[VideoItem]:
    """All videos under the Celeb-DF v2 sub-folders of `root`, sorted by path; labels come from the folder."""
    items = []
    for sub, label in [(d, REAL) for d in REAL_DIRS] + [(d, FAKE) for d in FAKE_DIRS]:
        for p in videos_in(Path(root) / sub):
            rel = f"{sub}/{p.name}"
            items.append(VideoItem(rel, label, identity_of(rel)))
    return items


def generated_videos(root: Path) -> tuple[list[Path], list[Path], dict[str, str]]:
    """(real videos, fakes, a three-digit name per real video) of a generated Celeb-DF folder (dfl-synth writes
    this layout first and moves it into another)."""
    reals = [p for d in REAL_DIRS for p in videos_in(root / d)]
    fakes = [p for d in FAKE_DIRS for p in videos_in(root / d)]
    return reals, fakes, {p.stem: f"{i:03d}" for i, p in enumerate(reals)}  # idA_NNNN -> "007"


class CelebDF(Layout):
    """A folder in the Celeb-DF v2 layout; labels from List_of_testing_videos.txt where it names a video."""

    name = "celebdf"
    written = (*REAL_DIRS, *FAKE_DIRS, TEST_LIST)

    def __init__(self, test_list: str | None):
        self.test_list = Path(str(test_list)) if test_list else None  # None: <root>/List_of_testing_videos.txt

    def list_path(self, root: Path) -> Path:
        return self.test_list or root / TEST_LIST

    def list_items(self, root: Path, strategy: str) -> tuple[list[VideoItem], list[dict[str, str]]]:
        items = list_celebdf(root)
        skipped = odd_entries(root, [root / d for d in (*REAL_DIRS, *FAKE_DIRS)])
        test_list = self.list_path(root)
        if test_list.is_file():
            labels, bad = parse_test_list(test_list)
            skipped += bad
            present = {it.path for it in items}
            for p in sorted(set(labels) - present):
                skipped.append({"path": p, "reason": f"named in {test_list.name} but missing under data.root"})
            # The dataset's own list decides the label of the videos it names.
            items = [VideoItem(it.path, labels.get(it.path, it.label), it.identity) for it in items]
        elif strategy == "official":
            self.official_assignment(root)  # says what is missing
        if not items:
            raise FileNotFoundError(
                f"data.root={root} holds no videos in Celeb-real/, YouTube-real/ or Celeb-synthesis/"
            )
        return items, skipped

    def official_assignment(self, root: Path) -> dict[str, str]:
        """Celeb-DF names its test videos."""
        test_list = self.list_path(root)
        if not test_list.is_file():
            raise FileNotFoundError(
                f"data.test_list={test_list} does not exist; split.strategy=official needs the Celeb-DF test list"
            )
        return {v: "test" for v in parse_test_list(test_list)[0]}

    def second_identities(self, videos: np.ndarray) -> np.ndarray | None:
        return np.array([swapped_in_identity(str(v)) for v in videos], dtype=object)
