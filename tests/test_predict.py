"""dfl-predict on videos, images and a folder with a broken file; the aggregate and the stored threshold; ONNX parity."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from deepfake_lightning.apps.export import export
from deepfake_lightning.apps.predict import predict, write
from tests.helpers import compose_cfg


@pytest.fixture(scope="module")
def ensemble_dir(tiny_runs):
    return tiny_runs["ensemble"]


def _cfg(run, inp, **kw):
    base = {
        "run": str(run),
        "input": str(inp),
        "output": None,
        "format": "jsonl",
        "aggregate": "mean",
        "frames_per_video": None,
        "fixed_threshold": None,
        "batch_size": 4,
        "device": "cpu",
    }
    base.update(kw)
    return OmegaConf.create(base)


def test_predict_video_image_and_broken_folder(ensemble_dir, tiny_root, tmp_path):
    import cv2

    real = next((tiny_root / "Celeb-real").glob("*.mp4"))
    fake = next((tiny_root / "Celeb-synthesis").glob("*.mp4"))
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(real, folder / "real.mp4")
    shutil.copy(fake, folder / "fake.mp4")
    cap = cv2.VideoCapture(str(real))
    ok, frame = cap.read()
    cv2.imwrite(str(folder / "frame.png"), frame)
    (folder / "broken.mp4").write_bytes(b"nope")
    res = predict(_cfg(ensemble_dir, folder, frames_per_video=3))
    by = {r["path"].rsplit("/", 1)[1]: r for r in res}
    assert "error" in by["broken.mp4"] and "p_fake" not in by["broken.mp4"]
    stored = json.loads((ensemble_dir / "metrics.json").read_text())["models"]["ensemble"]["threshold"]
    for name in ("real.mp4", "fake.mp4", "frame.png"):
        r = by[name]
        assert r["kind"] == ("image" if name.endswith(".png") else "video")
        assert r["n_frames"] == (1 if name.endswith(".png") else 3) == len(r["frame_scores"])
        assert r["p_fake"] == pytest.approx(np.mean(r["frame_scores"]))
        assert r["label"] == ("fake" if r["p_fake"] >= stored else "real") and r["threshold"] == pytest.approx(stored)
    forced = predict(_cfg(ensemble_dir, folder / "real.mp4", threshold=0.0))
    assert forced[0]["label"] == "fake"
    write(res, "csv", str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text().splitlines()[0].startswith("path,kind,n_frames,p_fake,label")


def test_predict_cli_exit_codes(ensemble_dir, tmp_path, capsys):
    from deepfake_lightning.apps.common import run_app
    from deepfake_lightning.apps.predict import run

    (tmp_path / "bad.mp4").write_bytes(b"")
    with pytest.raises(SystemExit) as stop:  # the app body, without Hydra's start-up
        run_app(_cfg(ensemble_dir, tmp_path / "bad.mp4"), run)
    assert stop.value.code == 2
    out = capsys.readouterr()
    assert "error" in out.out and "nothing could be scored" in out.err
    # Entries named like media that are not usable files get a line each, with the reason.
    (tmp_path / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (tmp_path / "folder.mp4").mkdir()
    lines = {Path(r["path"]).name: r.get("error", "") for r in predict(_cfg(ensemble_dir, tmp_path))}
    assert "dangling symlink" in lines["dangling.mp4"] and "folder named like a media file" in lines["folder.mp4"]


def test_onnx_export_parity(ensemble_dir, tmp_path):
    cfg = OmegaConf.create(
        {"run": str(ensemble_dir), "output": str(tmp_path / "e.onnx"), "opset": 17, "n_check": 6, "atol": 1e-4}
    )
    rep = export(cfg)
    assert rep["parity"] and rep["frames_checked"] >= 1
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "e.onnx")).metadata_props}
    assert float(meta["threshold"]) == pytest.approx(rep["threshold"])


def test_eval_under_degradations(ensemble_dir, tiny_root, tmp_path):
    from deepfake_lightning.apps.eval import run as run_eval

    out = tmp_path / "rob"
    cfg = compose_cfg("eval", [f"run={ensemble_dir}", f"data.root={tiny_root}", "subset=test", "report.bootstrap=30",
                               f"paths.cache_dir={tmp_path / 'c'}", f"out_dir={out}", "perturb=[jpeg,h264]",
                               "perturb_levels=[1,5]"], out)  # fmt: skip
    m = run_eval(cfg)
    rob = m["robustness"]
    assert set(rob["kinds"]) == {"jpeg", "h264"} and [r["level"] for r in rob["kinds"]["jpeg"]] == [1, 5]
    assert set(rob["clean"]) == {"ensemble", "general", "specialist"}
    row = rob["kinds"]["h264"][1]["models"]["ensemble"]
    assert row["roc_auc"] is not None and row["roc_auc_ci"] is not None
    # The clean figures of the ensemble are the main evaluation's (same videos, same threshold).
    assert rob["clean"]["ensemble"]["roc_auc"] == pytest.approx(m["models"]["ensemble"]["test"]["roc_auc"])
    text = (out / "REPORT.md").read_text()
    assert "## Under real-world degradations" in text and (out / "plots" / "robustness_roc_auc.png").is_file()
    with pytest.raises(ValueError, match="unknown kind"):
        run_eval(compose_cfg("eval", [f"run={ensemble_dir}", f"data.root={tiny_root}", "perturb=[gamma]",
                                      f"paths.cache_dir={tmp_path / 'c'}", f"out_dir={tmp_path / 'bad'}"], tmp_path))  # fmt: skip


def test_predict_checks_choices_first_and_warns_on_a_degenerate_threshold(ensemble_dir, tiny_root, tmp_path, capsys):
    video = next((tiny_root / "Celeb-real").glob("*.mp4"))
    with pytest.raises(ValueError, match=r"aggregate must be one of \('mean', 'max', 'median'\), got 'meen'"):
        predict(_cfg(ensemble_dir, video, aggregate="meen"))
    # An ensemble folder whose val-chosen threshold called every val frame fake.
    run = tmp_path / "ens"
    shutil.copytree(ensemble_dir, run)
    m = json.loads((run / "metrics.json").read_text())
    m["models"]["ensemble"]["degenerate_threshold"] = {
        "flags": "all fake", "note": "the val-chosen threshold 0.00 calls all fake on val",
        "balanced_accuracy_threshold": 0.42,
    }  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(m))
    image = tmp_path / "frame.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    results = predict(_cfg(run, image))
    err = capsys.readouterr().err
    assert "warning: the val-chosen threshold 0.00 calls all fake on val" in err and "0.42" in err
    assert "calls all fake" in results[0]["threshold_warning"]
    assert "threshold_warning" not in predict(_cfg(run, image, fixed_threshold=0.5))[0]


def test_a_file_name_with_spaces_and_non_ascii_is_passed_as_it_is(ensemble_dir, tiny_root, tmp_path):
    """The whole command line, as a user types it: a folder, a video and an image with such names."""
    import subprocess
    import sys

    import cv2

    from deepfake_lightning.apps.argv import quote_override

    folder = tmp_path / "Jürgen Müller 写真"
    folder.mkdir()
    image = folder / "Jürgen Müller 写真.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    shutil.copy(next((tiny_root / "Celeb-real").glob("*.mp4")), folder / "clip ü.mp4")
    cmd = [sys.executable, "-m", "deepfake_lightning.apps.predict", f"run={ensemble_dir}", f"input={folder}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [json.loads(x) for x in res.stdout.strip().splitlines()]
    assert sorted(x["path"] for x in lines) == sorted(map(str, (folder / "clip ü.mp4", image)))
    assert all(set(x) >= {"path", "kind", "n_frames", "p_fake", "label", "frame_scores"} for x in lines)
    assert quote_override("threshold=0.5") == "threshold=0.5" and quote_override("x=[a,b]") == "x=[a,b]"


def test_a_run_stored_before_the_extract_node_still_loads(tiny_runs, tiny_root, tmp_path):
    """Runs trained before data.extract existed stored flat data keys and no pseudo-fake keys."""
    from deepfake_lightning.models.loading import datamodule_from_run, load_classifier, load_predictor

    old = tmp_path / "old-run"
    shutil.copytree(tiny_runs["general"], old)
    cfg = OmegaConf.load(old / "config.yaml")
    data = OmegaConf.to_container(cfg.data)
    extract = data.pop("extract")
    for k in ("pseudo_fakes", "pseudo_fake_ratio", "pseudo_fakes_only", "landmarks"):
        data.pop(k, None)
        extract.pop(k, None)
    data["split"].pop("strict_identities")
    cfg.data = OmegaConf.create({**data, **extract})
    OmegaConf.save(cfg, old / "config.yaml")
    pred = load_predictor(old)
    assert pred.data_config["extract"]["image_size"] == extract["image_size"]
    assert pred.data_config["extract"]["landmarks"] == "box"  # what runs made before the setting did
    assert pred.data_config["pseudo_fakes"] == "none"
    _, run_cfg = load_classifier(old)
    dm = datamodule_from_run(run_cfg.data, 16, old / "split.json")
    dm.setup()
    assert dm.split_record["fingerprint"] == json.loads((old / "split.json").read_text())["fingerprint"]
    out = predict(_cfg(old, next((tiny_root / "Celeb-real").glob("*.mp4"))))
    assert "p_fake" in out[0]
