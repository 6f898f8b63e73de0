"""Experiment figures in the house style (``fawkes_analytics.plots``: Okabe-Ito palette).

- ``lift_intervals``: relative lift per metric and treatment with its fixed-horizon interval
  (thick) and always-valid interval (thin); colour says better / worse / inconclusive.
- ``cumulative_lift``: lift over time with both intervals, from ``result.timeline``.
- ``posterior_density``: the normal posterior of the relative lift per treatment.
Every function returns a ``Figure`` and never calls ``plt.show()``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from scipy import stats

from ..plots import GREY, PALETTE, STYLE, empty
from .analysis import ExperimentResult

VERDICT_COLOURS = {"better": PALETTE[2], "worse": PALETTE[3], "inconclusive": GREY}


def _axes(height: float, width: float = 9.0) -> tuple[Figure, plt.Axes]:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
    fig.patch.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def lift_intervals(result: ExperimentResult, title: str | None = None) -> Figure:
    """Forest plot of relative lifts (rows: metric x treatment), zero line for 'no change'."""
    title = title or f"{result.name}: lift against {result.control}"
    rows = result.results
    if rows.empty:
        return empty(title, "No metrics to show")
    fig, ax = _axes(0.55 * len(rows) + 1.4)
    labels = []
    for i, row in enumerate(rows.itertuples()):
        y = len(rows) - 1 - i
        labels.append(f"{row.metric} · {row.variant}" + (" (primary)" if row.primary else ""))
        if row.status != "ok":
            ax.text(0, y, f"not enough data: {row.reason}", va="center", ha="center", color=GREY, fontsize=9)
            continue
        colour = VERDICT_COLOURS.get(row.verdict, GREY)
        ax.plot([row.seq_lift_ci_low, row.seq_lift_ci_high], [y, y], color=colour, lw=1.2, alpha=0.6)
        low = row.lift_ci_low if np.isfinite(row.lift_ci_low) else row.seq_lift_ci_low
        high = row.lift_ci_high if np.isfinite(row.lift_ci_high) else row.seq_lift_ci_high
        ax.plot([low, high], [y, y], color=colour, lw=5, solid_capstyle="butt")
        ax.plot(row.lift, y, "o", color="white", mec=colour, mew=2, ms=8)
    ax.axvline(0, color="#333333", lw=1)
    ax.set_yticks(range(len(rows)), labels[::-1])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("relative lift (thick: fixed-horizon interval, thin: always-valid interval)")
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    if result.srm.flagged:
        ax.text(
            0,
            1.02,
            "SAMPLE RATIO MISMATCH: do not trust these results",
            transform=ax.transAxes,
            color=PALETTE[3],
            fontweight="bold",
        )
    return fig


def cumulative_lift(
    result: ExperimentResult | pd.DataFrame, metric: str, variant: str | None = None, title: str | None = None
) -> Figure:
    """Cumulative relative lift of ``metric`` over time with its fixed and always-valid intervals."""
    timeline = result.timeline if isinstance(result, ExperimentResult) else result
    title = title or f"Cumulative lift: {metric}"
    if timeline is None or timeline.empty:
        return empty(title, "No daily readout (analyse with timeline=True)")
    frame = timeline[(timeline.metric == metric) & (timeline.status == "ok")]
    if variant is not None:
        frame = frame[frame.variant == variant]
    if frame.empty:
        return empty(title, "Not enough data yet")
    fig, ax = _axes(3.6)
    for i, (name, part) in enumerate(frame.groupby("variant", sort=False)):
        colour = PALETTE[i % len(PALETTE)]
        x = pd.to_datetime(part.as_of)
        ax.fill_between(
            x,
            part.seq_lift_ci_low.astype(float),
            part.seq_lift_ci_high.astype(float),
            color=colour,
            alpha=0.12,
            lw=0,
            label=f"{name}: always-valid interval",
        )
        ax.fill_between(
            x,
            part.lift_ci_low.astype(float).clip(lower=part.seq_lift_ci_low.astype(float)),
            part.lift_ci_high.astype(float).clip(upper=part.seq_lift_ci_high.astype(float)),
            color=colour,
            alpha=0.25,
            lw=0,
            label=f"{name}: fixed-horizon interval",
        )
        ax.plot(x, part.lift.astype(float), color=colour, marker="o", ms=3, label=f"{name}: lift")
    ax.axhline(0, color="#333333", lw=1)
    # The first days' intervals are huge; scale the axis to the later 80 % of the readouts.
    later = frame[pd.to_datetime(frame.as_of) >= pd.to_datetime(frame.as_of).quantile(0.2)]
    low, high = float(later.seq_lift_ci_low.min()), float(later.seq_lift_ci_high.max())
    if np.isfinite(low) and np.isfinite(high) and high > low:
        pad = 0.15 * (high - low)
        ax.set_ylim(min(low - pad, -pad), max(high + pad, pad))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("relative lift")
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def posterior_density(result: ExperimentResult, metric: str, title: str | None = None) -> Figure:
    """Posterior density of the relative lift for each treatment of ``metric``."""
    title = title or f"Posterior of the lift: {metric}"
    rows = result.results[(result.results.metric == metric) & (result.results.status == "ok")]
    if rows.empty:
        return empty(title, "Not enough data yet")
    fig, ax = _axes(3.4)
    for i, row in enumerate(rows.itertuples()):
        colour = PALETTE[i % len(PALETTE)]
        mean, sd = float(row.posterior_mean), float(row.posterior_sd)
        x = np.linspace(mean - 4 * sd, mean + 4 * sd, 400)
        density = stats.norm.pdf(x, mean, sd)
        ax.plot(x, density, color=colour, label=f"{row.variant}: chance to beat {row.chance_to_beat:.1%}")
        good = x > 0 if row.higher_is_better else x < 0
        ax.fill_between(x, 0, density, where=good, color=colour, alpha=0.25, lw=0)
    ax.axvline(0, color="#333333", lw=1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("relative lift (shaded: better than control)")
    ax.set_yticks([])
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
