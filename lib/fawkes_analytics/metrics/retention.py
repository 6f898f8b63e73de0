"""Cohort retention and lifecycle (references: PostHog and Amplitude, SEMANTICS.md).

Retention: a user's cohort is the period (day or week of the reporting time zone) of their
first-ever start event; only cohorts starting inside the report range are shown. Period 0
is the cohort period itself (everyone, 100 %). The user is retained "on period N" (N >= 1)
when a return event happens in period N after the cohort period, and "on or after period N"
when one happens in period N or any later period (PostHog's two retention modes). Periods
that end after the report range are not shown (they cannot be observed yet). Without
``start_event``/``return_event`` any event counts.

Lifecycle per period of the range, for users with any event (or ``event``):
new (first-ever activity in this period), returning (active in this period and the previous
one), resurrecting (active now, not in the previous period, and not new), dormant (active in
the previous period, not in this one). PostHog draws dormant as a negative bar; here it is a
positive count. Periods are whole local days or ISO weeks, so the first and last may reach
beyond the range; the period before the first one is read to classify it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from ..results import Result
from ..rollups.answers import kept
from ..rollups.derive import PAGEVIEW
from ..rollups.tables import Tables, tables_for
from ..sources.base import Source
from ..timerange import TimeRange
from . import buckets
from .materialise import materialised

PERIODS = ("day", "week")
_FAR_PAST = -(10**9)


def _check_period(period: str) -> str:
    from ..errors import ParameterError

    if period not in PERIODS:
        raise ParameterError("period", f"unknown period {period!r}", list(PERIODS))
    return period


def _firsts(tables: Tables, name: str | None, end: object) -> ir.Table:
    """Each user's first event (or first ``name`` event): ``user_id, first_ts``."""
    if name is None:
        return tables.table("users", None, end)
    firsts = tables.table("first_seen", None, end)
    return firsts.filter(firsts.event_name == name).select("user_id", "first_ts")


def _active_slots(tables: Tables, name: str | None, start: object, end: object) -> ir.Table:
    """``user_id, slot`` of every slot in which the user did anything (or a ``name`` event)."""
    if name is None or name == PAGEVIEW:
        slots = tables.table("user_slots", start, end)
        return (slots if name is None else slots.filter(slots.pageviews > 0)).select("user_id", "slot")
    slots = tables.table("event_slots", start, end)
    return slots.filter(slots.event_name == name).select("user_id", "slot")


@dataclass(eq=False)
class Retention(Result):
    """Cohort sizes and retained users per period, in both modes, as long and matrix tables."""

    time_range: TimeRange
    period: str
    start_event: str | None
    return_event: str | None
    cohorts: pd.DataFrame
    matrix_on: pd.DataFrame
    matrix_on_or_after: pd.DataFrame


@dataclass(eq=False)
class Lifecycle(Result):
    """Counts of new, returning, resurrecting and dormant users per period."""

    time_range: TimeRange
    period: str
    event: str | None
    periods: pd.DataFrame


@dataclass(eq=False)
class RetentionAndLifecycle(Result):
    """Cohort retention and the lifecycle of the same range and period: the retention area."""

    retention: Retention
    lifecycle: Lifecycle

    def to_frames(self) -> dict[str, pd.DataFrame]:
        return {f"retention_{n}": f for n, f in self.retention.to_frames().items()} | {
            f"lifecycle_{n}": f for n, f in self.lifecycle.to_frames().items()
        }


def retention_and_lifecycle(source: Source, time_range: TimeRange, period: str = "day") -> RetentionAndLifecycle:
    """Retention (every user a start event, any activity a return) and lifecycle by ``period``."""
    return RetentionAndLifecycle(retention(source, time_range, period=period), lifecycle(source, time_range, period))


@kept
def retention(
    source: Source,
    time_range: TimeRange,
    start_event: str | None = None,
    return_event: str | None = None,
    period: str = "day",
) -> Retention:
    """Cohort retention over ``time_range`` by ``period`` (day or week)."""
    _check_period(period)
    start, end = time_range.start_naive_utc, time_range.end_naive_utc
    cal = buckets.calendar(time_range.start, time_range.end, time_range.tz, period)
    last = int(cal.buckets["bucket"].max())
    tables = tables_for(source, time_range.end)
    firsts = _firsts(tables, start_event, time_range.end)
    firsts = firsts.filter(firsts.first_ts >= start, firsts.first_ts < end)
    cohorts = cal.assign(firsts, "first_ts").select("user_id", cohort="bucket")

    returns = _active_slots(tables, return_event, time_range.start, time_range.end)
    active = cal.assign_slots(returns).select("user_id", "bucket").distinct()
    joined = active.join(cohorts, "user_id")
    joined = joined.filter(joined.bucket > joined.cohort).mutate(n=joined.bucket - joined.cohort)

    sizes = cohorts.group_by("cohort").aggregate(size=cohorts.count()).execute()
    with materialised(joined) as joined:
        on = joined.group_by(["cohort", "n"]).aggregate(on=joined.user_id.nunique()).execute()
        reach = joined.group_by(["cohort", "user_id"]).aggregate(max_n=joined.n.max())
        furthest = reach.group_by(["cohort", "max_n"]).aggregate(users=reach.count()).execute()

    rows = []
    for cohort, size in zip(sizes["cohort"].astype(int), sizes["size"].astype(int), strict=True):
        for n in range(0, last - cohort + 1):
            rows.append((cohort, size, n))
    long = pd.DataFrame(rows, columns=["cohort", "size", "period"])
    long = long.merge(on.rename(columns={"n": "period"}), on=["cohort", "period"], how="left")
    long["on"] = long["on"].fillna(0).astype("int64")
    after = {}
    for cohort, group in furthest.groupby("cohort"):
        counts = dict(zip(group["max_n"].astype(int), group["users"].astype(int), strict=True))
        top = max(counts)
        running = 0
        for n in range(top, 0, -1):
            running += counts.get(n, 0)
            after[(int(cohort), n)] = running
    long["on_or_after"] = [after.get((c, n), 0) for c, n in zip(long["cohort"], long["period"], strict=True)]
    period0 = long["period"] == 0
    long.loc[period0, "on"] = long.loc[period0, "size"]
    long.loc[period0, "on_or_after"] = long.loc[period0, "size"]
    size_f = long["size"].astype("float64")
    long["rate_on"] = 100.0 * long["on"] / size_f if len(long) else []
    long["rate_on_or_after"] = 100.0 * long["on_or_after"] / size_f if len(long) else []
    long = long.merge(
        cal.buckets.rename(columns={"bucket": "cohort", "start": "cohort_start"}), on="cohort", how="left"
    )
    long = long[["cohort", "cohort_start", "size", "period", "on", "on_or_after", "rate_on", "rate_on_or_after"]]
    long = long.sort_values(["cohort", "period"]).reset_index(drop=True)
    return Retention(
        time_range, period, start_event, return_event, long, _matrix(long, "rate_on"), _matrix(long, "rate_on_or_after")
    )


def _matrix(long: pd.DataFrame, value: str) -> pd.DataFrame:
    """Cohorts as rows, periods as columns ``period_0``, ``period_1``, ..."""
    if long.empty:
        return pd.DataFrame(columns=["cohort_start", "size"])
    wide = long.pivot(index=["cohort_start", "size"], columns="period", values=value)
    wide.columns = [f"period_{int(c)}" for c in wide.columns]
    return wide.reset_index()


@kept
def lifecycle(source: Source, time_range: TimeRange, period: str = "day", event: str | None = None) -> Lifecycle:
    """New / returning / resurrecting / dormant users per ``period`` of ``time_range``."""
    _check_period(period)
    end = time_range.end_naive_utc
    # Whole periods before the range (plus slack for DST) so the first period has a past.
    lead_in = 2 * buckets.period_length(period) + timedelta(hours=3)
    cal = buckets.calendar(time_range.start - lead_in, time_range.end, time_range.tz, period)
    first_slot = int(time_range.start.timestamp() // buckets.SLOT_SECONDS)
    b0 = int(cal.slots.loc[cal.slots["slot"] >= first_slot, "bucket"].min())
    cal_start = pd.Timestamp(time_range.start - lead_in).tz_convert("UTC").tz_localize(None).to_pydatetime()
    last = int(cal.buckets["bucket"].max())

    tables = tables_for(source, time_range.end)
    firsts = _firsts(tables, event, time_range.end)
    first_b = cal.assign(firsts.filter(firsts.first_ts >= cal_start, firsts.first_ts < end), "first_ts").select(
        "user_id", first_b="bucket"
    )
    recent = _active_slots(tables, event, time_range.start - lead_in, time_range.end)
    active = cal.assign_slots(recent).select("user_id", "bucket").distinct()
    active = active.filter(active.bucket >= b0 - 1)
    active = active.left_join(first_b, "user_id").drop("user_id_right")
    w = ibis.window(group_by=active.user_id, order_by=active.bucket)
    marked = active.mutate(prev_b=active.bucket.lag().over(w), next_b=active.bucket.lead().over(w))
    status = ibis.cases(
        (marked.first_b.notnull() & (marked.bucket == marked.first_b), "new"),
        (marked.prev_b.notnull() & (marked.prev_b == marked.bucket - 1), "returning"),
        else_="resurrecting",
    )
    with materialised(marked.mutate(status=status)) as marked:
        now = marked.filter(marked.bucket >= b0)
        counts = now.group_by(["bucket", "status"]).aggregate(users=now.count()).execute()
        gone = marked.filter(marked.next_b.isnull() | (marked.next_b > marked.bucket + 1))
        gone = gone.mutate(at=gone.bucket + 1)
        gone = gone.filter(gone.at >= b0, gone.at <= last)
        dormant = gone.group_by("at").aggregate(users=gone.count()).execute()

    frame = cal.buckets[cal.buckets["bucket"] >= b0].copy()
    wide = counts.pivot(index="bucket", columns="status", values="users") if len(counts) else pd.DataFrame()
    for name in ("new", "returning", "resurrecting"):
        series = wide[name] if name in wide else pd.Series(dtype="float64")
        frame[name] = frame["bucket"].map(series).fillna(0).astype("int64")
    frame["dormant"] = (
        frame["bucket"]
        .map(dormant.set_index("at")["users"] if len(dormant) else pd.Series(dtype="float64"))
        .fillna(0)
        .astype("int64")
    )
    frame["bucket"] = frame["bucket"] - b0
    return Lifecycle(time_range, period, event, frame.reset_index(drop=True))
