"""Experiment figures in the house style (``fawkes_analytics.plots``: Okabe-Ito palette).

- ``lift_intervals``: relative lift per metric and treatment with the decision readout's
  interval (the one the results table and the recommendation quote); colour says better /
  worse / inconclusive; an unbounded end (one-sided tests) is drawn as an arrow to the edge.
- ``cumulative_lift``: the readout of each day (lift and the same interval), from ``result.timeline``.
- ``posterior_density``: the normal posterior of the relative lift per treatment (Bayesian decisions).
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


def _interval_label(result: ExperimentResult) -> str:
    level = float(result.results.interval_level.iloc[0]) if len(result.results) else 0.95
    kind = {"bayesian": "credible", "sequential": "always-valid"}.get(
        str(result.settings.get("decision")), "confidence"
    )
    return f"{level:.0%} {kind} interval"


def _finite_span(lows: pd.Series, highs: pd.Series, points: pd.Series) -> tuple[float, float]:
    values = pd.concat([lows, highs, points, pd.Series([0.0])]).astype(float)
    values = values[np.isfinite(values)]
    low, high = float(values.min()), float(values.max())
    pad = 0.12 * (high - low or 1.0)
    return low - pad, high + pad


def lift_intervals(result: ExperimentResult, title: str | None = None) -> Figure:
    """Forest plot of relative lifts (rows: metric x treatment) with the decision interval."""
    title = title or f"{result.name}: lift against {result.control}"
    rows = result.results
    if rows.empty:
        return empty(title, "No metrics to show")
    fig, ax = _axes(0.6 * len(rows) + 1.5)
    ok = rows[rows.status == "ok"]
    left, right = _finite_span(ok.lift_ci_low, ok.lift_ci_high, ok.lift) if len(ok) else (-0.1, 0.1)
    labels = []
    for i, row in enumerate(rows.itertuples()):
        y = len(rows) - 1 - i
        labels.append(f"{row.metric} · {row.variant}" + ("" if row.role == "secondary" else f" ({row.role})"))
        if row.status != "ok":
            ax.text(0, y, f"{row.status}: {row.reason}", va="center", ha="center", color=GREY, fontsize=8, wrap=True)
            continue
        colour = VERDICT_COLOURS.get(row.verdict, GREY)
        low = max(float(row.lift_ci_low), left)
        high = min(float(row.lift_ci_high), right)
        ax.plot([low, high], [y, y], color=colour, lw=5, solid_capstyle="butt")
        if not np.isfinite(row.lift_ci_low):
            ax.plot(left, y, "<", color=colour, ms=9)
        if not np.isfinite(row.lift_ci_high):
            ax.plot(right, y, ">", color=colour, ms=9)
        ax.plot(row.lift, y, "o", color="white", mec=colour, mew=2, ms=8)
        ax.annotate(
            f"{row.lift:+.1%}  {row.verdict}",
            (row.lift, y),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=colour,
        )
    ax.axvline(0, color="#333333", lw=1)
    ax.set_xlim(left, right)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(range(len(rows)), labels[::-1])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"relative lift with its {_interval_label(result)} (arrow: unbounded, one-sided test)")
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
    fig.tight_layout()
    return fig


def cumulative_lift(
    result: ExperimentResult, metric: str | None = None, variant: str | None = None, title: str | None = None
) -> Figure:
    """The lift of ``metric`` (the primary by default) as each day's readout stood, with the same interval."""
    metric = metric or result.settings.get("primary_metric")
    timeline = result.timeline
    title = title or f"Lift of {metric} as read each day"
    if timeline is None or timeline.empty:
        return empty(title, "No daily readout (analyse with timeline=True)")
    frame = timeline[(timeline.metric == metric) & (timeline.status == "ok")]
    if variant is not None:
        frame = frame[frame.variant == variant]
    if frame.empty:
        return empty(title, "No day with enough complete windows yet")
    fig, ax = _axes(3.6)
    later = frame[pd.to_datetime(frame.as_of) >= pd.to_datetime(frame.as_of).quantile(0.2)]
    low, high = _finite_span(later.lift_ci_low, later.lift_ci_high, later.lift)
    for i, (name, part) in enumerate(frame.groupby("variant", sort=False)):
        colour = PALETTE[i % len(PALETTE)]
        x = pd.to_datetime(part.as_of)
        ax.fill_between(
            x,
            part.lift_ci_low.astype(float).clip(lower=low),
            part.lift_ci_high.astype(float).clip(upper=high),
            color=colour,
            alpha=0.2,
            lw=0,
            label=f"{name}: {_interval_label(result)}",
        )
        ax.plot(x, part.lift.astype(float), color=colour, marker="o", ms=3, label=f"{name}: lift")
    ax.axhline(0, color="#333333", lw=1)
    ax.set_ylim(low, high)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("relative lift")
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def posterior_density(result: ExperimentResult, metric: str, title: str | None = None) -> Figure:
    """Posterior density of the relative lift for each treatment of ``metric`` (Bayesian decisions only)."""
    title = title or f"Posterior of the lift: {metric}"
    if result.settings.get("decision") != "bayesian":
        return empty(title, "The decision rule is not Bayesian: its evidence is the interval above")
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
