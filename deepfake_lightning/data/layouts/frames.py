"""A plain real/ fake/ tree of images or videos (the paper's loader): the label is the folder name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepfake_lightning.data.items import FAKE, IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, REAL, Layout, VideoItem, odd_entries


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
            if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS:
                rel = p.relative_to(root).as_posix()
                items.append(VideoItem(rel, label, frame_folder_video(rel)))
    return items


class FrameFolders(Layout):
    """`real/` and `fake/` at any depth; images in one sub-folder are frames of one video."""

    name = "folder"

    def list_items(self, root: Path, strategy: str) -> tuple[list[VideoItem], list[dict[str, str]]]:
        if strategy == "official":
            self.official_assignment(root)
        items = list_frame_folder(root)
        if not items:
            raise FileNotFoundError(f"data.root={root} holds no images or videos under real/ or fake/")
        return items, odd_entries(root, [root / "real", root / "fake"], recursive=True)

    def official_assignment(self, root: Path) -> dict[str, str]:
        raise ValueError("split.strategy=official needs a Celeb-DF or FF++ layout, not a real/ fake/ tree")

    def video_of(self, path: str) -> str:
        return frame_folder_video(path)

    def video_view(self, index: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Images in one sub-folder are frames of one video: `video` is the folder, `frame` the image's rank in
        it (the stored index keeps one entry per file)."""
        files = index["video"].astype(str)
        videos = np.array([frame_folder_video(f) for f in files], dtype=object)
        frames = index["frame"].copy()
        grouped = videos != files
        for v in np.unique(videos[grouped]):
            rows = np.flatnonzero(videos == v)
            frames[rows[np.argsort(files[rows], kind="stable")]] = np.arange(len(rows))
        return {**index, "video": videos, "frame": frames}
