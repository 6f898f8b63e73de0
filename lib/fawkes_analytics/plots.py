"""Matplotlib figures in one house style: readable on screen and in print, colour-blind safe.

The palette is Okabe-Ito (safe for the common colour-vision deficiencies); lines also differ
by marker so charts survive greyscale printing. Every function returns a ``Figure`` and never
calls ``plt.show()``: notebooks display the figure, the report publishes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.rcsetup import cycler
from matplotlib.ticker import FuncFormatter, MaxNLocator

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
GREY = "#6b6b6b"

STYLE: dict[RcKeyType, Any] = {
    "figure.figsize": (9.0, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 144,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelcolor": "#333333",
    "axes.edgecolor": "#bbbbbb",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#e5e5e5",
    "axes.prop_cycle": cycler(color=PALETTE),
    "legend.frameon": False,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
}


def _figure(height: float = 3.6, width: float = 9.0) -> tuple[Figure, plt.Axes]:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
    fig.patch.set_facecolor("white")
    return fig, ax


def _style_axes(ax: plt.Axes, title: str, ylabel: str | None = None) -> None:
    with plt.rc_context(STYLE):
        ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
        if ylabel:
            ax.set_ylabel(ylabel)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(True, axis="y", color="#e5e5e5")
        ax.set_axisbelow(True)


def empty(title: str, message: str = "No data in this period") -> Figure:
    """A figure that says there is nothing to draw, instead of an empty axis."""
    fig, ax = _figure(2.0)
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.text(0.5, 0.45, message, ha="center", va="center", color=GREY, fontsize=11, transform=ax.transAxes)
    return fig


def timeseries(
    frame: pd.DataFrame,
    x: str,
    columns: Sequence[str],
    title: str,
    ylabel: str | None = None,
    labels: Sequence[str] | None = None,
    percent: bool = False,
    span: tuple[Any, Any] | None = None,
    marks: Mapping[str, pd.DataFrame] | None = None,
    bands: Mapping[str, pd.DataFrame] | None = None,
) -> Figure:
    """Lines over time, one per column, each with its own colour and marker.

    The value axis starts at 0, or spans the data with a line at 0 when a value is negative
    (an NPS below zero), and covers at least one unit (a single 0 still reads as 0). ``span``
    (start, end) is the time axis: the report's range, even where there are no points.

    ``marks[column]`` (``x``, ``value``) rings the column's unusual days in black;
    ``bands[column]`` (``x``, ``forecast``, ``lower``, ``upper``) draws its forecast after the
    observed line: dashed, in the line's colour, with the prediction interval as a light band.
    The time axis then runs on to the forecast's last day.
    """
    if frame.empty:
        return empty(title)
    fig, ax = _figure()
    marks, bands = marks or {}, bands or {}
    for i, column in enumerate(columns):
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(
            frame[x],
            frame[column],
            color=colour,
            marker=MARKERS[i % len(MARKERS)],
            markersize=3.5,
            linewidth=1.8,
            label=(labels or columns)[i],
        )
        if column in bands and not bands[column].empty:
            band = bands[column]
            ax.fill_between(band["x"], band["lower"], band["upper"], color=colour, alpha=0.15, linewidth=0)
            ax.plot(band["x"], band["forecast"], color=colour, linestyle="--", linewidth=1.4)
    flagged = [marks[c] for c in columns if c in marks and not marks[c].empty]
    if flagged:
        rings = pd.concat(flagged, ignore_index=True)
        ax.scatter(rings["x"], rings["value"], s=110, facecolors="none", edgecolors="#000000", linewidths=1.6, zorder=5)
        ax.scatter([], [], s=60, facecolors="none", edgecolors="#000000", linewidths=1.6, label="unusual day")
    if any(not b.empty for c, b in bands.items() if c in columns):
        ax.fill_between([], [], [], color=GREY, alpha=0.25, label="forecast, 80% interval")
    _style_axes(ax, title, ylabel)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=not percent))
    if percent:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if (frame[list(columns)].min(numeric_only=True) < 0).any():
        ax.axhline(0, color="#333333", linewidth=0.8)
    else:
        ax.set_ylim(bottom=0)
    low, high = ax.get_ylim()
    if high - low < 1:
        ax.set_ylim(low, low + 1)
    if span is not None:
        ahead = [b["x"].max() for c, b in bands.items() if c in columns and not b.empty]
        ax.set_xlim(span[0], max([span[1], *ahead]) if ahead else span[1])
    if len(columns) > 1 or flagged or bands:  # beside the plot, where it never hides a line
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.autofmt_xdate()
    return fig


def bars(
    frame: pd.DataFrame,
    label: str,
    value: str,
    title: str,
    percent: bool = False,
    color: int = 0,
    xlabel: str | None = None,
) -> Figure:
    """Horizontal bars, largest on top, with the value written at the end of each bar."""
    if frame.empty:
        return empty(title)
    data = frame.sort_values(value, ascending=True)
    fig, ax = _figure(max(1.6, 0.34 * len(data) + 0.9))
    ax.barh(data[label].astype(str), data[value], color=PALETTE[color % len(PALETTE)])
    _style_axes(ax, title)
    ax.grid(True, axis="x", color="#e5e5e5")
    ax.grid(False, axis="y")
    top = float(data[value].max() or 1)
    for y, v in enumerate(data[value]):
        ax.text(v + top * 0.01, y, f"{v:.1f}%" if percent else f"{v:,.0f}", va="center", fontsize=9, color="#333333")
    ax.set_xlim(0, top * 1.15)
    if xlabel:
        ax.set_xlabel(xlabel)
    return fig


def funnel(frame: pd.DataFrame, label: str, count: str, title: str) -> Figure:
    """Funnel steps as bars with the conversion from the first step written on each."""
    if frame.empty or float(frame[count].iloc[0] or 0) == 0:
        return empty(title, "Nobody entered this funnel in the period")
    fig, ax = _figure(max(1.8, 0.5 * len(frame) + 0.8))
    first = float(frame[count].iloc[0])
    positions = list(range(len(frame)))[::-1]
    ax.barh(positions, frame[count], color=PALETTE[0])
    ax.barh(positions, first - frame[count], left=frame[count], color="#dbe9f4")
    ax.set_yticks(positions, [f"{i + 1}. {s}" for i, s in enumerate(frame[label].astype(str))])
    for pos, c in zip(positions, frame[count], strict=True):
        ax.text(first * 1.01, pos, f"{c:,.0f}  ({100 * c / first:.1f}%)", va="center", fontsize=9)
    _style_axes(ax, title)
    ax.grid(False)
    ax.set_xlim(0, first * 1.3)
    ax.set_xticks([])
    return fig


def columns(
    frame: pd.DataFrame, label: str, value: str, title: str, color: int = 0, xlabel: str | None = None
) -> Figure:
    """Vertical bars in the frame's order (a histogram or a distribution over ordered buckets)."""
    if frame.empty:
        return empty(title)
    fig, ax = _figure()
    positions = range(len(frame))
    ax.bar(positions, frame[value], color=PALETTE[color % len(PALETTE)], width=0.8)
    labels = frame[label].astype(str).tolist()
    step = max(1, len(frame) // 14)
    crowded = len(labels) * max(len(t) for t in labels) > 60
    ax.set_xticks(
        list(positions)[::step], labels[::step], rotation=30 if crowded else 0, ha="right" if crowded else "center"
    )
    _style_axes(ax, title)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if xlabel:
        ax.set_xlabel(xlabel)
    return fig


def stacked(
    frame: pd.DataFrame,
    x: str,
    columns: Sequence[str],
    title: str,
    labels: Sequence[str] | None = None,
    below_zero: Sequence[str] = (),
) -> Figure:
    """Stacked columns per period; ``below_zero`` columns stack downwards from the axis."""
    if frame.empty:
        return empty(title)
    fig, ax = _figure()
    positions = list(range(len(frame)))
    up = [0.0] * len(frame)
    down = [0.0] * len(frame)
    for i, column in enumerate(columns):
        values = frame[column].astype(float).tolist()
        sign = -1.0 if column in below_zero else 1.0
        base = down if sign < 0 else up
        heights = [sign * v for v in values]
        ax.bar(
            positions, heights, bottom=base, width=0.8, color=PALETTE[i % len(PALETTE)], label=(labels or columns)[i]
        )
        for j, h in enumerate(heights):
            base[j] += h
    _style_axes(ax, title)
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):,.0f}"))
    step = max(1, len(frame) // 12)
    ax.set_xticks(positions[::step], [str(v) for v in frame[x].tolist()][::step], rotation=30, ha="right")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def heatmap(frame: pd.DataFrame, rows: str, columns: Sequence[str], title: str, column_labels: Sequence[str]) -> Figure:
    """A grid of percentages (cohorts x periods), darker for higher, each cell written out."""
    if frame.empty or not columns:
        return empty(title)
    values = frame[list(columns)].astype(float)
    fig, ax = _figure(max(2.0, 0.32 * len(frame) + 1.2), max(6.0, min(12.0, 0.62 * len(columns) + 2.5)))
    image = ax.imshow(values.to_numpy(), cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for (i, j), value in np.ndenumerate(values.to_numpy()):
        if np.isfinite(value):
            ax.text(
                j, i, f"{value:.0f}", ha="center", va="center", fontsize=8, color="white" if value > 55 else "#1a1a1a"
            )
    ax.set_xticks(range(len(columns)), column_labels)
    ax.set_yticks(range(len(frame)), frame[rows].astype(str).tolist())
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, format=FuncFormatter(lambda v, _: f"{v:.0f}%"))
    return fig
