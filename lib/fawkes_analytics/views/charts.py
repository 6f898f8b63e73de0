"""Draw any ``ChartSpec`` of the area registry as a house-style matplotlib figure.

Times are drawn in the reporting time zone (naive local times on the axis); labels and the
value format come from the column vocabulary (``columns.py``), so a chart says "Bounce rate"
in percent exactly as the table beside it does. Long labels are shortened (``labels.py``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..areas import ChartSpec
from ..columns import cell, column
from ..labels import shorten
from .anomalies import chart_overlay

KINDS = ("lines", "bars", "columns", "funnel", "heatmap", "stacked")


def local_times(values: pd.Series, tz: str) -> pd.Series:
    """UTC instants as naive times of ``tz`` (what a chart's time axis shows)."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def chart(spec: ChartSpec, result: Any, tz: str = "UTC", anomalies: Any = None) -> Any:
    """The figure of ``spec`` for ``result`` (a ``plots.empty`` figure when there is no data).

    ``anomalies`` (an ``AnomalyReport``): a daily line chart of KPIs marks their unusual days and
    draws their forecast band after the observed series (``views.anomalies.chart_overlay``).
    """
    from .. import plots  # matplotlib: only when a chart is drawn

    frame = spec.frame(result)
    title = shorten(spec.title_of(result))
    if frame is None or frame.empty:
        return plots.empty(title)
    y = list(spec.y) or [c for c in frame.columns if c != spec.x]
    labels = list(spec.labels) or [shorten(column(c).label if c in frame else c) for c in y]
    fmt = spec.format or (column(y[0]).format if y else "number")
    if spec.kind == "lines":
        data = frame.assign(**{spec.x: local_times(frame[spec.x], tz)})
        extra = chart_overlay(anomalies, result, y, tz)
        return plots.timeseries(
            data,
            spec.x,
            y,
            title,
            labels=labels,
            percent=fmt == "percent",
            span=_span(result, tz),
            marks=extra.marks,
            bands=extra.bands,
        )
    if spec.kind == "bars":
        data = frame.assign(**{spec.x: [cell(v, column(spec.x, v).format) for v in frame[spec.x]]})
        return plots.bars(data, spec.x, y[0], title, percent=fmt == "percent", color=spec.colour)
    if spec.kind == "columns":
        return plots.columns(frame, spec.x, y[0], title, color=spec.colour, xlabel=spec.xlabel or None)
    if spec.kind == "funnel":
        return plots.funnel(frame.assign(**{spec.x: frame[spec.x].map(shorten)}), spec.x, y[0], title)
    if spec.kind == "heatmap":
        periods = [c for c in frame.columns if c.startswith("period_")]
        rows = frame.assign(row=_cohort_labels(frame, spec.x, tz))
        return plots.heatmap(rows, "row", periods, title, [c.split("_", 1)[1] for c in periods])
    if spec.kind == "stacked":
        data = frame.assign(**{spec.x: local_times(frame[spec.x], tz).dt.strftime("%Y-%m-%d")})
        return plots.stacked(data, spec.x, y, title, labels, below_zero=spec.below_zero)
    raise ValueError(f"chart {spec.name}: unknown kind {spec.kind!r} (known: {', '.join(KINDS)})")


def _span(result: Any, tz: str) -> tuple[Any, Any] | None:
    """The result's range on a local time axis, when it has one."""
    time_range = getattr(result, "time_range", None)
    if time_range is None or not hasattr(time_range, "start"):
        return None
    bounds = local_times(pd.Series([time_range.start, time_range.end]), tz)
    return bounds.iloc[0], bounds.iloc[1]


def _cohort_labels(frame: pd.DataFrame, x: str, tz: str) -> list[str]:
    """'2026-11-08 (52 users)': the cohort's first day in ``tz`` and its size."""
    starts = local_times(frame[x], tz).dt.strftime("%Y-%m-%d")
    sizes = frame["size"] if "size" in frame else [None] * len(frame)
    return [f"{s} ({n:,} users)" if n is not None else s for s, n in zip(starts, sizes, strict=True)]
