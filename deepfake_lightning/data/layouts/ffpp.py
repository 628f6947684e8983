"""FaceForensics++ layout: original and manipulated sequences at one compression, and the official split lists.

    original_sequences/youtube/<compression>/videos/NNN.mp4            real
    manipulated_sequences/<Method>/<compression>/videos/NNN_MMM.mp4    fake: target NNN, face of MMM
    splits/{train,val,test}.json                                       [[NNN, MMM], ...] pairs

A fake NNN_MMM keeps the target video NNN's background and motion, so its identity (for grouping)
is NNN, as Celeb-DF's idA_idB_NNNN is grouped with idA.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepfake_lightning.data.cache import read_json
from deepfake_lightning.data.items import FAKE, REAL, Layout, VideoItem, videos_in
from deepfake_lightning.data.layouts.celebdf import generated_videos

log = logging.getLogger(__name__)

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection")
SPLIT_NAMES = ("train", "val", "test")


def list_ffpp(
    root: str | Path, compression: str, methods: Sequence[str] | None = None
) -> tuple[list[VideoItem], list[dict[str, str]]]:
    """(items, skipped notes): originals and the selected methods' fakes at `compression`, sorted by path."""
    root = Path(root)
    notes: list[dict[str, str]] = []
    methods = list(methods or FFPP_METHODS)
    unknown = [m for m in methods if m not in FFPP_METHODS]
    if unknown:
        raise ValueError(f"data.methods: unknown FaceForensics++ method(s) {unknown}; known: {list(FFPP_METHODS)}")
    items = []
    real_dir = root / "original_sequences" / "youtube" / compression / "videos"
    for p in videos_in(real_dir):
        items.append(VideoItem(p.relative_to(root).as_posix(), REAL, f"ff{p.stem}"))
    for m in methods:
        # Not every copy of FF++ has every method: a missing folder lists nothing.
        for p in videos_in(root / "manipulated_sequences" / m / compression / "videos"):
            target = p.stem.split("_")[0]
            items.append(VideoItem(p.relative_to(root).as_posix(), FAKE, f"ff{target}"))
    if not real_dir.is_dir():
        notes.append({"path": str(real_dir), "reason": f"no original videos at compression {compression}"})
    return items, notes


def swapped_in_identity(rel_path: str) -> str:
    """The face in an FF++ fake `manipulated_sequences/<Method>/<c>/videos/NNN_MMM`: `ffMMM`; "" for an original."""
    parts = Path(rel_path).stem.split("_")
    return f"ff{parts[1]}" if rel_path.startswith("manipulated_sequences/") and len(parts) == 2 else ""


def read_ffpp_splits(root: str | Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """({pair id "NNN_MMM" and "MMM_NNN" and each "NNN": split}, problems) from splits/{train,val,test}.json."""
    split_of: dict[str, str] = {}
    problems: list[dict[str, str]] = []
    for name in SPLIT_NAMES:
        path = Path(root) / "splits" / f"{name}.json"
        if not path.is_file():
            problems.append({"path": str(path), "reason": "official split list missing"})
            continue
        try:
            pairs = read_json(path, list, "a list of [target, source] pairs")
        except ValueError as exc:
            problems.append({"path": str(path), "reason": f"malformed split list: {exc}"})
            continue
        for n, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                problems.append({"path": f"{path}:{n}", "reason": f"malformed pair {pair!r}"})
                continue
            a, b = pair
            for key in (a, b, f"{a}_{b}", f"{b}_{a}"):
                if split_of.setdefault(key, name) != name:
                    problems.append({"path": f"{path}:{n}", "reason": f"{key} is also in {split_of[key]}.json"})
    return split_of, problems


def ffpp_assignment(items: Sequence[VideoItem], split_of: dict[str, str]) -> dict[str, str]:
    """{video path: split} for the items whose stem the official lists name."""
    return {it.path: split_of[Path(it.path).stem] for it in items if Path(it.path).stem in split_of}


class FFPP(Layout):
    """FaceForensics++: originals and the chosen methods at one compression; split=official reads splits/*.json."""

    name = "ffpp"
    written = ("original_sequences", "manipulated_sequences", "splits")

    def __init__(self, compression: str, methods: Sequence[str] | None):
        self.compression = str(compression)
        self.methods = list(methods) if methods else None

    def list_items(self, root: Path, strategy: str) -> tuple[list[VideoItem], list[dict[str, str]]]:
        items, notes = list_ffpp(root, self.compression, self.methods)
        if not items:
            raise FileNotFoundError(
                f"data.root={root} holds no FaceForensics++ videos at data.compression={self.compression} "
                "(original_sequences/youtube/<c>/videos, manipulated_sequences/<Method>/<c>/videos)"
            )
        return items, notes

    def official_assignment(self, root: Path) -> dict[str, str]:
        split_of, problems = read_ffpp_splits(root)
        for p in problems:
            log.warning("%s: %s", p["path"], p["reason"])
        if not split_of:
            raise FileNotFoundError(f"split.strategy=official: no usable splits/*.json under {root}")
        items, _ = list_ffpp(root, self.compression, self.methods)
        return ffpp_assignment(items, split_of)

    def second_identities(self, videos: np.ndarray) -> np.ndarray | None:
        return np.array([swapped_in_identity(str(v)) for v in videos], dtype=object)

    @staticmethod
    def from_celebdf(root: Path, rng: np.random.Generator) -> dict[str, int]:
        """A generated Celeb-DF folder (dfl-synth) as FaceForensics++: originals, methods' folders, splits/*.json."""
        reals, fakes, real_id = generated_videos(root)
        first_of: dict[str, str] = {}
        for p in reals:
            first_of.setdefault(p.stem.split("_")[0], real_id[p.stem])
        rdir = root / "original_sequences" / "youtube" / "c23" / "videos"
        rdir.mkdir(parents=True, exist_ok=True)
        for p in reals:
            p.rename(rdir / f"{real_id[p.stem]}.mp4")
        pairs: dict[str, list[list[str]]] = {"train": [], "val": [], "test": []}
        # Pairs of one target identity share a split: 72/14/14 of the identities (FF++'s 720/140/140),
        # at least one in each.
        idents = sorted({p.stem.split("_")[0] for p in fakes})
        order = [idents[i] for i in rng.permutation(len(idents))]
        n_small = max(1, round(0.14 * len(idents)))
        split_of_target = {k: "val" for k in order[:n_small]}
        split_of_target.update({k: "test" for k in order[n_small : 2 * n_small]})
        # FF++ lists each pair of real videos in one split (a_b and b_a with it). The generated face came
        # from identity b, but to keep the lists consistent the name's source is a real video of the
        # target's own split (the name is only a label here; the pixels are what the model sees).
        celeb_reals = [q.stem for q in reals if q.parent.name == "Celeb-real"]
        in_split: dict[str, list[str]] = {}
        for stem in celeb_reals:
            in_split.setdefault(split_of_target.get(stem.split("_")[0], "train"), []).append(real_id[stem])
        used: set[tuple[str, str]] = set()
        for n, p in enumerate(fakes):
            a, b, v = p.stem.split("_")
            target = real_id[f"{a}_{v}"]
            cands = [r for r in in_split[split_of_target.get(a, "train")] if r != target] or [first_of[b]]
            start = sorted(first_of).index(b) if b in first_of else 0
            source = next(
                (cands[(start + j) % len(cands)] for j in range(len(cands))
                 if (target, cands[(start + j) % len(cands)]) not in used and
                 (cands[(start + j) % len(cands)], target) not in used),
                cands[start % len(cands)],
            )  # fmt: skip
            used.add((target, source))
            methods = ("Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures", "FaceShifter")
            for j in range(len(methods)):  # a name taken in one method's folder goes to the next
                mdir = root / "manipulated_sequences" / methods[(n + j) % 2 if j < 2 else j] / "c23" / "videos"
                if not (mdir / f"{target}_{source}.mp4").exists():
                    break
            mdir.mkdir(parents=True, exist_ok=True)
            p.rename(mdir / f"{target}_{source}.mp4")  # (target video, source identity) is unique per fake
            pairs[split_of_target.get(a, "train")].append([target, source])
        (root / "splits").mkdir(exist_ok=True)
        for name, ps in pairs.items():
            (root / "splits" / f"{name}.json").write_text(json.dumps(ps))
        return {"original": len(reals), "manipulated": len(fakes), **{k: len(v) for k, v in pairs.items()}}
