"""Issue 28: what each interval resamples and holds fixed is recorded and said, and the report says what the
operating points do to real and fake items."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

from deepfake_lightning.data.splits import resampling_groups
from deepfake_lightning.evaluation.calibration import fit_calibration
from deepfake_lightning.evaluation.metrics import detection_metrics
from deepfake_lightning.evaluation.operating import better_on_val, in_words
from deepfake_lightning.evaluation.protocol import Scores
from deepfake_lightning.evaluation.statistics import MIN_GROUPS, rechosen_thresholds
from deepfake_lightning.evaluation.thresholds import sweep_thresholds
from tests.helpers import evaluate, rule

BOOT = {"n": 200, "seed": 0, "level": 0.95, "rechoose_threshold": True, "min_defined_share": 0.9}


def clustered(n_ids: int, per: int, seed: int) -> Scores:
    """Identities of `per` videos (one frame each), the first third of each identity's videos real."""
    rng = np.random.default_rng(seed)
    ident = np.repeat([f"id{i}" for i in range(n_ids)], per)
    labels = np.tile((np.arange(per) >= per // 3).astype(int), n_ids)
    p = np.clip(
        0.3
        + 0.35 * labels
        + rng.normal(0, 0.15, n_ids)[np.arange(n_ids).repeat(per)]
        + rng.normal(0, 0.1, len(labels)),
        0,
        1,
    )
    videos = np.array([f"{g}_v{k}" for g, k in zip(ident, np.tile(np.arange(per), n_ids))])
    return Scores(labels, p, videos, ident, "identity")


# --- 1. groups, not videos --------------------------------------------------------------------------------
def test_resampling_groups_follow_the_split():
    videos, ids = np.array(["a", "b", "c"]), np.array(["p1", "p1", ""])
    g, unit, note = resampling_groups(videos, ids, "identity")
    assert unit == "identity" and g.tolist() == ["p1", "p1", "c"] and note is None
    g, unit, note = resampling_groups(videos, ids, "video")
    assert unit == "video" and g.tolist() == videos.tolist() and "not grouped by identity" in note
    g, unit, note = resampling_groups(videos, np.array(["", "", ""]), "identity")
    assert unit == "video" and "name no identity" in note


def test_the_bootstrap_block_records_its_groups_and_warns_when_few():
    val, test = clustered(12, 6, 1), clustered(8, 6, 2)
    out = evaluate(val, test, rule(criterion="balanced_accuracy", step=0.01), bootstrap=BOOT)
    g = out["bootstrap"]["groups"]
    assert g["unit"] == "identity" and g["real"] == 8 and g["fake"] == 8
    assert g["few"] is True and g["min_groups"] == MIN_GROUPS  # 8 < 10 identities per class
    assert "ensemble weight" in " ".join(out["bootstrap"]["held_fixed"])
    many = evaluate(
        clustered(30, 6, 3), clustered(30, 6, 4), rule(criterion="balanced_accuracy", step=0.01), bootstrap=BOOT
    )
    assert many["bootstrap"]["groups"]["few"] is False


def test_identity_intervals_are_wider_than_video_intervals_on_clustered_data():
    val, test = clustered(20, 12, 5), clustered(20, 12, 6)  # 4 real videos per identity
    r = rule(criterion="balanced_accuracy", step=0.01)
    fixed = {**BOOT, "rechoose_threshold": False}  # the test sampling alone
    by_id = evaluate(val, test, r, bootstrap=fixed)["test_ci"]["real_recall"]
    flat = [Scores(s.labels, s.p_fake, s.videos) for s in (val, test)]  # each video its own group
    by_video = evaluate(*flat, r, bootstrap=fixed)["test_ci"]["real_recall"]
    assert by_id[1] - by_id[0] > 1.2 * (by_video[1] - by_video[0])


def test_the_ensemble_folder_resamples_identities(tiny_runs):
    from deepfake_lightning.results import load_metrics, load_predictions

    m = load_metrics(tiny_runs["ensemble"])
    pr = load_predictions(tiny_runs["ensemble"])
    g = m["models"]["ensemble"]["bootstrap"]["groups"]
    test_ids = set(pr["test_groups"].astype(str))
    assert g["unit"] == "identity" and g["real"] + g["fake"] >= len(test_ids) and len(test_ids) < MIN_GROUPS
    assert g["few"]  # 6 identities in the whole tiny set
    report = (
        (tiny_runs["ensemble"] / "REPORT.md").read_text() if (tiny_runs["ensemble"] / "REPORT.md").is_file() else ""
    )
    if report:
        assert "Too few groups" in report


# --- 3. what each interval holds fixed ---------------------------------------------------------------------
def test_fallbacks_are_counted_not_logged_each(caplog):
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40, int), np.ones(60, int)]
    p = np.clip(rng.normal(0.45 + 0.1 * y, 0.2), 0, 1)
    r = rule(criterion="max_real_recall", min_fake_recall=1.01, step=0.01)  # a floor no threshold can meet
    with caplog.at_level("WARNING"):
        out = rechosen_thresholds(y, p, np.arange(100).astype(str), r, 50, 0)
    assert out.fell_back == 50 and not [rec for rec in caplog.records if "fell back" in rec.message]
    # A false-alarm budget of 0 that a resample can miss: one real item scores 1.0, so no threshold spares it.
    p2 = p.copy()
    p2[0] = 1.0
    val = Scores(y, p2, np.arange(100).astype(str))
    budget = rule(criterion="target_fpr", target_fpr=0.0, fallback="balanced_accuracy", step=0.01)
    block = evaluate(val, val, budget, bootstrap={**BOOT, "n": 60})
    n = block["bootstrap"]["threshold_fallbacks"]
    assert 0 < n < 60  # the resamples that drew the item fell back; the others did not


def test_an_estimate_outside_its_interval_is_named():
    from deepfake_lightning.evaluation.protocol import _put

    block = {"test": {"real_recall": 0.9, "fake_recall": 0.3}}
    samples = {"real_recall": np.linspace(0.1, 0.5, 100), "fake_recall": np.linspace(0.2, 0.4, 100)}
    _put(block, "test", samples, BOOT)
    assert block["test_ci_outside"] == ["real_recall"]


def test_calibration_is_judged_on_held_out_folds():
    # Scores that are already calibrated (labels drawn from sigmoid(d)): an in-sample fit always lowers the NLL a
    # little; on held-out folds it does not, so the fit is not applied.
    rng = np.random.default_rng(3)
    d = rng.normal(0, 2, 300)
    y = (rng.random(300) < 1 / (1 + np.exp(-d))).astype(int)
    logits = np.stack([np.zeros(300), d], 1)
    fit = fit_calibration(logits, y, "platt", groups=np.arange(300).astype(str))
    assert fit["nll_val_after"] < fit["nll_val_before"]  # in sample it would have been applied
    assert "held-out" in fit["checked_on"] and not fit["apply"] and "held-out" in fit["reason"]
    assert "in-sample" in fit_calibration(logits, y, "platt")["checked_on"]


def test_dfl_eval_video_threshold_follows_one_rule():
    from deepfake_lightning.evaluation.finished_run import evaluate as eval_block

    val = clustered(10, 6, 7)
    frames = Scores(np.repeat(val.labels, 2), np.repeat(val.p_fake, 2) + np.tile([0.0, 0.02], len(val.labels)),
                    np.repeat(val.videos, 2), np.repeat(val.groups, 2), "identity")  # fmt: skip
    r = rule(criterion="balanced_accuracy", step=0.01)
    pred = SimpleNamespace(threshold=0.9, video_thresholds=None)
    block = eval_block(pred, frames, "mean", frames, r)
    assert block["video_level"]["threshold"] != 0.9 and "chosen now" in block["video_level"]["threshold_source"]
    lone = eval_block(pred, frames, "mean")
    assert lone["video_level"]["threshold"] == 0.9 and "frame threshold" in lone["video_level"]["threshold_source"]


# --- labels ----------------------------------------------------------------------------------------------------
def test_labels_follow_the_settings(tmp_path):
    from deepfake_lightning.evaluation.report import pseudo_fake_section
    from deepfake_lightning.evaluation.seed_report import recipe_lines

    rc = {k: {"estimate": 0.1, "ci": [0.0, 0.2]} for k in ("balanced_accuracy", "real_recall", "fake_recall")}
    rc.update(verdict="not shown", level=0.9, n_boot=100, groups={"unit": "identity", "real": 20, "fake": 20},
              threshold_rechosen_on_val_resamples=False)  # fmt: skip
    text = " ".join(recipe_lines(rc, 4))
    assert "re-chosen" not in text and "held at their val choice" in text and "90% intervals" in text
    m = {"confusion_matrix": [[5, 5], [1, 9]], "balanced_accuracy": 0.7}
    metrics = {
        "models": {"general": {"test": m}, "general_without_pseudo_fakes": {"test": m}},
        "pseudo_fake_comparison": {"verdict": "not shown", "level": 0.9, "threshold_fallbacks": None,
                                   "roc_auc": {"estimate": 0.0, "ci": [-0.1, 0.1]}},
        "pseudo_fakes": {"ratio": 0.5, "method": "sbi", "mask": "hull", "made_from": "reals",
                         "seen_per_epoch": {"real": 10, "fake": 10}},
    }  # fmt: skip
    text = "\n".join(pseudo_fake_section(metrics))
    assert "[90% interval]" in text and "95% CI" not in text and "what class weights count" not in text
    assert "flags 5 of 10 (50%) real test frames as fake" in text


# --- 4. what a verdict means for a person ---------------------------------------------------------------------
def _block(y, p, t, val_y, val_p):
    return {"threshold": t, "test": detection_metrics(y, p, t), "test_at_0.5": detection_metrics(y, p, 0.5),
            "val": detection_metrics(val_y, val_p, t), "threshold_sweep_val": sweep_thresholds(val_y, val_p, 0.01)}  # fmt: skip


def test_the_report_says_what_the_operating_points_do():
    from deepfake_lightning.evaluation.report import claim_check

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(168, int), np.ones(820, int)]
    good = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.1, len(y)), 0, 1)
    assert (
        in_words(detection_metrics(y, good, 0.0))
        == "flags 168 of 168 (100%) real test frames as fake and catches 820 of 820 (100%) fakes"
    )
    models = {
        "baseline": _block(y, good, 0.5, y, good),
        "general": _block(y, good, 0.5, y, good),
        "ensemble": _block(y, good, 0.05, y, good),  # a threshold that flags nearly every real frame
    }
    better = better_on_val(models, "ensemble", "val-chosen")
    assert better is not None and better["threshold"] == 0.5
    ci = {"estimate": -0.3, "ci": [-0.4, -0.2], "outside": False}
    claim = {"verdict": "reversed", "balanced_accuracy": ci, "real_recall": ci, "fake_recall": ci, "n_boot": 100,
             "groups": {"unit": "identity", "real": 4, "fake": 4, "few": True, "min_groups": 10}}  # fmt: skip
    text = claim_check({"models": models, "claim": claim})
    assert "In practice: the ensemble at 0.05 flags" in text and "real test frames as fake" in text
    assert "a better operating point" in text and "Too few groups" in text


def test_plots_name_split_threshold_and_chance(tmp_path, monkeypatch):
    from deepfake_lightning.evaluation import plots

    seen = {}

    def keep(fig, path, legends=(), legend_size=8):
        for ax in legends:
            ax.legend()
        seen[path.name] = [
            (ax.get_title(), [t.get_text() for t in (ax.get_legend().get_texts() if ax.get_legend() else [])])
            for ax in fig.axes
        ]
        return path

    monkeypatch.setattr(plots, "save_figure", keep)
    y = np.r_[np.zeros(20, int), np.ones(80, int)]
    p = np.linspace(0, 1, 100)
    plots.plot_roc_pr({"ensemble": (y, p)}, tmp_path / "roc_pr.png")
    (roc_title, roc_legend), (pr_title, pr_legend) = seen["roc_pr.png"]
    assert "test" in roc_title and "test" in pr_title
    assert any("AUC" in t for t in roc_legend) and "chance" in roc_legend
    assert any("share of fakes 0.80" in t for t in pr_legend)
    # The training-curve log: one point per epoch, the post-fit validation of the chosen checkpoint dropped.
    log = tmp_path / "metrics.csv"
    with open(log, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "step", "train/loss_epoch", "val/loss"])
        w.writerows([[0, 9, 0.7, ""], [0, 9, "", 0.6], [1, 19, 0.5, ""], [1, 19, "", 0.4], [1, 19, "", 0.45]])
    s = plots.read_csv_log(log)
    assert len(s["val/loss"]) == len(s["train/loss_epoch"]) == 2
    plots.plot_training_curves({"general": log}, tmp_path / "curves.png")
    assert "calibrated" not in json.dumps(seen["curves.png"])


@pytest.mark.parametrize("level", [0.9])
def test_brackets_note_names_groups_and_what_is_fixed(level):
    from deepfake_lightning.evaluation.wording import brackets_note

    boot = {"level": level, "n": 100, "min_defined_share": 0.9, "threshold_rechosen_on_val_resamples": True,
            "threshold_fallbacks": 7, "held_fixed": ["the trained models", "the ensemble weight"],
            "groups": {"unit": "identity", "real": 5, "fake": 12, "few": True, "min_groups": 10}}  # fmt: skip
    text = brackets_note(boot)
    assert "90%" in text and "identity groups (5 holding real items" in text and "7 of those re-choices" in text
    assert "ensemble weight" in text and "Too few groups" in text
