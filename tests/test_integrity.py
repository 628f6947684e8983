"""Results you can trust: one recorded split per run, checked by every step; no identity leak; one checkpoint."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepfake_lightning.apps.ensemble import run as run_ensemble
from deepfake_lightning.apps.eval import run as run_eval
from deepfake_lightning.apps.gradcam import model_view
from deepfake_lightning.apps.train import train
from deepfake_lightning.data.splits import (
    SplitMismatchError,
    assignment_from_record,
    check_same_split,
    read_split,
    split_fingerprint,
    split_record,
    write_split,
)
from deepfake_lightning.data.synthetic import generate_dataset
from deepfake_lightning.models.classifier import step_seed
from deepfake_lightning.results import check_results_split
from tests.conftest import make_dm
from tests.helpers import compose_cfg, tiny_train_overrides


def test_default_split_keeps_every_identity_in_one_split(tiny_root, tmp_path):
    cfg = compose_cfg("train", [f"data.root={tiny_root}", f"paths.cache_dir={tmp_path}"], tmp_path)
    assert cfg.split.strategy == "grouped" and cfg.split.group_by == "identity"
    import hydra

    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    idx = dm.cache.index
    for ident in np.unique(idx["identity"]):
        assert len(set(dm.split[idx["identity"] == ident])) == 1, f"{ident} is in two splits"
    assert dm.split_record["leaks"]["identities_in_several_splits"] == 0
    # A Celeb-DF fake idA_idB_NNNN and its source real idA_NNNN share a split.
    for v, s in zip(idx["video"], dm.split):
        if v.startswith("Celeb-synthesis/"):
            a, _, n = v.split("/")[1][:-4].split("_")
            src = f"Celeb-real/{a}_{n}.mp4"
            assert set(dm.split[idx["video"] == src]) <= {s}


def test_model_seed_does_not_move_the_split(tiny_root, tmp_path):
    a = compose_cfg("train", [f"data.root={tiny_root}", "seed=0"], tmp_path)
    b = compose_cfg("train", [f"data.root={tiny_root}", "seed=3"], tmp_path)
    assert a.data.split.seed == b.data.split.seed == 0
    for name in ("stratified", "grouped", "official"):
        c = compose_cfg("train", [f"data.root={tiny_root}", f"split={name}", "seed=7"], tmp_path)
        assert c.split.seed == 0


def test_the_cache_holds_no_split_and_runs_do_not_overwrite_each_other(tiny_root, tmp_path):
    dm0 = make_dm(tiny_root, tmp_path, frames_per_video=2, split={"strategy": "grouped", "seed": 0})
    dm0.setup()
    dm1 = make_dm(tiny_root, tmp_path, frames_per_video=2, split={"strategy": "grouped", "seed": 1})
    dm1.setup()
    assert dm0.cache.path == dm1.cache.path and "split" not in dm1.cache.index
    assert dm0.split_record["fingerprint"] != dm1.split_record["fingerprint"]
    again = make_dm(tiny_root, tmp_path, frames_per_video=2, split={"strategy": "grouped", "seed": 0})
    again.setup()  # after another run used the same cache with another split
    assert (again.split == dm0.split).all()
    header = (dm0.cache.path / "index.csv").read_text().splitlines()[0]
    assert "split" not in header


def test_split_record_fingerprint_and_round_trip(tiny_dm, tmp_path):
    rec = tiny_dm.split_record
    for key in ("fingerprint", "strategy", "group_by", "seed", "fractions", "counts", "videos", "leaks"):
        assert key in rec
    idx = tiny_dm.cache.index
    assert rec["fingerprint"] == split_fingerprint(idx["video"], idx["frame"], tiny_dm.split)
    # The fingerprint is of the assignment, not of the row order.
    order = np.random.default_rng(0).permutation(len(idx["video"]))
    assert rec["fingerprint"] == split_fingerprint(idx["video"][order], idx["frame"][order], tiny_dm.split[order])
    path = write_split(rec, tmp_path)
    back = assignment_from_record(read_split(path), idx["video"], idx["frame"], str(path))
    assert (back == tiny_dm.split).all()
    moved = tiny_dm.split.copy()
    moved[0] = "test" if moved[0] != "test" else "train"
    other = split_record(moved, idx, {**tiny_dm.split_cfg, "seed": 5}, "k")
    with pytest.raises(SplitMismatchError, match="seed"):
        write_split(other, tmp_path)  # a run folder keeps the split it has
    with pytest.raises(SplitMismatchError, match=r"general .*specialist.*seed: 0 vs 5"):
        check_same_split({"general": ("runA", rec), "specialist": ("runB", other)})


def test_per_frame_split_reports_videos_across_splits(tiny_root, tmp_path, caplog):
    dm = make_dm(tiny_root, tmp_path, frames_per_video=2, split={"strategy": "stratified"})
    with caplog.at_level("WARNING"):
        dm.setup()
    rec = dm.split_record
    assert rec["leaks"]["videos_in_several_splits"] > 0 and "frames" in rec
    assert "spread across" in caplog.text
    idx = dm.cache.index
    back = assignment_from_record(rec, idx["video"], idx["frame"], "mem")
    assert (back == dm.split).all()


def test_step_seed_differs_per_rank_and_keeps_rank_zero():
    assert step_seed(3, 10, 0) == 3 * 1_000_003 + 10
    seeds = {step_seed(3, 10, r) for r in range(8)}
    assert len(seeds) == 8
    assert step_seed(3, 10, 1) != step_seed(3, 11, 0)


def test_gradcam_overlay_is_drawn_on_the_crop_the_model_saw():
    frames = np.zeros((1, 72, 72, 3), np.uint8)
    frames[0, 4:68, 4:68] = 200  # the centre 64 px
    view = model_view(frames, 64, resized=False)
    assert view.shape == (1, 64, 64, 3) and (view == 200).all()
    assert model_view(frames, 32, resized=True).shape == (1, 32, 32, 3)


@pytest.fixture(scope="module")
def runs(tiny_runs, tiny_root, tmp_path_factory):
    """General and specialist on split.seed=0 (the session's tiny runs), and a specialist on split.seed=1."""
    folder = tmp_path_factory.mktemp("specialist_seed1")
    overrides = tiny_train_overrides(
        tiny_root, tmp_path_factory.mktemp("integrity-cache"), "model=resnet50_specialist",
        "data.extract.frames_per_video=2", "split.seed=1", "trainer.max_epochs=2",
    )  # fmt: skip
    train(compose_cfg("train", overrides, folder))
    return {"general": tiny_runs["general"], "specialist": tiny_runs["specialist"], "specialist_seed1": folder}


def test_train_records_split_and_tests_the_checkpoint_it_validated(runs):
    m = json.loads((runs["general"] / "metrics.json").read_text())
    rec = read_split(runs["general"])
    assert m["dataset"]["split_fingerprint"] == rec["fingerprint"]
    assert m["checkpoint"].startswith("checkpoints/")  # relative to the run folder: a moved run still finds it
    ckpt = torch.load(runs["general"] / m["checkpoint"], map_location="cpu", weights_only=True)
    assert m["epoch"] == ckpt["epoch"]
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert m["val"]["balanced_accuracy"] == pytest.approx(float(state["best_model_score"]), abs=1e-6)
    assert m["threshold"] == pytest.approx(ckpt["threshold"]) and m["val"]["threshold"] == pytest.approx(m["threshold"])
    assert set(m["video_thresholds"]) == {"mean", "max", "median"}


def test_train_false_needs_a_checkpoint(tiny_root, tmp_path):
    cfg = compose_cfg("train", tiny_train_overrides(tiny_root, tmp_path / "c", "train=false"), tmp_path)
    with pytest.raises(ValueError, match="ckpt_path"):
        train(cfg)


def test_ensemble_refuses_members_of_two_splits(runs, tmp_path):
    cfg = compose_cfg(
        "ensemble",
        [f"general={runs['general']}", f"specialist={runs['specialist_seed1']}", f"out_dir={tmp_path}"],
        tmp_path,
    )
    with pytest.raises(SplitMismatchError, match=r"general .* specialist .*seed: 0 vs 1"):
        run_ensemble(cfg)
    assert not (tmp_path / "metrics.json").exists()


def test_ensemble_report_and_eval_share_one_split(runs, tiny_root, tmp_path):
    out = tmp_path / "ens"
    cfg = compose_cfg(
        "ensemble", [f"general={runs['general']}", f"specialist={runs['specialist']}", f"out_dir={out}"], out
    )
    metrics = run_ensemble(cfg)
    fp = read_split(runs["general"])["fingerprint"]
    assert metrics["dataset"]["split_fingerprint"] == fp == read_split(out)["fingerprint"]
    assert check_results_split(out) == fp
    vt = metrics["models"]["ensemble"]["video_thresholds"]
    assert set(vt) == {"mean", "max", "median"}
    ckpt = torch.load(out / "ensemble.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["video_thresholds"] == vt and ckpt["split_fingerprint"] == fp
    # A run whose split.json was made on another split makes the report refuse.
    tampered = json.loads((runs["specialist_seed1"] / "split.json").read_text())
    (out / "split.json").write_text(json.dumps(tampered))
    with pytest.raises(SplitMismatchError, match="results"):
        check_results_split(out)

    # dfl-eval on the run's own data, test subset: exactly the run's test split, stored thresholds.
    ev = tmp_path / "eval-own"
    m = run_eval(compose_cfg("eval", [f"run={runs['general']}", f"data.root={tiny_root}", "subset=test",
                                      f"paths.cache_dir={tmp_path / 'c'}", f"out_dir={ev}"], ev))  # fmt: skip
    block = m["models"]["general"]
    own = json.loads((runs["general"] / "metrics.json").read_text())
    assert m["eval"]["split_fingerprint"] == fp
    assert block["threshold"] == pytest.approx(own["threshold"])
    assert block["test"]["confusion_matrix"] == own["test"]["confusion_matrix"]
    assert block["video_level"]["threshold"] == pytest.approx(own["video_thresholds"]["mean"])
    # A single training run stores no val scores: its intervals are conditional on the stored thresholds.
    assert block["test_ci"]["roc_auc"] is not None and not block["bootstrap"]["threshold_rechosen_on_val_resamples"]
    assert "conditional on the run's stored thresholds" in (ev / "REPORT.md").read_text()

    # dfl-eval of the ensemble folder re-chooses its thresholds on the stored val scores.
    ev2 = tmp_path / "eval-ens"
    m2 = run_eval(compose_cfg("eval", [f"run={out}", f"data.root={tiny_root}", "subset=test", "report.bootstrap=50",
                                       f"paths.cache_dir={tmp_path / 'c'}", f"out_dir={ev2}"], ev2))  # fmt: skip
    eb = m2["models"]["ensemble"]
    assert eb["bootstrap"]["threshold_rechosen_on_val_resamples"] and eb["threshold_ci"] is not None
    assert eb["video_level"]["test_ci"]["roc_auc"] is not None


def test_eval_on_another_dataset(runs, tmp_path):
    other = tmp_path / "other"
    generate_dataset(other, seed=9, num_real=10, num_fake=12, num_identities=3, frames_per_video=4, resolution=64)
    out = tmp_path / "eval"
    m = run_eval(compose_cfg("eval", [f"run={runs['general']}", f"data.root={other}",
                                     f"paths.cache_dir={tmp_path / 'c'}", f"out_dir={out}"], out))  # fmt: skip
    assert m["eval"]["counts"] == {"real": 20, "fake": 24}  # all frames, 2 per video as the run extracted
    assert (out / "REPORT.md").is_file() and (out / "plots" / "roc_pr.png").is_file()
    assert "never on these data" in (out / "REPORT.md").read_text()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["models"]["general"]["video_level"]["threshold_source"].startswith("video level")


class _Tiny(torch.nn.Module):
    def forward(self, x):
        return x


def test_deferred_nan_check_runs_before_any_checkpoint_is_written(tmp_path):
    """On a GPU the NaN flag is read one step late; the last step's flag must be read before last.ckpt."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from deepfake_lightning.callbacks.nan_guard import NanGuard

    class Poisoned(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def training_step(self, batch, batch_idx):
            loss = (self.w * batch[0]).sum()
            return loss * float("nan") if batch_idx == 3 else loss  # the epoch's last step

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 1)), batch_size=1)
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = L.Trainer(max_epochs=1, callbacks=[NanGuard(defer=True), ckpt], logger=False, enable_progress_bar=False)
    with pytest.raises(FloatingPointError, match="epoch 0, step 3, batch 3"):
        trainer.fit(Poisoned(), data)
    assert not list(tmp_path.glob("*.ckpt"))


def test_predict_uses_the_video_threshold_for_videos_and_the_frame_threshold_for_images():
    from deepfake_lightning.apps.predict import threshold_for
    from deepfake_lightning.models.loading import Predictor

    p = Predictor(_Tiny(), 0.3, {"mean": 0.6, "max": 0.9, "median": 0.5}, {}, Path("."), "m")
    assert threshold_for(p, "video", "max", None)[0] == 0.9
    assert threshold_for(p, "video", "mean", None)[1].startswith("video level")
    assert threshold_for(p, "image", "mean", None) == (0.3, "frame level, chosen on val")
    assert threshold_for(p, "video", "mean", 0.42)[0] == 0.42
    old = Predictor(_Tiny(), 0.3, None, {}, Path("."), "m")
    assert "no video-level" in threshold_for(old, "video", "mean", None)[1]


def test_a_missing_best_checkpoint_is_an_error_not_last_ckpt(runs, tmp_path):
    import shutil

    from deepfake_lightning.results import find_checkpoint

    run = tmp_path / "copy"
    shutil.copytree(runs["general"], run)
    best = Path(json.loads((run / "metrics.json").read_text())["checkpoint"]).name
    assert find_checkpoint(run) == run / "checkpoints" / best  # the copy's own checkpoint, not the original's
    (run / "checkpoints" / best).unlink()
    with pytest.raises(FileNotFoundError, match=best):
        find_checkpoint(run)


def test_predictions_are_matched_to_frames_by_position_not_loader_order(tiny_dm, monkeypatch):
    import lightning as L
    import numpy as np
    from torch.utils.data import DataLoader, RandomSampler

    from deepfake_lightning.apps.ensemble import collect
    from deepfake_lightning.models.loading import build_classifier

    cfg = compose_cfg("train", ["model=resnet50_general", "model.net.arch=mobilenet_v3_small", "model.input_size=32"])
    model = build_classifier(cfg.model).eval()
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    in_order = collect(trainer, model, tiny_dm, "test")
    loader = tiny_dm.loader("test")
    shuffled = DataLoader(
        loader.dataset,
        batch_size=3,
        sampler=RandomSampler(loader.dataset, generator=torch.Generator().manual_seed(0)),
        collate_fn=loader.collate_fn,
    )
    monkeypatch.setattr(tiny_dm, "loader", lambda stage: shuffled)
    again = collect(trainer, model, tiny_dm, "test")
    assert not np.array_equal(np.concatenate([b[2].numpy() for b in shuffled]), in_order["positions"])
    for k in ("positions", "labels", "videos"):
        assert np.array_equal(again[k], in_order[k])
    assert np.allclose(again["p_fake"], in_order["p_fake"], atol=1e-6)
    assert np.allclose(again["p_fake"], torch.softmax(torch.as_tensor(again["logits"]), 1)[:, 1].numpy(), atol=1e-6)


def test_eval_finds_the_runs_own_split_after_the_cache_is_rebuilt(runs, tiny_root, tmp_path):
    # A cache built again since the run (a newer cache version) has another key but the same videos:
    # subset=test must still be the run's recorded test split, not a new split that may hold training videos.
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["general"], run)
    rec = json.loads((run / "split.json").read_text())
    rec["cache_key"] = "0000000000000000"  # what a split recorded with an older cache looks like
    (run / "split.json").write_text(json.dumps(rec))
    ev = tmp_path / "ev"
    m = run_eval(compose_cfg("eval", [f"run={run}", f"data.root={tiny_root}", "subset=test", "report.bootstrap=0",
                                      f"paths.cache_dir={tmp_path / 'c'}", f"out_dir={ev}"], ev))  # fmt: skip
    assert m["eval"]["split_fingerprint"] == rec["fingerprint"] and "run's own test split" in m["eval"]["frames"]
    assert m["eval"]["videos"] == len(rec["videos"]["test"])
