"""Usage trends from Plausible's answers: the events engine's ``UsageTrends``, values unchanged.

Plausible is an aggregate-only source (``Capability.AGGREGATE_ONLY``): it has no events
table, it answers totals, time series and breakdowns through its Stats API
(sources/plausible.py talks to the API). ``metrics.usage.usage_trends`` calls
:func:`aggregate_usage_fields` for such a source and builds the same result type the events
engine returns from them, so reports, dashboards and exports do not care where the numbers
came from. (Only usage.py knows ``UsageTrends``: this module never imports it, so the two
never import each other.)

The KPIs are Plausible's own numbers: visitors, visits, pageviews, views_per_visit,
bounce_rate (percent), visit_duration (seconds). Plausible knows visitors, not all-time users,
so ``total_users`` and ``active_users`` show the period's visitors (a note says so).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from ..errors import ParameterError
from ..sources.plausible import TIME_DIMENSIONS, USAGE_METRICS, PlausibleClient, day_range
from ..timerange import TimeRange
from . import buckets
from .kpis import Kpi

SESSION_METRICS = ("visitors", "visits", "bounce_rate", "visit_duration")
BREAKDOWNS = {  # UsageTrends field -> (Plausible property, column name)
    "entry_pages": ("visit:entry_page", "page"),
    "sources": ("visit:source", "source"),
    "utm_campaigns": ("visit:utm_campaign", "utm_campaign"),
}
NOT_SET = ("", "(not set)", "(none)")


def _totals(client: PlausibleClient, time_range: TimeRange, api: str) -> dict[str, float]:
    if api == "v1":
        values = client.aggregate(USAGE_METRICS, period="custom", date=day_range(time_range), time_range=time_range)
    else:
        frame = client.query(USAGE_METRICS, time_range).frame
        values = {
            m: (None if frame.empty or pd.isna(frame[m].iloc[0]) else float(frame[m].iloc[0])) for m in USAGE_METRICS
        }
    return {m: 0.0 if v is None else v for m, v in values.items()}


def _series(client: PlausibleClient, time_range: TimeRange, granularity: str, api: str) -> pd.DataFrame:
    """Plausible's time series placed on the report's calendar (every bucket, empty ones 0)."""
    if api == "v1":
        interval = "hour" if granularity == "hour" else "date"
        raw = client.timeseries(
            USAGE_METRICS, "custom", day_range(time_range), interval=interval, time_range=time_range
        ).rename(columns={"date": "label"})
    else:
        dimension = TIME_DIMENSIONS[granularity]
        raw = client.query(USAGE_METRICS, time_range, dimensions=[dimension]).frame.rename(columns={dimension: "label"})
    cal = buckets.calendar(time_range.start, time_range.end, time_range.tz, granularity).buckets[["bucket", "start"]]
    cal = cal.assign(local=cal["start"].dt.tz_localize(None)).sort_values("local")
    raw = raw.assign(local=pd.to_datetime(raw["label"]).astype(cal["local"].dtype)).sort_values("local")
    # Each Plausible bucket (labelled by its local start) goes to the calendar bucket it falls in;
    # v1 daily rows are summed into weeks when the report is weekly (visitors then over-count).
    placed = pd.merge_asof(raw, cal[["local", "bucket"]], on="local", direction="backward").dropna(subset=["bucket"])
    sums = placed.groupby("bucket")[["visitors", "visits", "pageviews"]].sum()
    weights = (
        placed.assign(
            bounces=placed["bounce_rate"] * placed["visits"] / 100.0,
            duration=placed["visit_duration"] * placed["visits"],
        )
        .groupby("bucket")[["bounces", "duration"]]
        .sum()
    )
    frame = (
        cal[["bucket", "start"]]
        .merge(sums.join(weights), left_on="bucket", right_index=True, how="left")
        .fillna({"visitors": 0, "visits": 0, "pageviews": 0, "bounces": 0.0, "duration": 0.0})
    )
    visits = frame["visits"].where(frame["visits"] > 0)
    frame = frame.assign(
        active_users=frame["visitors"].astype("int64"),
        visitors=frame["visitors"].astype("int64"),
        visits=frame["visits"].astype("int64"),
        pageviews=frame["pageviews"].astype("int64"),
        views_per_visit=(frame["pageviews"] / visits).fillna(0.0),
        bounce_rate=(100.0 * frame["bounces"] / visits).fillna(0.0),
        visit_duration=(frame["duration"] / visits).fillna(0.0),
    )
    columns = ["bucket", "start", "active_users", "visitors", "visits", "pageviews", "views_per_visit"]
    return frame[[*columns, "bounce_rate", "visit_duration"]].sort_values("bucket", ignore_index=True)


def _breakdown(
    client: PlausibleClient, time_range: TimeRange, prop: str, name: str, metrics: Sequence[str], top: int, api: str
) -> pd.DataFrame:
    if api == "v1":
        frame = client.breakdown(
            prop, metrics, "custom", day_range(time_range), limit=top, time_range=time_range
        ).rename(columns={prop.split(":", 1)[1]: name})
    else:
        frame = client.query(metrics, time_range, [prop], order_by=[["visitors", "desc"]], limit=top).frame.rename(
            columns={prop: name}
        )
    if name == "utm_campaign":
        frame = frame[~frame[name].isin(NOT_SET) & frame[name].notna()]
    for column in ("visitors", "visits", "pageviews"):
        if column in frame:
            frame[column] = frame[column].astype("int64")
    return frame[[name, *metrics]].reset_index(drop=True)


def _fallback_window(client: PlausibleClient, time_range: TimeRange) -> TimeRange | None:
    """The window of the last good data when it differs from ``time_range``, else None."""
    status = client.status
    if status.available or not status.data_range:
        return None
    start, end = (datetime.fromisoformat(v) for v in status.data_range)
    if (start, end) == (time_range.start, time_range.end):
        return None
    return TimeRange(start, end, time_range.tz, time_range.label)


def plausible_usage_fields(
    client: PlausibleClient,
    time_range: TimeRange,
    granularity: str | None = None,
    *,
    top: int = 10,
    api: str = "v2",
    point_kpis: Collection[str] = (),
) -> dict[str, Any]:
    """Plausible's usage numbers as the fields of the events engine's ``UsageTrends``, values
    unchanged (usage.py builds the object: it owns the type, this module only reads Plausible).
    ``point_kpis`` are the KPIs whose change is in percentage points (bounce rate).

    Plausible knows visitors, not all-time users, so ``total_users`` and ``active_users``
    show the period's visitors (a note says so). Changes follow the same rules as the
    engine (percent; bounce rate in points). When an answer came from last good data the
    banner "source unavailable, data as of ..." is the first note.

    When Plausible is down and the first answer is the last good data of *another* window
    with the same meaning (yesterday's 24h), the whole report switches to that window, so
    every number and bucket comes from the one earlier run that fetched it (the banner
    names the run and the window) instead of mixing windows.
    """
    if api not in ("v1", "v2"):
        raise ParameterError("api", f"unknown Plausible API {api!r}", ["v1", "v2"])
    granularity = buckets.check_granularity(granularity or time_range.default_granularity())
    current = _totals(client, time_range, api)
    shown = _fallback_window(client, time_range)
    if shown is not None:
        time_range = shown
        current = _totals(client, time_range, api)
    previous = _totals(client, time_range.previous(), api)
    for values in (current, previous):
        values["total_users"] = values["active_users"] = values["visitors"]
        for name in ("total_users", "active_users", "visitors", "visits", "pageviews"):
            values[name] = int(values[name])
    change = {n: Kpi.compare(n, "", current[n], previous[n], n in point_kpis).change for n in current}
    breakdowns = {
        field_name: _breakdown(client, time_range, prop, column, SESSION_METRICS, top, api)
        for field_name, (prop, column) in BREAKDOWNS.items()
    }
    notes = [f"Usage from Plausible ({client.http.name}); total and active users show Plausible's visitors."]
    if client.status.banner:
        notes.insert(0, client.status.banner)
    return dict(
        time_range=time_range,
        granularity=granularity,
        **{n: current[n] for n in ("total_users", "active_users", *USAGE_METRICS)},
        previous=previous,
        change=change,
        timeseries=_series(client, time_range, granularity, api),
        top_pages=_breakdown(
            client, time_range, "event:page", "page", ("visitors", "pageviews", "time_on_page"), top, api
        ),
        exit_pages=_breakdown(
            client, time_range, "visit:exit_page", "page", ("visitors", "visits", "exit_rate"), top, api
        ),
        **breakdowns,
        notes=notes,
    )


def aggregate_usage_fields(
    source: Any,
    time_range: TimeRange,
    granularity: str | None = None,
    *,
    segment: str | None = None,
    top: int = 10,
    point_kpis: Collection[str] = (),
) -> dict[str, Any]:
    """The usage fields of an aggregate-only source (a ``PlausibleSource``): numbers from its API.

    ``segment`` is refused: engagement segments need an events source.
    """
    if segment is not None:
        raise ParameterError("segment", "Plausible gives aggregates only; segments need an events source", [None])
    api = source.options.get("api", "v2")
    return plausible_usage_fields(source.client, time_range, granularity, top=top, api=api, point_kpis=point_kpis)
