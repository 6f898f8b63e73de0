"""Unusual changes, shown: the ranked sentences of a report's section, and what charts overlay.

A report's "Unusual changes" section lists every flag of an ``AnomalyReport`` strongest first,
one sentence each, then the KPIs that could not be judged and why. Charts of daily KPIs get
the flagged days marked and, after the last observed day, the forecast's 80% band
(``overlay``): a line chart's columns that are KPI names (``visitors``, ``bounce_rate``,
``nps``...) are the KPIs it overlays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ..templates import Html, render

METHOD_NOTE = (
    "Unusual changes cover every user, whatever segment the rest of the page shows. "
    "Each day is compared with what its weekly cycle and trend predicted (robust STL, one day ahead); "
    "a flag is a day beyond the KPI's robust threshold (analytics.yaml: anomalies.sensitivity). "
    "How it works and how well: docs/anomalies.md."
)
UNJUDGED = {
    "not_enough_history": "not enough history",
    "no_data": "no data",
    "not_final": "conversion window still open",
}


def _days_text(first: date, last: date) -> str:
    from ..anomalies.text import day_label

    return day_label(last) if first == last else f"{day_label(first)} – {day_label(last)}"


def unusual_changes(report: Any, shown: int = 12) -> Html:
    """The section's body: the flags' sentences, strongest first (the ``shown`` strongest; the
    CSV has them all), and the KPIs not judged."""
    unjudged = [f"{c.kpi.label} ({UNJUDGED.get(c.status, c.status)})" for c in report.checks if c.status in UNJUDGED]
    return render(
        "parts/unusual_changes.html.j2",
        flags=report.flags,
        shown=shown,
        days=_days_text(report.first_day, report.last_day),
        unjudged=unjudged,
        unavailable=getattr(report, "unavailable", ""),
        method=METHOD_NOTE,
    )


@dataclass
class Overlay:
    """What a daily line chart draws over its lines, per column: flagged days and forecast bands.

    ``marks[column]`` has ``x`` (local midnight of the day), ``value``, ``expected`` and
    ``hover`` (what an interactive chart says over the mark: observed against expected);
    ``bands[column]`` has ``x``, ``forecast``, ``lower`` and ``upper``.
    """

    marks: dict[str, pd.DataFrame] = field(default_factory=dict)
    bands: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.marks or self.bands)


def _midnights(days: list[date]) -> list[datetime]:
    return [datetime(d.year, d.month, d.day) for d in days]


def overlay(report: Any, columns: list[str], start: date | None = None) -> Overlay:
    """Flags and forecast bands of the KPIs among ``columns``; flags from ``start`` on (the chart's
    first day), so a mark never falls outside the drawn lines."""
    if report is None:
        return Overlay()
    out = Overlay()
    for column in columns:
        flags = [f for f in report.flags if f.kpi == column and (start is None or f.day >= start)]
        if flags:
            out.marks[column] = pd.DataFrame(
                {
                    "x": _midnights([f.day for f in flags]),
                    "value": [f.observed for f in flags],
                    "expected": [f.expected for f in flags],
                    "hover": [_hover(report, f) for f in flags],
                }
            )
        forecasts = getattr(report, "forecasts", None)
        if forecasts is None:
            continue
        found = [f for f in forecasts.forecasts if f.kpi.name == column and f.status == "ok"]
        if found:
            out.bands[column] = _band(found[0], report)
    return out


def _hover(report: Any, flag: Any) -> str:
    """'Unusual change, Tue 10 Nov: Visits 530, expected 1,020 (-48%)' (values as the sentence writes them)."""
    from ..anomalies.text import day_label, value_label

    kpi = report.check(flag.kpi).kpi
    change = f"{flag.change:+.0f}%" if flag.change_unit == "percent" else f"{flag.change:+.1f} points"
    observed, expected = value_label(kpi, flag.observed), value_label(kpi, flag.expected, True)
    return f"Unusual change, {day_label(flag.day)}: {flag.label} {observed}, expected {expected} ({change})"


def _band(forecast: Any, report: Any) -> pd.DataFrame:
    """The forecast's days, starting from the last observed day (so the dashed line continues
    the observed one, with no gap) when the report judged that day."""
    points = forecast.points[["day", "forecast", "lower", "upper"]]
    check = next((c for c in report.checks if c.kpi.name == forecast.kpi.name), None)
    if check is not None:
        last = check.days[check.days["day"] == forecast.last_day]
        if len(last) and pd.notna(last["observed"].iloc[0]):
            value = float(last["observed"].iloc[0])
            start = pd.DataFrame({"day": [forecast.last_day], "forecast": value, "lower": value, "upper": value})
            points = pd.concat([start, points], ignore_index=True)
    return pd.DataFrame(
        {
            "x": _midnights(list(points["day"])),
            "forecast": points["forecast"].to_numpy(float),
            "lower": points["lower"].to_numpy(float),
            "upper": points["upper"].to_numpy(float),
        }
    )


def chart_overlay(report: Any, result: Any, columns: list[str], tz: str) -> Overlay:
    """The overlay for a chart of ``result``: only on daily charts (a day's flag is one point) of
    every user (the flags and forecasts are every user's, not one segment's)."""
    if report is None or getattr(result, "granularity", None) != "day" or getattr(result, "segment", None):
        return Overlay()
    time_range = getattr(result, "time_range", None)
    start = time_range.start.astimezone(ZoneInfo(tz)).date() if time_range is not None else None
    return overlay(report, columns, start)


__all__ = ["METHOD_NOTE", "Overlay", "chart_overlay", "overlay", "unusual_changes"]
