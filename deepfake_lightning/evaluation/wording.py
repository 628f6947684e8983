"""How REPORT.md words a figure: percentages, intervals with their marks (†, ‡), signed differences, and the
paragraph saying what the intervals resample and hold fixed (shared by the chain, dfl-eval and seeds reports)."""

from __future__ import annotations

from typing import Any


def pct_or_num(x: Any, pct: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def num(x: float | None) -> str:
    """A figure with three decimals, or n/a."""
    return pct_or_num(x, pct=False)


def value_with_ci(
    value: Any, ci: list[float] | None, pct: bool = True, defined: int | None = None, n: int | None = None
) -> str:
    """`0.587 [0.521, 0.652]` (or percentages); the value alone when there is no interval, and why when the
    resamples left it undefined (`defined` of `n` resamples defined it)."""
    if ci is None:
        if defined is not None and n and defined < n:
            return f"{pct_or_num(value, pct)} [no interval: defined in {defined} of {n} resamples]"
        return pct_or_num(value, pct)
    text = f"{pct_or_num(value, pct)} [{pct_or_num(ci[0], pct)}, {pct_or_num(ci[1], pct)}]"
    if defined is not None and n and defined < n:
        # The interval speaks for the resamples that defined the figure only; it says nothing about the others.
        text += f" (of the {defined} of {n} resamples defining it)"
    return text


def figure_cell(block: dict, name: str, key: str, pct: bool = True) -> str:
    """One figure of block[name] with its interval from block[name + '_ci'] (and its count of defined resamples);
    `†` where the interval rests on too few groups, `‡` where the estimate lies outside its own interval."""
    m = block.get(name) or {}
    ci = (block.get(f"{name}_ci") or {}).get(key)
    defined = (block.get(f"{name}_ci_defined") or {}).get(key)
    boot = block.get("bootstrap") or {}
    text = value_with_ci(m.get(key), ci, pct, defined, boot.get("n"))
    if ci is not None and (boot.get("groups") or {}).get("few"):
        text += " †"
    if ci is not None and key in (block.get(f"{name}_ci_outside") or []):
        text += " ‡"
    return text


def few_groups_sentence(g: dict[str, Any]) -> str:
    """The warning for an interval resting on fewer groups per class than statistics.MIN_GROUPS."""
    return (
        f" **Too few groups to trust this interval**: the test split holds {g.get('real')} {g.get('unit', 'video')} "
        f"groups with real items and {g.get('fake')} with fakes, fewer than {g.get('min_groups')} for a class; a "
        "bootstrap recombining so few clusters understates the uncertainty."
    )


def calibrated(metrics: dict, name: str) -> bool:
    """Whether this model's scores were calibrated before its thresholds were applied."""
    return bool((((metrics.get("calibration") or {}).get("models") or {}).get(name) or {}).get("applied"))


def point_05_note(metrics: dict, name: str, m: dict) -> str:
    """`, on calibrated scores` for the fixed 0.5 of a calibrated model: no longer the paper's milestone."""
    return ", on calibrated scores" if calibrated(metrics, name) and abs(float(m["threshold"]) - 0.5) < 1e-9 else ""


def any_outside(*blocks: dict) -> bool:
    """Whether some block has a figure whose estimate lies outside its own interval."""
    return any(k.endswith("_ci_outside") and v for b in blocks for k, v in b.items())


def brackets_note(boot: dict, what: str = "test", outside_seen: bool = False) -> str:
    """What the intervals resample and hold fixed, in one paragraph (shared by table 1, the model table, dfl-eval)."""
    g = boot.get("groups") or {}
    unit = g.get("unit", "video")
    text = (
        f"Brackets: {100 * boot['level']:.0f}% bootstrap intervals over {boot['n']} resamples of whole {what} "
        f"{unit} groups ({g.get('real', '?')} holding real items, {g.get('fake', '?')} holding fakes), stratified by "
        "what a group holds; "
        + (
            "each threshold chosen again on a resample of val (its groups) each time"
            + (
                f", {boot['threshold_fallbacks']} of those re-choices falling back to the rule's fallback"
                if boot.get("threshold_fallbacks")
                else ""
            )
            if boot.get("threshold_rechosen_on_val_resamples")
            else "conditional on the one val-chosen threshold (report.rechoose_threshold=false)"
        )
        + ". Held fixed across the resamples (a weight or calibration is fitted once on all of val, never refitted): "
        + "; ".join(boot.get("held_fixed") or ["the trained models"])
        + f". An interval defined by fewer than {100 * boot['min_defined_share']:.0f}% of the resamples is not shown."
    )
    if g.get("few"):
        text += (
            f" **† Too few groups to trust these intervals**: fewer than {g['min_groups']} {unit} groups hold a class "
            "here, and a bootstrap that recombines so few clusters understates the uncertainty."
        )
    if unit == "video":
        text += " Videos are resampled as if independent: the split was not grouped by identity, or the data name none."
    if outside_seen:
        text += (
            " ‡: the estimate (at the one full-val threshold) lies outside its own interval, whose thresholds are "
            "re-chosen per resample: the val choice is at an edge of its own spread."
        )
    return text


def signed_diff(value: float, ci: list[float] | None, pct: bool = True) -> str:
    """A signed difference with its interval: `+7.8 pts [+0.0, +16.3]` (or `+0.078 [+0.000, +0.163]`)."""

    def g(x: float) -> str:
        return f"{100 * x:+.1f}" if pct else f"{x:+.3f}"

    unit = " pts" if pct else ""
    return f"{g(value)}{unit}" + ("" if ci is None else f" [{g(ci[0])}, {g(ci[1])}]")
