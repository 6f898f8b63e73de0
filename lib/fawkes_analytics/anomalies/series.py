"""Daily KPI series over long spans, from the same metric functions the reports use.

Every series has one row per local day of ``[first, last]`` (the reporting time zone) with
``value`` (NaN when the day has no data: no responses, no one entered the funnel, or a day
before the data begins; the first day with events is left out too, as it is usually only
partly covered) and
``base``, the number the value rests on (the day's visits, active users, entrants or
responses), which the detector uses to weigh days of different size. Where each comes from:

- visitors, visits, pageviews, bounce rate, visit duration: ``usage_trends(..., "day")``'s
  time series (``usage_timeseries``: the same numbers without the tables; Plausible's definitions; the bounce rate and duration of a day are those of
  the sessions whose last event falls in it); base: the day's visits (the day's own count for
  visitors, visits and pageviews);
- adoption of each feature: ``feature_adoption(..., "day")``; base: the day's active users;
- NPS: ``feedback_summary(..., "day")``; base: the day's NPS responses;
- conversion of each funnel: of the people who *entered* the funnel on a day (step 1 on that
  day), the share whose result reached the last step within the conversion window. This
  is exactly ``funnel_report`` over that one day (PostHog counts entries in the date range;
  each person once per day, with PostHog's result among their attempts of the day), computed
  for all days in one pass over the funnel's attempts instead of one report per day. A day's conversion is final
  only once its conversion window has passed (``KpiSpec.settle_days``); later days are
  returned but marked ``final=False`` and never judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandas as pd

from ..catalog import Catalog, Funnel
from ..metrics import feature_adoption, feedback_summary, funnel_paths
from ..metrics.buckets import calendar
from ..metrics.usage import usage_timeseries
from ..rollups import engines
from ..sources.base import Source
from ..timerange import TimeRange
from .kpis import USAGE, KpiSpec, all_kpis

COLUMNS = ("day", "value", "base", "final")


@dataclass
class DailySeries:
    """One KPI's daily values: ``frame`` has ``day`` (date), ``value``, ``base``, ``final``."""

    kpi: KpiSpec
    frame: pd.DataFrame

    @property
    def days(self) -> list[date]:
        return list(self.frame["day"])

    def values(self) -> pd.Series:
        """Values indexed by day."""
        return pd.Series(self.frame["value"].to_numpy(float), index=pd.Index(self.frame["day"], name="day"))


def day_range(first: date, last: date, tz: str) -> TimeRange:
    """The time range of the local days ``first`` to ``last`` (inclusive) in ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(timezone.utc)
    after = last + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(timezone.utc)
    return TimeRange(start, end, tz, "custom")


def last_complete_day(as_of: datetime, tz: str) -> date:
    """The last local day that has fully passed at ``as_of`` (the day before as_of's day)."""
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=timezone.utc)
    return as_of.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)


def _frame(days: list[date], values: Iterable[float], bases: Iterable[float], final: Iterable[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": days,
            "value": pd.Series(list(values), dtype="float64"),
            "base": pd.Series(list(bases), dtype="float64"),
            "final": pd.Series(list(final), dtype="bool"),
        }
    )


def _days_of(starts: pd.Series) -> list[date]:
    return [pd.Timestamp(s).date() for s in starts]


def usage_series(source: Source, span: TimeRange, catalog: Catalog | None = None) -> dict[str, pd.DataFrame]:
    """Visitors, visits, pageviews, bounce rate and visit duration per day of ``span``."""
    ts = usage_timeseries(source, span, "day", catalog=catalog)
    days = _days_of(ts["start"])
    visits = ts["visits"].astype("float64")
    out = {}
    for name in USAGE:
        base = ts[name].astype("float64") if name in ("visitors", "visits", "pageviews") else visits
        value = ts[name].astype("float64")
        if name in ("bounce_rate", "visit_duration"):
            value = value.where(visits > 0)  # no sessions: no rate (the report's 0 is a display default)
        out[name] = _frame(days, value, base, [True] * len(days))
    return out


def adoption_series(source: Source, catalog: Catalog, span: TimeRange) -> dict[str, pd.DataFrame]:
    """Each feature's adoption rate (percent of the day's active users) per day of ``span``."""
    if not catalog.features:
        return {}
    ts = feature_adoption(source, catalog, span, "day").timeseries
    out = {}
    for name, rows in ts.groupby("feature", sort=False):
        rows = rows.sort_values("bucket")
        active = rows["active_users"].astype("float64")
        out[str(name)] = _frame(
            _days_of(rows["start"]), rows["adoption_rate"].where(active > 0), active, [True] * len(rows)
        )
    return out


def has_feedback(source: Source) -> bool:
    """Whether the source has a feedback table (an absent one reads as an empty in-memory table)."""
    return not isinstance(source.feedback().op(), ops.InMemoryTable)


def nps_series(source: Source, span: TimeRange) -> pd.DataFrame:
    """NPS per day of ``span`` (NaN on days without responses, and every day when the source
    has no feedback table at all: then NPS has no data rather than failing the other KPIs)."""
    if not has_feedback(source):
        days = calendar(span.start, span.end, span.tz, "day").buckets
        return _frame(_days_of(days["start"]), [float("nan")] * len(days), [0.0] * len(days), [True] * len(days))
    summary = feedback_summary(source, span, "day")
    ts = calendar(span.start, span.end, span.tz, "day").buckets.merge(
        summary.nps_timeseries[["bucket", "responses", "nps"]], on="bucket", how="left"
    )
    responses = ts["responses"].fillna(0).astype("float64")
    nps = pd.to_numeric(ts["nps"], errors="coerce").where(responses > 0)
    return _frame(_days_of(ts["start"]), nps, responses, [True] * len(ts))


def funnel_series(source: Source, funnel: Funnel, span: TimeRange, final_until: date) -> pd.DataFrame:
    """Conversion (percent) of the people who entered ``funnel`` on each day of ``span``.

    Each day is a period of the funnel's part (b) (``funnel_paths.outcomes``: each person
    once per day, their result among the attempts whose step 1 is that day), over the
    attempts of the whole span computed once (part (a), ``funnel_paths.attempts``): exactly
    ``funnel_report`` over that one day, for all days in one pass. A day's base is its
    entrants; ``final`` is False for days after ``final_until`` (their conversion window has
    not passed yet). Ordered and strict funnels only (``kpis.all_kpis`` leaves unordered
    ones out: their sliding window is computed per period, one pass per day).
    """
    cal = calendar(span.start, span.end, span.tz, "day")
    starts = [pd.Timestamp(s).tz_convert("UTC").tz_localize(None).to_pydatetime() for s in cal.buckets["start"]]
    ends = [*starts[1:], span.end_naive_utc]
    periods = [
        (str(int(b)), max(a, span.start_naive_utc), e)
        for b, a, e in zip(cal.buckets["bucket"], starts, ends, strict=True)
    ]
    held: list[ir.Table] = []

    def hold(table: ir.Table) -> ir.Table:
        cached = engines.cache(table)
        held.append(cached)
        return cached

    n = len(funnel.steps)
    try:
        found = funnel_paths.attempts(
            source.events(), funnel, span.start_naive_utc, span.end_naive_utc + funnel.window, hold=hold
        )
        people = funnel_paths.outcomes(found, funnel, periods)
        per_day = (
            people.group_by("period")
            .aggregate(entered=people.count(), converted=(people.reached >= n).cast("int64").sum())
            .execute()
        )
    finally:
        for table in reversed(held):
            table.release()
    per_day["bucket"] = per_day["period"].astype("int64")
    ts = cal.buckets.merge(per_day[["bucket", "entered", "converted"]], on="bucket", how="left")
    entered = ts["entered"].fillna(0).astype("float64")
    converted = ts["converted"].fillna(0).astype("float64")
    days = _days_of(ts["start"])
    rate = (100.0 * converted / entered.where(entered > 0)).astype("float64")
    return _frame(days, rate, entered, [d <= final_until for d in days])


def first_full_day(source: Source, tz: str, visitors: pd.DataFrame | None = None) -> date | None:
    """The first local day the data covers whole: the day after the first day with events.

    Read from the visitors series when there is one (no extra query), else from the events.
    """
    if visitors is not None:
        active = visitors[visitors["value"] > 0]
        return active["day"].iloc[0] + timedelta(days=1) if len(active) else None
    first = source.events().timestamp.min().execute()
    if first is None or pd.isna(first):
        return None
    return pd.Timestamp(first).tz_localize("UTC").tz_convert(tz).date() + timedelta(days=1)


def _before(frame: pd.DataFrame, start: date | None) -> pd.DataFrame:
    """``frame`` with no value on days before ``start`` (no data yet, not a zero)."""
    frame = frame.copy()
    if start is None:
        frame["value"] = float("nan")
    else:
        frame.loc[frame["day"] < start, "value"] = float("nan")
    return frame


def daily_series(
    source: Source,
    catalog: Catalog,
    first: date,
    last: date,
    tz: str = "UTC",
    kpis: Iterable[KpiSpec] | None = None,
    as_of: datetime | None = None,
) -> dict[str, DailySeries]:
    """Every KPI's series over the local days ``first`` to ``last`` (inclusive).

    ``kpis`` defaults to ``all_kpis(catalog)``; ``as_of`` (default: the end of ``last``)
    decides which funnel days are final.
    """
    specs = {k.name: k for k in (kpis if kpis is not None else all_kpis(catalog))}
    span = day_range(first, last, tz)
    done = last_complete_day(as_of, tz) if as_of is not None else last
    frames: dict[str, pd.DataFrame] = {}
    if any(name in specs for name in USAGE):
        frames.update({k: v for k, v in usage_series(source, span, catalog).items() if k in specs})
    if any(name.startswith("adoption.") for name in specs):
        frames.update({f"adoption.{k}": v for k, v in adoption_series(source, catalog, span).items()})
    if "nps" in specs:
        frames["nps"] = nps_series(source, span)
    for name, spec in specs.items():
        if name.startswith("conversion."):
            funnel = catalog.funnel(name.split(".", 1)[1])
            frames[name] = funnel_series(source, funnel, span, done - timedelta(days=spec.settle_days))
    if frames:
        start = first_full_day(source, tz, frames.get("visitors"))
        frames = {name: _before(frame, start) for name, frame in frames.items()}
    return {name: DailySeries(specs[name], frames[name]) for name in specs if name in frames}


__all__ = [
    "COLUMNS",
    "DailySeries",
    "adoption_series",
    "daily_series",
    "day_range",
    "first_full_day",
    "funnel_series",
    "last_complete_day",
    "nps_series",
    "usage_series",
]
