"""Any ``ChartSpec`` of the area registry as an interactive plotly chart, for the dashboards.

Reports, PDFs and emails keep the house-style matplotlib figures (``charts.py``); dashboards
draw the same specs with plotly.js so that a viewer hovers a point or a bar and reads its
value. The figure is built here with plotly's Python API (``figure_of``) and handed to the page
as JSON inside a ``<div class="fwk-chart">``: the dashboard's page script draws it with the
plotly.js bundled in the plotly package and served by the dashboard server itself (no CDN,
works offline). Labels, value formats and colours come from the same places as the static
charts (``columns.py``, ``plots.PALETTE``), and every hover text is formatted by
``columns.cell``, exactly as the table beside the chart writes the value.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ..areas import ChartSpec
from ..columns import cell, column
from ..labels import shorten
from ..templates import Html, render
from .anomalies import chart_overlay
from .charts import _cohort_labels, _span, local_times

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")  # plots.PALETTE
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def chart_html(spec: ChartSpec, result: Any, tz: str = "UTC", anomalies: Any = None) -> Html:
    """The chart as a page fragment: a titled ``div`` holding the figure's JSON.

    ``anomalies`` (an ``AnomalyReport``): a daily line chart of KPIs rings their unusual days,
    as the static charts do, and hovering a ring reads the observed against the expected value.
    """
    title = shorten(spec.title_of(result))
    figure = figure_of(spec, result, tz, anomalies)
    if figure is None:
        return render("dashboard/chart.html.j2", title=title, chart=spec.name, figure=None)
    return render("dashboard/chart.html.j2", title=title, chart=spec.name, figure=figure.to_json())


def figure_of(spec: ChartSpec, result: Any, tz: str = "UTC", anomalies: Any = None) -> Any | None:
    """The plotly ``Figure`` of ``spec`` for ``result``; None when there is nothing to draw.

    With ``anomalies``, a daily line chart gets one more trace, "unusual day": black rings on
    the flagged days of its KPIs (``views.anomalies.chart_overlay``).
    """
    import plotly.graph_objects as go

    frame = spec.frame(result)
    if frame is None or frame.empty:
        return None
    y = list(spec.y) or [c for c in frame.columns if c != spec.x]
    labels = list(spec.labels) or [shorten(column(c).label if c in frame else c) for c in y]
    fmt = spec.format or (column(y[0]).format if y else "number")
    traces = _traces(go, spec, frame, y, labels, fmt, tz)
    if spec.kind == "lines":
        overlay = chart_overlay(anomalies, result, y, tz)
        _tell_flags(traces, y, overlay)
        traces = _rings(go, overlay) + traces  # under the lines' markers: the line keeps its hover
    figure = go.Figure(traces)
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=_height(spec, frame),
        font={"family": FONT, "size": 12, "color": "#333333"},
        plot_bgcolor="white",
        paper_bgcolor="white",
        hoverlabel={"bgcolor": "white", "font": {"family": FONT}},
        showlegend=len(traces) > 1,
        legend={"orientation": "h", "y": -0.2},
        barmode="relative" if spec.kind == "stacked" else None,
    )
    figure.update_xaxes(showgrid=False, automargin=True, title_text=spec.xlabel or None)
    figure.update_yaxes(gridcolor="#e5e5e5", zerolinecolor="#333333", automargin=True)
    if spec.kind == "lines":
        span = _span(result, tz)
        if span is not None:
            figure.update_xaxes(range=[span[0].isoformat(), span[1].isoformat()])
        figure.update_yaxes(ticksuffix="%" if fmt == "percent" else "", rangemode="tozero")
    if spec.kind == "heatmap":
        figure.update_yaxes(autorange="reversed", gridcolor=None)
    return figure


def _traces(go: Any, spec: ChartSpec, frame: pd.DataFrame, y: list[str], labels: list[str], fmt: str, tz: str) -> list:
    colour = PALETTE[spec.colour % len(PALETTE)]
    if spec.kind == "lines":
        times = local_times(frame[spec.x], tz)
        return [
            go.Scatter(
                x=[t.isoformat() for t in times],
                y=_numbers(frame[name]),
                name=label,
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                marker={"size": 6},
                text=[cell(v, column(name).format if name in frame else fmt) for v in frame[name]],
                hovertemplate=f"%{{x|%Y-%m-%d %H:%M}} {tz}<br>{label}: <b>%{{text}}</b><extra></extra>",
            )
            for i, (name, label) in enumerate(zip(y, labels, strict=True))
        ]
    if spec.kind in ("bars", "funnel"):
        ordered = frame if spec.kind == "funnel" else frame.sort_values(y[0], ascending=True)
        names = [shorten(cell(v, column(spec.x, v).format)) for v in ordered[spec.x]]
        if spec.kind == "funnel":
            names = list(reversed(names))
            ordered = ordered.iloc[::-1]
        values = ordered[y[0]]
        text = [cell(v, fmt) for v in values]
        return [
            go.Bar(
                x=_numbers(values),
                y=names,
                orientation="h",
                marker_color=colour,
                text=text,
                textposition="auto",
                name=labels[0],
                hovertemplate=f"%{{y}}<br>{labels[0]}: <b>%{{text}}</b><extra></extra>",
            )
        ]
    if spec.kind == "columns":
        names = [str(v) for v in frame[spec.x]]
        text = [cell(v, fmt) for v in frame[y[0]]]
        return [
            go.Bar(
                x=names,
                y=_numbers(frame[y[0]]),
                marker_color=colour,
                text=text,
                name=labels[0],
                hovertemplate=f"%{{x}}<br>{labels[0]}: <b>%{{text}}</b><extra></extra>",
            )
        ]
    if spec.kind == "heatmap":
        periods = [c for c in frame.columns if c.startswith("period_")]
        rows = _cohort_labels(frame, spec.x, tz)
        values = frame[periods]
        cells = [[cell(v, "percent") for v in row] for row in values.itertuples(index=False)]
        return [
            go.Heatmap(
                z=[_numbers(pd.Series(row)) for row in values.itertuples(index=False)],
                x=[f"Period {c.split('_', 1)[1]}" for c in periods],
                y=rows,
                text=cells,
                texttemplate="%{text}",
                colorscale="Blues",
                showscale=False,
                hovertemplate="%{y}<br>%{x}: <b>%{text}</b> active again<extra></extra>",
            )
        ]
    if spec.kind == "stacked":
        days = local_times(frame[spec.x], tz).dt.strftime("%Y-%m-%d")
        return [
            go.Bar(
                x=list(days),
                y=[-v if v is not None and name in spec.below_zero else v for v in _numbers(frame[name])],
                name=label,
                marker_color=PALETTE[i % len(PALETTE)],
                text=[cell(v, column(name).format) for v in frame[name]],
                hovertemplate=f"%{{x}}<br>{label}: <b>%{{text}}</b><extra></extra>",
            )
            for i, (name, label) in enumerate(zip(y, labels, strict=True))
        ]
    raise ValueError(f"chart {spec.name}: unknown kind {spec.kind!r}")


def _tell_flags(traces: list, columns: list[str], overlay: Any) -> None:
    """A flagged day's point also says, in its own hover text, that it is unusual and what was expected."""
    for trace, name in zip(traces, columns, strict=True):
        marks = overlay.marks.get(name)
        if marks is None or marks.empty:
            continue
        said = {t.isoformat(): f"<br>{hover}" for t, hover in zip(marks["x"], marks["hover"], strict=True)}
        trace.customdata = [said.get(x, "") for x in trace.x]
        trace.hovertemplate = trace.hovertemplate.replace("<extra>", "%{customdata}<extra>")


def _rings(go: Any, overlay: Any) -> list:
    """One marker trace ringing every flagged day of the chart, its hover text observed vs expected."""
    flagged = [m for m in overlay.marks.values() if not m.empty]
    if not flagged:
        return []
    rings = pd.concat(flagged, ignore_index=True)
    return [
        go.Scatter(
            x=[t.isoformat() for t in rings["x"]],
            y=_numbers(rings["value"]),
            name="unusual day",
            legendrank=2000,  # after the lines in the legend, as in the static charts
            mode="markers",
            marker={"symbol": "circle-open", "size": 16, "color": "#000000", "line": {"width": 2}},
            text=list(rings["hover"]),
            hovertemplate="%{text}<extra></extra>",
        )
    ]


def _numbers(values: pd.Series) -> list[float | None]:
    """Plain floats for JSON (None where a value is missing)."""
    return [None if v is None or v != v else float(v) for v in values]


def _height(spec: ChartSpec, frame: pd.DataFrame) -> int:
    if spec.kind in ("bars", "funnel"):
        return max(160, 34 * len(frame) + 40)
    if spec.kind == "heatmap":
        return max(200, 28 * len(frame) + 60)
    return 280


def figure_data(markup: str) -> list[dict[str, Any]]:
    """The figures of a fragment (their JSON), for tests and the bench: what the page will draw."""
    import html
    import re

    return [json.loads(html.unescape(m)) for m in re.findall(r'data-figure="([^"]*)"', markup)]
