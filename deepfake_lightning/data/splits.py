"""Seeded train/val/test splits (stratified as the paper, grouped, official list) and the split.json record of one."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_lightning.config import STRATEGIES, check_fractions
from deepfake_lightning.data.cache import write_json

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DROPPED = "dropped"  # split.strict_identities: rows kept out of every split (listed in split.json)


def resampling_groups(
    videos: np.ndarray, identities: np.ndarray, group_by: str | None
) -> tuple[np.ndarray, str, str | None]:
    """(group of each row, unit, note): what an interval resamples whole. Identities where the split grouped by
    identity (a row whose file names none keeps its video), videos otherwise; the note says why it fell back."""
    videos = np.asarray(videos).astype(str)
    ids = np.asarray(identities).astype(str) if identities is not None else np.full(len(videos), "")
    if group_by != "identity":
        return videos, "video", f"the split was not grouped by identity (group_by={group_by}): videos resampled"
    if len(ids) and (ids == "").all():
        return videos, "video", "the data's files name no identity: videos resampled, as if each were its own person"
    return np.where(ids == "", videos, ids), "identity", None


def split_counts(labels: np.ndarray, split: np.ndarray) -> dict[str, dict[str, int]]:
    """{split: {"real": n, "fake": n}} for train, val and test."""
    return {
        s: {"real": int(((split == s) & (labels == 0)).sum()), "fake": int(((split == s) & (labels == 1)).sum())}
        for s in SPLITS
    }


def stratified_split(labels: np.ndarray, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Per-frame split, stratified by label: each class is shuffled and cut at the fractions (70/20/10 in the paper)."""
    fr = check_fractions(fractions)
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_train = int(round(fr[0] * len(idx)))
        n_val = int(round(fr[1] * len(idx)))
        out[idx[:n_train]] = "train"
        out[idx[n_train : n_train + n_val]] = "val"
        out[idx[n_train + n_val :]] = "test"
    return out


def grouped_split(
    labels: np.ndarray, groups: np.ndarray, fractions: Sequence[float], seed: int, names: Sequence[str] = SPLITS
) -> np.ndarray:
    """Split whole groups (videos or identities), keeping each split's class mix near the fractions.

    Groups are visited largest first (random order among equal sizes) and each goes to the split
    whose per-class quota it fills best; every frame of a group lands in the same split.
    """
    fr = np.array(check_fractions(fractions) if len(fractions) == 3 else fractions, dtype=float)
    rng = np.random.default_rng(seed)
    uniq, inverse = np.unique(groups.astype(str), return_inverse=True)
    classes = np.unique(labels)
    counts = np.zeros((len(uniq), len(classes)))
    for j, c in enumerate(classes):
        counts[:, j] = np.bincount(inverse, weights=(labels == c).astype(float), minlength=len(uniq))
    target = fr[:, None] * counts.sum(0)[None, :]
    current = np.zeros_like(target)
    order = rng.permutation(len(uniq))
    order = order[np.argsort(-counts[order].sum(1), kind="stable")]
    assigned = np.empty(len(uniq), dtype=int)
    for g in order:
        need = (target - current) / np.maximum(target, 1.0)
        score = (need * counts[g][None, :]).sum(1)
        score[fr == 0] = -np.inf
        s = int(np.argmax(score))
        assigned[g] = s
        current[s] += counts[g]
    return np.array(names, dtype=object)[assigned[inverse]]


def official_split(
    labels: np.ndarray, groups: np.ndarray, assigned: np.ndarray | None, fractions: Sequence[float], seed: int
) -> np.ndarray:
    """The dataset's own lists decide the split of the items they name; the rest is split train/val
    (stratified, grouped) in the fractions' ratio.

    `assigned`: per item "train" / "val" / "test" from the official lists, or "" when not named (a
    boolean array is read as "on the official test list", Celeb-DF's case); lists naming no item are an error.
    """
    fr = check_fractions(fractions)
    assigned = np.full(len(labels), "", dtype=object) if assigned is None else np.asarray(assigned)
    if assigned.dtype == bool:
        assigned = np.where(assigned, "test", "")
    named = np.array([a in SPLITS for a in assigned], dtype=bool)
    if not named.any():
        raise ValueError(
            "split.strategy=official needs the dataset's own split lists (Celeb-DF's List_of_testing_videos.txt, "
            "FaceForensics++'s splits/*.json) naming videos in the cache"
        )
    out = np.empty(len(labels), dtype=object)
    out[named] = assigned[named]
    rest = ~named
    if rest.any():
        tv = np.array([fr[0], fr[1]]) / max(fr[0] + fr[1], 1e-12)
        out[rest] = grouped_split(labels[rest], groups[rest], tv, seed, names=("train", "val"))
    return out


def make_split(
    strategy: str,
    labels: np.ndarray,
    videos: np.ndarray,
    identities: np.ndarray,
    fractions: Sequence[float],
    seed: int,
    group_by: str | None,
    in_test_list: np.ndarray | None,
) -> np.ndarray:
    """Dispatch on `split.strategy`; returns "train" / "val" / "test" per frame.

    `in_test_list` (official): per frame, the split the dataset's own lists give it ("" when none),
    or a boolean "on the official test list".
    """
    groups = videos if group_by == "video" else identities
    if strategy == "stratified":
        return stratified_split(labels, fractions, seed)
    if strategy == "grouped":
        return grouped_split(labels, groups, fractions, seed)
    if strategy == "official":
        return official_split(labels, groups, in_test_list, fractions, seed)
    raise ValueError(f"split.strategy must be one of {STRATEGIES}, got {strategy!r}")  # a caller outside the apps


# --- the recorded split: split.json in every run folder ----------------------------------------
SPLIT_FILE = "split.json"


class SplitMismatchError(ValueError):
    """Two runs that are combined were trained and evaluated on different splits."""


def split_fingerprint(videos: np.ndarray, frames: np.ndarray, assignment: np.ndarray) -> str:
    """sha256 (16 hex) of the assignment itself: sorted `video, frame -> split` lines, independent of row order."""
    lines = sorted(f"{v}\t{int(f)}\t{s}" for v, f, s in zip(videos, frames, assignment))
    h = hashlib.sha256("\n".join(lines).encode())
    return h.hexdigest()[:16]


def leak_report(
    assignment: np.ndarray, videos: np.ndarray, identities: np.ndarray, second: np.ndarray | None = None
) -> dict[str, Any]:
    """Identities and videos present in more than one split (an identity leak lets a model see a test face).

    `second`: per row, the identity a fake shows besides its grouping identity (Celeb-DF's swapped-in face
    idB of `idA_idB_NNNN`, FF++'s source MMM of `NNN_MMM`), "" where none. Such a fake leaks when that
    identity has frames in another split: counted and named under `swapped_in`.
    """

    def spread(groups: np.ndarray) -> list[str]:
        seen: dict[str, set[str]] = {}
        for g, s in zip(groups.astype(str), assignment):
            seen.setdefault(g, set()).add(str(s))
        return sorted(g for g, ss in seen.items() if len(ss) > 1)

    ids, vids = spread(np.asarray(identities)), spread(np.asarray(videos))
    out: dict[str, Any] = {
        "identities_in_several_splits": len(ids),
        "videos_in_several_splits": len(vids),
        "examples": {"identities": ids[:10], "videos": vids[:10]},
    }
    if second is not None:
        leaking = swapped_in_leaks(assignment, videos, identities, second)
        out["swapped_in"] = {
            "fakes_whose_second_identity_is_in_another_split": len(leaking),
            "examples": leaking[:10],
        }
    return out


def swapped_in_leaks(
    assignment: np.ndarray, videos: np.ndarray, identities: np.ndarray, second: np.ndarray
) -> list[str]:
    """Fake videos whose second (swapped-in) identity has frames in a split other than the fake's own."""
    where: dict[str, set[str]] = {}  # identity: the splits its frames are in (dropped rows left out)
    for g, s in zip(np.asarray(identities).astype(str), assignment):
        if s in SPLITS:
            where.setdefault(g, set()).add(str(s))
    out = set()
    for v, s, b in zip(np.asarray(videos).astype(str), assignment, np.asarray(second).astype(str)):
        if b and s in SPLITS and where.get(b, set()) - {s}:
            out.add(str(v))
    return sorted(out)


def drop_swapped_in_leaks(
    assignment: np.ndarray, videos: np.ndarray, identities: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """split.strict_identities: a fake stays only in a split where both its identities are; the others get
    "dropped" (in no split). Returns (new assignment, the dropped videos)."""
    dropped = swapped_in_leaks(assignment, videos, identities, second)
    out = np.asarray(assignment, dtype=object).copy()
    out[np.isin(np.asarray(videos).astype(str), dropped)] = DROPPED
    return out, dropped


def split_record(
    assignment: np.ndarray,
    index: dict[str, np.ndarray],
    config: dict[str, Any],
    cache_key: str,
    second: np.ndarray | None = None,
) -> dict[str, Any]:
    """What split.json holds: how the split was made, its fingerprint, counts, leak report and the videos per split.

    `frames` (per split, `video#frame`) is written only when some video has frames in several splits
    (the paper's per-frame split with K > 1); otherwise a video's split is the split of all its frames.
    """
    assignment = np.asarray(assignment, dtype=object)
    videos, frames, labels = index["video"], index["frame"], index["label"]
    leaks = leak_report(assignment, videos, index["identity"], second)
    record: dict[str, Any] = {
        "fingerprint": split_fingerprint(videos, frames, assignment),
        "strategy": config["strategy"],
        "group_by": config.get("group_by") if config["strategy"] != "stratified" else None,
        "seed": int(config["seed"]),
        "fractions": [float(f) for f in config["fractions"]],
        "cache_key": cache_key,
        "n_frames": int(len(assignment)),
        "counts": {
            s: {**c, "videos": int(len(set(videos[assignment == s])))}
            for s, c in split_counts(labels, assignment).items()
        },
        "leaks": leaks,
        "videos": {s: sorted(set(videos[assignment == s].astype(str))) for s in SPLITS},
    }
    if config.get("strict_identities"):
        record["strict_identities"] = True
    if (assignment == DROPPED).any():
        record["videos"][DROPPED] = sorted(set(videos[assignment == DROPPED].astype(str)))
    if leaks["videos_in_several_splits"]:
        record["frames"] = {
            s: sorted(f"{v}#{int(f)}" for v, f in zip(videos[assignment == s], frames[assignment == s])) for s in SPLITS
        }
    return record


def assignment_from_record(record: dict[str, Any], videos: np.ndarray, frames: np.ndarray, source: str) -> np.ndarray:
    """Per-row split from a recorded split.json; every row of the cache must be named in it."""
    lookup: dict[str, str] = {}
    if "frames" in record:
        for s, names in record["frames"].items():
            lookup.update((n, s) for n in names)
        keys = [f"{v}#{int(f)}" for v, f in zip(videos, frames)]
    else:
        for s, names in record["videos"].items():
            lookup.update((n, s) for n in names)
        keys = [str(v) for v in videos]
    missing = sorted({k for k in keys if k not in lookup})
    if missing:
        raise SplitMismatchError(
            f"{source}: {len(missing)} cached item(s) are not in the recorded split, e.g. {missing[:3]}; "
            "the data changed since the split was made (re-train, or point data.root at the original folder)"
        )
    out = np.array([lookup[k] for k in keys], dtype=object)
    fp = split_fingerprint(videos, frames, out)
    if fp != record["fingerprint"]:
        raise SplitMismatchError(
            f"{source}: the recorded split (fingerprint {record['fingerprint']}) does not cover this cache "
            f"as it was made (fingerprint here {fp}); some recorded items are missing from the cache"
        )
    return out


def read_split(path: str | Path) -> dict[str, Any]:
    """Load a split.json (a run folder or the file itself), naming the file when it is missing or broken."""
    path = Path(path)
    if path.is_dir():
        path = path / SPLIT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no recorded split; runs made before split.json existed must be re-trained "
            "(or re-run dfl-train with train=false ckpt_path=... to record one)"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    for key in ("fingerprint", "strategy", "seed", "videos"):
        if key not in record:
            raise ValueError(f"{path}: not a split record (no {key!r})")
    return record


def write_split(record: dict[str, Any], path: str | Path, overwrite: bool = False) -> Path:
    """Write split.json atomically; unless `overwrite`, refuse to replace a different split recorded there
    (a resumed or re-tested run must keep the split it was trained on)."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / SPLIT_FILE
    if path.is_file() and not overwrite:
        old = read_split(path)
        if old["fingerprint"] != record["fingerprint"]:
            raise SplitMismatchError(
                f"{path} records split {old['fingerprint']} but this run made {record['fingerprint']} "
                f"({'; '.join(split_differences(old, record)) or 'same settings, other files'}); "
                "use a new run folder"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, record, indent=1, sort_keys=False)


def split_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two split records, in words (settings first, then the file list)."""
    diffs = [
        f"{k}: {a.get(k)!r} vs {b.get(k)!r}"
        for k in ("strategy", "group_by", "seed", "fractions")
        if a.get(k) != b.get(k)
    ]
    va = {v for s in a.get("videos", {}).values() for v in s}
    vb = {v for s in b.get("videos", {}).values() for v in s}
    if va != vb:
        diffs.append(f"file list: {len(va - vb)} video(s) only in the first, {len(vb - va)} only in the second")
    elif a.get("cache_key") != b.get("cache_key"):
        diffs.append(f"frame cache: {a.get('cache_key')} vs {b.get('cache_key')} (extraction settings)")
    return diffs


def check_same_split(records: dict[str, tuple[str, dict[str, Any]]]) -> str:
    """All named runs share one split; returns its fingerprint, else SplitMismatchError naming both runs and what differs.

    `records`: {role: (run path, split record)}.
    """
    items = list(records.items())
    ref_role, (ref_path, ref) = items[0]
    for role, (path, rec) in items[1:]:
        if rec["fingerprint"] != ref["fingerprint"]:
            why = "; ".join(split_differences(ref, rec)) or "same settings, different assignment"
            raise SplitMismatchError(
                f"split mismatch: {ref_role} ({ref_path}, split {ref['fingerprint']}) and {role} ({path}, split "
                f"{rec['fingerprint']}) were not made on the same split ({why}). Fusing or comparing them would "
                "evaluate a model on frames it trained on; train them with the same split settings "
                "(split.seed is separate from seed)."
            )
    return ref["fingerprint"]


def plan_split(
    idx: dict[str, np.ndarray], split_cfg: dict[str, Any], split_file: Path | None, layout: Any, root: Path, key: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """A run's split of a cache index: read from `split_file` (another run's split.json), or made from the `split`
    config (`layout` names the swapped-in identities and the official lists); with its split.json record."""
    if split_file is not None:
        record = read_split(split_file)
        assignment = assignment_from_record(record, idx["video"], idx["frame"], str(split_file))
        # The leak report is derived from the assignment: computed again, so a split recorded before a
        # check existed (e.g. swapped-in identities) is reported with it.
        record["leaks"] = leak_report(assignment, idx["video"], idx["identity"], layout.second_identities(idx["video"]))
        return assignment, record
    if len(idx["label"]) == 0:
        assignment = np.array([], dtype=object)
    else:
        assignment = make_split(
            split_cfg["strategy"],
            idx["label"],
            idx["video"],
            idx["identity"],
            split_cfg["fractions"],
            split_cfg["seed"],
            split_cfg["group_by"],
            official_assignment(split_cfg, layout, root, idx["video"]),
        )
    second = layout.second_identities(idx["video"]) if len(idx["label"]) else None
    if split_cfg["strict_identities"]:
        if second is None:
            raise ValueError(f"split.strict_identities: the {layout.name} layout names no swapped-in identity")
        assignment, dropped = drop_swapped_in_leaks(assignment, idx["video"], idx["identity"], second)
        log.warning(
            "split.strict_identities: %d fake video(s) dropped, their swapped-in identity being in another "
            "split (listed under videos.dropped in split.json), e.g. %s",
            len(dropped),
            dropped[:3],
        )
    return assignment, split_record(assignment, idx, split_cfg, key, second)


def official_assignment(split_cfg: dict[str, Any], layout: Any, root: Path, videos: np.ndarray) -> np.ndarray | None:
    """Per frame, the split the dataset's own lists give its video ("" when none); only for split=official."""
    if split_cfg["strategy"] != "official":
        return None
    official = layout.official_assignment(root)
    return np.array([official.get(str(v), "") for v in videos], dtype=object)


def log_split(rec: dict[str, Any], counts: dict[str, dict[str, int]]) -> None:
    """Log the counts per split and the leak report: identities (or videos) present in more than one split."""
    leaks = rec.get("leaks", {})
    log.info(
        "split %s (group_by=%s, seed=%s, fingerprint %s): %s",
        rec.get("strategy"),
        rec.get("group_by"),
        rec.get("seed"),
        rec.get("fingerprint"),
        counts,
    )
    for name, c in counts.items():
        missing = [k for k in ("real", "fake") if c[k] == 0]
        if missing and c["real"] + c["fake"] > 0 or name in ("train", "val") and not c["real"] + c["fake"]:
            log.warning(
                "split %s has no %s frames: %s; with few identities, whole-identity groups cannot fill every "
                "split (add data, change split.fractions, or use split.group_by=video)",
                name,
                " or ".join(missing) or "frames at all",
                "no threshold can be chosen on val" if name == "val" else "its figures will be partial",
            )
    n_id, n_vid = leaks.get("identities_in_several_splits", 0), leaks.get("videos_in_several_splits", 0)
    if n_vid:
        log.warning(
            "split leak report: frames of %d video(s) are spread across train/val/test (per-frame split "
            "with data.extract.frames_per_video > 1), e.g. %s; use split=grouped for a held-out figure",
            n_vid,
            leaks["examples"]["videos"][:3],
        )
    if n_id:
        log.warning(
            "split leak report: %d identit%s in more than one split (e.g. %s); a fake made from a real video "
            "of that identity shares its background and motion. split.group_by=identity keeps each in one split",
            n_id,
            "y" if n_id == 1 else "ies",
            leaks["examples"]["identities"][:3],
        )
    else:
        log.info("split leak report: no identity in more than one split")
    swapped = leaks.get("swapped_in") or {}
    n_sw = swapped.get("fakes_whose_second_identity_is_in_another_split", 0)
    if n_sw:
        log.warning(
            "split leak report: %d fake video(s) show a swapped-in face whose own videos are in another split "
            "(e.g. %s); split.strict_identities=true keeps a fake only where both its identities are",
            n_sw,
            swapped["examples"][:3],
        )
