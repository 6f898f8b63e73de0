"""What reports, dashboards, emails and the metrics export call: flags and forecasts per KPI.

``unusual_changes(source, catalog, as_of)`` judges the last ``days`` complete local days of
every KPI (issue 21's list, ``kpis.all_kpis``) and returns an ``AnomalyReport`` whose flags
are ranked by strength, each with its sentence. ``forecast(source, catalog, as_of)`` returns
the 14-day forecasts of the usage KPIs and the funnel conversions. Both read the daily series
once over the span their method needs (``series.daily_series``) and are pure otherwise: the
same data and ``as_of`` give the same result.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ..catalog import Catalog
from ..rollups.answers import kept
from ..sources.base import Capability, Source
from ..timerange import TimeRange
from .detect import FLAGGED, NO_DATA, NOT_ENOUGH_HISTORY, NOT_FINAL, OK, Method, change_of, judge, threshold_of
from .forecast import ForecastSettings, forecast_series
from .kpis import KpiSpec, all_kpis
from .results import DAY_COLUMNS, AnomalyReport, Flag, ForecastReport, KpiCheck, KpiForecast
from .series import DailySeries, daily_series, day_range, last_complete_day
from .text import flag_sentence

DEFAULT_SENSITIVITY = "medium"
MAX_JUDGED_DAYS = 28  # a report judges at most its last four weeks (one STL fit per KPI and judged day)
FORECAST_DAYS = 14


def sensitivity_for(catalog: Catalog, kpi: str) -> str | float:
    """The sensitivity of ``kpi`` from analytics.yaml (``anomalies.sensitivity``), else the default."""
    levels = getattr(catalog, "anomaly_sensitivity", {}) or {}
    return levels.get(kpi, levels.get("default", DEFAULT_SENSITIVITY))


def _as_of(source: Source, as_of: datetime | None) -> datetime:
    moment = as_of or source.default_as_of()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def check_kpi(
    series: DailySeries,
    sensitivity: str | float,
    first_day: date,
    last_day: date,
    method: Method = Method(),  # noqa: B008 - a frozen value object
) -> KpiCheck:
    """Judge ``series`` on the days ``first_day`` to ``last_day`` and collect its flags."""
    kpi = series.kpi
    threshold = threshold_of(sensitivity)
    verdicts = judge(series, threshold, first_day, method)
    window = verdicts[(verdicts["day"] >= first_day) & (verdicts["day"] <= last_day)].reset_index(drop=True)
    flags = [_flag(kpi, row) for row in window[window["status"] == FLAGGED].itertuples()]
    judged = window[window["status"].isin([OK, FLAGGED])]
    smallest = None
    if len(judged):
        last = judged.iloc[-1]
        smallest = abs(change_of(kpi, float(last["upper"]), float(last["expected"])))
    status, message = _status(window, judged, flags, kpi, method)
    return KpiCheck(kpi, status, sensitivity, threshold, window[list(DAY_COLUMNS)], flags, smallest, message)


def _status(
    window: pd.DataFrame, judged: pd.DataFrame, flags: list[Flag], kpi: KpiSpec, method: Method
) -> tuple[str, str]:
    if flags:
        return FLAGGED, ""
    if len(judged):
        return OK, ""
    statuses = set(window["status"])
    if NOT_ENOUGH_HISTORY in statuses:
        return NOT_ENOUGH_HISTORY, (
            f"not enough history: a day is judged after {method.warm_up_days} days of data "
            f"({method.min_history_days} to learn the weekly cycle, {method.min_scale_days} to measure the noise)"
        )
    if statuses and statuses <= {NOT_FINAL, NO_DATA} and NOT_FINAL in statuses:
        return NOT_FINAL, f"the conversion window ({kpi.settle_days} days) has not passed for these days"
    return NO_DATA, "no data on these days"


def _flag(kpi: KpiSpec, row: object) -> Flag:
    observed, expected, z = float(row.observed), float(row.expected), float(row.z)  # type: ignore[attr-defined]
    day = row.day  # type: ignore[attr-defined]
    change = change_of(kpi, observed, expected)
    up = z > 0
    return Flag(
        kpi=kpi.name,
        label=kpi.label,
        day=day,
        observed=observed,
        expected=expected,
        change=change,
        change_unit=kpi.change_unit,
        z=z,
        direction="up" if up else "down",
        good=up == kpi.higher_is_better,
        sentence=flag_sentence(kpi, day, observed, expected, change),
    )


def ranked(flags: list[Flag]) -> list[Flag]:
    """Strongest first; equal strengths: newest day first, then KPI name."""
    return sorted(flags, key=lambda f: (-f.strength, -f.day.toordinal(), f.kpi))


def _judged(
    series: dict[str, DailySeries],
    catalog: Catalog,
    specs: list[KpiSpec],
    first_day: date,
    last_day: date,
    method: Method,
) -> tuple[list[KpiCheck], list[Flag]]:
    """Each KPI judged on the days ``first_day`` to ``last_day``; a funnel's conversion on the
    days that became final in that time (shifted back by its conversion window), so a daily
    email does hear of the cohort whose window has just closed."""
    checks = []
    for k in specs:
        if k.name in series:
            settle = timedelta(days=k.settle_days)
            sensitivity = sensitivity_for(catalog, k.name)
            checks.append(check_kpi(series[k.name], sensitivity, first_day - settle, last_day - settle, method))
    return checks, ranked([f for c in checks for f in c.flags])


def unusual_changes(
    source: Source,
    catalog: Catalog,
    as_of: datetime | None = None,
    *,
    days: int = 7,
    tz: str = "UTC",
    kpis: list[KpiSpec] | None = None,
    method: Method = Method(),  # noqa: B008 - a frozen value object
) -> AnomalyReport:
    """Unusual changes of every KPI on the last ``days`` complete local days before ``as_of``.

    ``as_of`` defaults to the source's anchor (now, or the end of demo data). The series
    are read from ``method.history_days + method.scale_days`` days before the first judged
    day, so every judged day has its full history when the data has it. A funnel's conversion
    is judged on the days that became final in those days (``_judged``).
    """
    as_of = _as_of(source, as_of)
    last_day = last_complete_day(as_of, tz)
    first_day = last_day - timedelta(days=days - 1)
    read_from = first_day - timedelta(days=method.history_days + method.scale_days)
    specs = kpis if kpis is not None else all_kpis(catalog)
    read_from -= timedelta(days=max((k.settle_days for k in specs), default=0))
    series = daily_series(source, catalog, read_from, last_day, tz, specs, as_of=as_of)
    checks, flags = _judged(series, catalog, specs, first_day, last_day, method)
    return AnomalyReport(as_of, tz, first_day, last_day, checks, flags, {"detector": method.to_dict()})


def forecast(
    source: Source,
    catalog: Catalog,
    as_of: datetime | None = None,
    *,
    horizon: int = 14,
    level: float = 0.8,
    tz: str = "UTC",
    kpis: list[KpiSpec] | None = None,
) -> ForecastReport:
    """Forecasts ``horizon`` days ahead (``level`` prediction intervals) of the usage KPIs and conversions."""
    as_of = _as_of(source, as_of)
    settings = ForecastSettings(horizon=horizon, level=level)
    specs = [k for k in (kpis if kpis is not None else all_kpis(catalog)) if k.forecast]
    last_day = last_complete_day(as_of, tz)
    longest_settle = max((k.settle_days for k in specs), default=0)
    read_from = last_day - timedelta(days=settings.history_days + longest_settle - 1)
    series = daily_series(source, catalog, read_from, last_day, tz, specs, as_of=as_of)
    forecasts = [forecast_series(series[k.name], settings) for k in specs if k.name in series]
    return ForecastReport(as_of, tz, horizon, level, forecasts)


class _RecentReads:
    """The last few daily-series reads and the forecasts made from them, per process.

    A dashboard refresh asks for the unusual changes of every named range (1h to 90d) with the
    same anchor: the same days of the same series, judged over different windows. One read
    serves them all. An entry is found only for the same objects (``held``: the source, the
    catalog and the derived tables the metrics read, ``rollups.tables.tables_for``, which are
    new whenever the rollup store is refreshed or the raw events change; held by the entry,
    so they stay the same objects) and the same span, time zone, KPIs and last complete day.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.entries: list[tuple[tuple[Any, ...], tuple[Any, ...], dict[str, Any]]] = []

    def get(self, held: tuple[Any, ...], key: tuple[Any, ...]) -> dict[str, Any] | None:
        for h, k, entry in self.entries:
            if k == key and len(h) == len(held) and all(a is b for a, b in zip(h, held, strict=True)):
                return entry
        return None

    def put(self, held: tuple[Any, ...], key: tuple[Any, ...], entry: dict[str, Any]) -> None:
        self.entries = [(held, key, entry), *self.entries][: self.size]


_READS = _RecentReads()


def _series_and_forecasts(
    source: Source,
    catalog: Catalog,
    span: tuple[date, date],
    tz: str,
    specs: list[KpiSpec],
    as_of: datetime,
    settings: ForecastSettings | None,
) -> tuple[dict[str, DailySeries], list[KpiForecast] | None]:
    """The daily series of ``specs`` over ``span`` and, with ``settings``, the forecasts of those
    that have one; from ``_READS`` when this process read them already."""
    from ..rollups.tables import tables_for

    held = (source, catalog, tables_for(source, day_range(span[0], span[1], tz).end, catalog))
    key = (span, tz, tuple(specs), last_complete_day(as_of, tz))
    entry = _READS.get(held, key)
    if entry is None:
        entry = {"series": daily_series(source, catalog, span[0], span[1], tz, specs, as_of=as_of), "forecasts": {}}
        _READS.put(held, key, entry)
    series: dict[str, DailySeries] = entry["series"]
    if settings is None:
        return series, None
    if settings not in entry["forecasts"]:
        entry["forecasts"][settings] = [
            forecast_series(series[k.name], settings) for k in specs if k.forecast and k.name in series
        ]
    return series, entry["forecasts"][settings]


def judged_days(time_range: TimeRange, most: int = MAX_JUDGED_DAYS) -> tuple[date, date]:
    """The local days a report of ``time_range`` judges: from the range's first day to the last
    day complete at its end, at least that last day and at most ``most`` days."""
    last_day = last_complete_day(time_range.end, time_range.tz)
    first_day = time_range.start.astimezone(ZoneInfo(time_range.tz)).date()
    days = min(max((last_day - first_day).days + 1, 1), most)
    return last_day - timedelta(days=days - 1), last_day


@kept
def outlook(
    source: Source,
    catalog: Catalog,
    time_range: TimeRange,
    *,
    forecast_days: int | None = None,
    kpis: list[KpiSpec] | None = None,
    method: Method = Method(),  # noqa: B008 - a frozen value object
) -> AnomalyReport:
    """What a report of ``time_range`` shows: the unusual changes on its days, and where the KPIs
    are heading, from one read of the daily series.

    The judged days are ``judged_days(time_range)``; ``forecast_days`` defaults to 14 for ranges
    of two days or more (their charts are daily, so a forecast band can follow the observed
    series) and 0 otherwise (hourly charts, the metrics export: no forecast is computed).
    """
    as_of = time_range.end
    tz = time_range.tz
    first_day, last_day = judged_days(time_range)
    if not source.offers(Capability.EVENTS):
        why = f"Unusual changes need an events source; {source.kind} answers with aggregates only."
        return AnomalyReport(as_of, tz, first_day, last_day, [], [], {"detector": method.to_dict()}, unavailable=why)
    if forecast_days is None:
        forecast_days = FORECAST_DAYS if time_range.end - time_range.start >= timedelta(days=2) else 0
    specs = kpis if kpis is not None else all_kpis(catalog)
    settings = ForecastSettings(horizon=max(forecast_days, 1))
    longest_settle = max((k.settle_days for k in specs), default=0)
    # Always the span the forecasts need too, so every range of the same day shares one read.
    read_from = min(
        first_day - timedelta(days=method.history_days + method.scale_days + longest_settle),
        last_day - timedelta(days=settings.history_days + longest_settle - 1),
    )
    wanted = settings if forecast_days and any(k.forecast for k in specs) else None
    series, made = _series_and_forecasts(source, catalog, (read_from, last_day), tz, specs, as_of, wanted)
    checks, flags = _judged(series, catalog, specs, first_day, last_day, method)
    forecasts = None if made is None else ForecastReport(as_of, tz, settings.horizon, settings.level, made)
    return AnomalyReport(as_of, tz, first_day, last_day, checks, flags, {"detector": method.to_dict()}, forecasts)


__all__ = ["check_kpi", "forecast", "judged_days", "outlook", "ranked", "sensitivity_for", "unusual_changes"]
