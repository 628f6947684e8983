"""Issue 29: the command line tried as a new user would: documented overrides, ordinary file names, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from deepfake_lightning.apps.argv import prepare_argv
from deepfake_lightning.config import compose_app
from tests.test_cli import launch

NAMES = ["photo (1).jpg", "Smith, John.jpg", "O'Brien.jpg", "a[1].jpg", "x=y.jpg", "Jürgen Müller 写真.jpg"]


@pytest.mark.parametrize("name", NAMES)
def test_ordinary_file_names_reach_the_app_as_they_are(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"")
    cfg = compose_app("predict", prepare_argv("predict", ["run=r", f"input={path}", f"output={tmp_path / name}.csv"]))
    assert cfg.input == str(path) and cfg.output == f"{tmp_path / name}.csv"
    assert prepare_argv("predict", prepare_argv("predict", [f"input={path}"])) == prepare_argv(
        "predict", [f"input={path}"]
    )


def test_a_sweep_and_other_values_are_left_to_hydra():
    assert prepare_argv("train", ["data.root=a,b", "model=x,y", "x=[a,b]", "seed=1"]) == [
        "data.root=a,b", "model=x,y", "x=[a,b]", "seed=1"
    ]  # fmt: skip


def test_predict_threshold_as_readme_documents_it():
    cfg = compose_app("predict", prepare_argv("predict", ["run=r", "input=i", "threshold=0.5"]))
    assert cfg.fixed_threshold == 0.5


@pytest.mark.parametrize(
    ("app", "args", "says"),
    [
        ("ensemble", ["general=a", "specialist=b", "out_dir=c", "threshold.min_fake_recal=0.9"],
         "did you mean threshold.min_fake_recall"),
        ("eval", ["run=x", "data=frame"], "celebdf, dfdc, ffpp, frames, synthetic"),
        ("train", ["data.root=."], "experiment=demo_general"),
        ("yolo", ["data.root=no/such/folder"], "data.root=no/such/folder: no such file or folder"),
        ("ensemble", ["general=outputs/nope", "specialist=x", "out_dir=ens"], "general=outputs/nope: no such file"),
    ],
)  # fmt: skip
def test_a_mistake_is_named_in_one_line_and_leaves_nothing_behind(app, args, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = launch(app, *args)
    err = res.stderr.replace("TORCH False\n", "")
    assert res.returncode == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []  # no run folder, no out_dir


def test_synth_says_what_it_writes_first(tmp_path):
    out = tmp_path / "synth"
    cmd = [sys.executable, "-m", "deepfake_lightning.apps.synth", f"out_dir={out}", "synth.num_real=4", "synth.num_fake=3",
           "synth.num_identities=2", "synth.frames_per_video=2", "synth.resolution=32"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    said = [x for x in res.stdout.splitlines() if not x.startswith("[")]  # log lines carry a time stamp
    assert said[0] == f"dfl-synth: writing 4 real and 3 fake videos (2 frames of 32 px each) to {out}"
    assert "video" in res.stderr  # the progress bar


@pytest.fixture(scope="module")
def ensemble_dir(tiny_runs):
    return tiny_runs["ensemble"]


def _predict(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "deepfake_lightning.apps.predict", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_predict_lines_say_face_crop_and_threshold(ensemble_dir, tiny_root, tmp_path):
    blank = tmp_path / "blank (1).png"
    cv2.imwrite(str(blank), np.full((64, 64, 3), 127, np.uint8))  # no face in it
    video = next((tiny_root / "Celeb-real").glob("*.mp4"))
    res = _predict(f"run={ensemble_dir}", f"input={blank}", "threshold=0.5")
    assert res.returncode == 0, res.stderr[-2000:]
    line = json.loads(res.stdout)
    assert line["face_found"] is False and "no face found" in line["crop"]
    assert line["threshold"] == 0.5 and line["threshold_source"] == "threshold= on the command line"
    assert line["p_fake"] == round(line["p_fake"], 4)
    # A video scored with another K than its threshold was chosen with: said on the line and on stderr.
    csv_out = tmp_path / "out.csv"
    res = _predict(f"run={ensemble_dir}", f"input={video}", "frames_per_video=5", "format=csv", f"output={csv_out}")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "frames_per_video=5" in res.stderr
    header, row = csv_out.read_text().splitlines()[:2]
    assert "threshold" in header.split(",") and "face_found" in header.split(",") and "frames_per_video=5" in row


def test_predict_on_an_empty_folder_says_so(ensemble_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _predict(f"run={ensemble_dir}", f"input={empty}")
    assert res.returncode != 0 and "no image or video file there" in res.stderr
