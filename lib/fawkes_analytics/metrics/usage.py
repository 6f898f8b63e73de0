"""Usage trends with Plausible Analytics' definitions (shared/SEMANTICS.md, "Web usage").

Headline numbers of a range ``[start, end)`` (Plausible's top stats; lib/plausible/stats/):

- visitors: distinct users with any event in the range, custom and engagement events
  included (an engagement event with no open session counts nowhere); ``active_users`` is
  the same number under the name the feature-adoption report and Prometheus use;
- visits: distinct sessions with any event in the range (a session crossing a range
  boundary is a visit of both ranges);
- pageviews: pageview events in the range;
- bounce_rate, visit_duration, views_per_visit: over the sessions *active* in the range
  (``sessions.active``), each counted whole: 100 * bounces / sessions, mean duration
  (a bounce lasts 0 s), their pageviews / their number; 0 when there are none;
- total_users: distinct users whose first event came before the end of the range.

Every KPI is compared with the previous period of equal length: change in percent (old 0
and new > 0 gives +100, both 0 gives 0), except the bounce rate, whose change is in
percentage points.

The time series gives the same numbers per hour, day or week of the reporting time zone:
visitors, visits and pageviews from the events of each bucket; the session rates as
Plausible's time series computes them from its sessions table: by day or week, each active
session in the bucket of its last session event (``toDate(timestamp)``); by hour, in every
hour from its start to its last session event (``timeSlots``, lib/plausible/stats/sql/expression.ex).

Tables: top pages (visitors, pageviews and Plausible's legacy time on page: the seconds from
a pageview to the session's next pageview, summed per page and divided by the pageviews that
were followed by a *different* page, both pageviews in the range); entry pages and exit
pages (page of an active session's first / last pageview; sessions without pageviews have
neither), with the exit rate (exits / pageviews of the page, in percent); traffic sources;
UTM campaigns. Nothing is rounded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from ..catalog import Catalog
from ..kpi import LOWER_IS_BETTER, NO_CHANGE, POINTS, KpiSpec, percent_change, point_change
from ..results import Result, jsonable
from ..rollups.answers import kept
from ..rollups.derive import SLOT_SECONDS
from ..rollups.tables import Tables, tables_for
from ..sources.base import Capability, Source
from ..timerange import TimeRange
from . import buckets
from .kpis import Kpi, kpi_frame, ratio, scalar
from .sessions import ACTIVE_LOOKBACK, active

NONE_LABEL = "(none)"
DIRECT = "Direct / None"

# The headline numbers, with what a reader needs to see them (kpi.py). Total users is an
# all-time count: never compared with the previous period.
KPIS = (
    KpiSpec("total_users", "Total users", change_unit=NO_CHANGE, note="all time, up to the end of the range"),
    KpiSpec("visitors", "Visitors"),
    KpiSpec("visits", "Visits"),
    KpiSpec("pageviews", "Pageviews"),
    KpiSpec("views_per_visit", "Views per visit", format="number"),
    KpiSpec("bounce_rate", "Bounce rate", "%", "percent", LOWER_IS_BETTER, POINTS),
    KpiSpec("visit_duration", "Visit duration", "s", "duration"),
)
POINT_KPIS = tuple(k.name for k in KPIS if k.change_unit == POINTS)
COMPARED = ("active_users", *(k.name for k in KPIS))


# Columns of ``UsageTrends.timeseries``, whatever the source (events engine or Plausible).
TIMESERIES_COLUMNS = (
    "bucket",
    "start",
    "active_users",
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
)


@dataclass(eq=False)
class UsageTrends(Result):
    """Headline usage numbers, their previous-period values, a time series and breakdowns."""

    time_range: TimeRange
    granularity: str
    total_users: int
    active_users: int
    visitors: int
    visits: int
    pageviews: int
    views_per_visit: float
    bounce_rate: float
    visit_duration: float
    previous: dict[str, float]
    change: dict[str, float | None]
    timeseries: pd.DataFrame
    top_pages: pd.DataFrame
    entry_pages: pd.DataFrame
    exit_pages: pd.DataFrame
    sources: pd.DataFrame
    utm_campaigns: pd.DataFrame
    segment: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def kpis(self) -> list[Kpi]:
        """Every headline number in one shape (name, label, value, previous, change, units)."""
        return [spec.of(getattr(self, spec.name), self.previous[spec.name]) for spec in KPIS]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["kpis"] = [jsonable(k) for k in self.kpis]
        return out

    def to_frames(self) -> dict[str, pd.DataFrame]:
        return {"kpis": kpi_frame(self.kpis), **super().to_frames()}


def plausible_usage(client: Any, time_range: TimeRange, granularity: str | None = None, **options: Any) -> UsageTrends:
    """Usage trends from a ``PlausibleClient``'s answers (metrics/plausible_usage.py), values unchanged."""
    from .plausible_usage import plausible_usage_fields

    return _from_fields(plausible_usage_fields(client, time_range, granularity, point_kpis=POINT_KPIS, **options))


def _from_fields(fields: dict[str, Any]) -> UsageTrends:
    fields["timeseries"] = fields["timeseries"][list(TIMESERIES_COLUMNS)]
    return UsageTrends(**fields)


def _slot(moment: Any) -> int:
    return int(pd.Timestamp(moment).timestamp() // SLOT_SECONDS)


def _restricted(table: ir.Table, users: ir.Table | None) -> ir.Table:
    return table if users is None else table.semi_join(users, "user_id")


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Bounce rate, visit duration and views per visit from per-group session sums."""
    sessions = frame["sessions"].astype("float64")
    safe = sessions.where(sessions > 0)
    frame["bounce_rate"] = (100.0 * frame["bounces"] / safe).fillna(0.0)
    frame["visit_duration"] = (frame["duration_us"].astype("float64") / 1e6 / safe).fillna(0.0)
    frame["views_per_visit"] = (frame["session_pageviews"] / safe).fillna(0.0)
    return frame


def _session_sums(table: ir.Table, where: ir.BooleanValue | None = None, suffix: str = "") -> dict[str, ir.Value]:
    """Sessions, bounces, summed duration and pageviews (of the rows where ``where`` holds)."""
    return {
        "sessions" + suffix: table.count(where=where),
        "bounces" + suffix: table.is_bounce.cast("int64").sum(where=where),
        "duration_us" + suffix: table.duration_us.sum(where=where),
        "session_pageviews" + suffix: table.pageviews.sum(where=where),
    }


@kept
def usage_trends(
    source: Source,
    time_range: TimeRange,
    granularity: str | None = None,
    *,
    segment: str | None = None,
    catalog: Catalog | None = None,
    top: int = 10,
) -> UsageTrends:
    """Compute usage KPIs for ``time_range`` against its previous period.

    ``segment`` restricts everything to the users of one engagement segment (needs
    ``catalog``, see ``segments.users_in_segment``); ``top`` bounds the breakdown tables.
    """
    if source.offers(Capability.AGGREGATE_ONLY):  # Plausible: numbers from its API, no events
        from .plausible_usage import aggregate_usage_fields

        fields = aggregate_usage_fields(
            source, time_range, granularity, segment=segment, top=top, point_kpis=POINT_KPIS
        )
        return _from_fields(fields)
    granularity = buckets.check_granularity(granularity or time_range.default_granularity())
    users = None
    if segment is not None:
        from .segments import users_in_segment

        users = users_in_segment(source, catalog, time_range, segment)
    prev = time_range.previous()
    tables = tables_for(source, time_range.end, catalog)
    start, end, prev_start = time_range.start_naive_utc, time_range.end_naive_utc, prev.start_naive_utc
    first, last, prev_first = _slot(start), _slot(end), _slot(prev_start)

    # Visitors, visits and pageviews of both periods from the user slots of both.
    slots = _restricted(tables.table("user_slots", prev.start, time_range.end), users)
    slots = slots.filter(slots.slot >= prev_first, slots.slot < last)
    now = slots.slot >= first
    head = slots.aggregate(
        visitors=slots.user_id.nunique(where=now),
        visitors_prev=slots.user_id.nunique(where=~now),
        visits=slots.session_id.nunique(where=now),
        visits_prev=slots.session_id.nunique(where=~now),
        pageviews=slots.pageviews.sum(where=now),
        pageviews_prev=slots.pageviews.sum(where=~now),
    ).execute()
    people = _restricted(tables.table("users", None, time_range.end), users)
    total = people.aggregate(
        total_users=(people.first_ts < end).cast("int64").sum(),
        total_users_prev=(people.first_ts < start).cast("int64").sum(),
    ).execute()

    # Session rates of both periods: the sessions active in each (a session may be in both).
    sessions = _restricted(tables.table("sessions", prev.start - ACTIVE_LOOKBACK, time_range.end), users)
    cur_active, prev_active = active(sessions, time_range), active(sessions, prev)
    either = sessions.filter(cur_active | prev_active)
    rates = either.aggregate(
        **_session_sums(either, active(either, time_range)), **_session_sums(either, active(either, prev), "_prev")
    ).execute()

    values: dict[str, dict[str, float]] = {"": {}, "_prev": {}}
    for suffix, out in values.items():
        for name in ("visitors", "visits", "pageviews"):
            out[name] = int(scalar(head, name + suffix))
        out["total_users"] = int(scalar(total, "total_users" + suffix))
        out["active_users"] = out["visitors"]
        n = int(scalar(rates, "sessions" + suffix))
        out["views_per_visit"] = ratio(float(scalar(rates, "session_pageviews" + suffix)), n)
        out["bounce_rate"] = ratio(float(scalar(rates, "bounces" + suffix)), n, 100.0)
        out["visit_duration"] = ratio(float(scalar(rates, "duration_us" + suffix)), n) / 1e6
    current, previous = values[""], values["_prev"]
    change = {n: (point_change if n in POINT_KPIS else percent_change)(current[n], previous[n]) for n in COMPARED}

    # The tables: each reads the current range's active sessions or its pages. They are not
    # materialised: each query reads only its few columns of the stored Parquet files, which
    # costs less than copying every column of every session once (10M events: -15% CPU).
    in_range = sessions.filter(cur_active)
    pages = _page_stats(tables, users, first, last, time_range)
    return UsageTrends(
        time_range=time_range,
        granularity=granularity,
        **current,
        previous=previous,
        change=change,
        timeseries=_timeseries(slots.filter(now), in_range, time_range, granularity),
        top_pages=_top_pages(tables, pages, users, first, last, time_range, top),
        entry_pages=_session_breakdown(
            in_range.filter(in_range.entry_page.notnull()), in_range.entry_page, "page", top
        ),
        exit_pages=_exit_pages(in_range, pages, top),
        sources=_session_breakdown(in_range, _traffic_source(in_range), "source", top),
        utm_campaigns=_session_breakdown(
            in_range.filter(in_range.utm_campaign.notnull()), in_range.utm_campaign, "utm_campaign", top
        ),
        segment=segment,
    )


def usage_timeseries(
    source: Source, time_range: TimeRange, granularity: str = "day", *, catalog: Catalog | None = None
) -> pd.DataFrame:
    """Only the time series of ``usage_trends`` (the same numbers, ``TIMESERIES_COLUMNS``).

    For long daily series (unusual-change checks over months) without the headline numbers,
    the previous period and the breakdown tables, which cost three times as much.
    """
    own = getattr(source, "usage_trends", None)
    if callable(own):  # aggregate-only sources (Plausible) answer with their own API
        return own(time_range, granularity, catalog=catalog).timeseries
    granularity = buckets.check_granularity(granularity)
    tables = tables_for(source, time_range.end, catalog)
    first, last = _slot(time_range.start_naive_utc), _slot(time_range.end_naive_utc)
    slots = tables.table("user_slots", time_range.start, time_range.end)
    slots = slots.filter(slots.slot >= first, slots.slot < last)
    sessions = tables.table("sessions", time_range.start - ACTIVE_LOOKBACK, time_range.end)
    return _timeseries(slots, sessions.filter(active(sessions, time_range)), time_range, granularity)


def _traffic_source(table: ir.Table) -> ir.StringValue:
    """The session's source: the source column, else utm_source, else referrer, else direct."""
    return ibis.coalesce(table.source, table.utm_source, table.referrer, ibis.literal(DIRECT))


def _session_breakdown(table: ir.Table, key: ir.Value, name: str, top: int) -> pd.DataFrame:
    """Visitors, visits, bounce rate and visit duration of sessions grouped by ``key``."""
    keyed = table.mutate(**{name: key})
    grouped = keyed.group_by(name).aggregate(visitors=keyed.user_id.nunique(), **_session_sums(keyed))
    frame = grouped.order_by([ibis.desc("visitors"), ibis.desc("sessions"), name]).limit(top).execute()
    frame = _rates(frame).rename(columns={"sessions": "visits"})
    frame["visits"] = frame["visits"].astype("int64")
    return frame[[name, "visitors", "visits", "bounce_rate", "visit_duration"]].reset_index(drop=True)


def _page_stats(tables: Tables, users: ir.Table | None, first: int, last: int, time_range: TimeRange) -> ir.Table:
    """Per page of the range: visitors and pageviews."""
    pages = _restricted(tables.table("page_slots", time_range.start, time_range.end), users)
    pages = pages.filter(pages.slot >= first, pages.slot < last)
    return pages.group_by("page").aggregate(visitors=pages.user_id.nunique(), pageviews=pages.pageviews.sum())


def _top_pages(
    tables: Tables, pages: ir.Table, users: ir.Table | None, first: int, last: int, time_range: TimeRange, top: int
) -> pd.DataFrame:
    frame = pages.order_by([ibis.desc("visitors"), ibis.desc("pageviews"), "page"]).limit(top).execute()
    frame = frame.reset_index(drop=True)
    if users is not None:  # transitions are per page, not per user: no time on page for one segment
        frame["time_on_page"] = float("nan")
        return frame[["page", "visitors", "pageviews", "time_on_page"]]
    moves = tables.table("page_transitions", time_range.start, time_range.end)
    moves = moves.filter(moves.slot >= first, moves.next_slot < last, moves.page.isin(frame["page"].tolist()))
    timed = moves.group_by("page").aggregate(us=moves.us.sum(), leaves=moves.leaves.sum()).execute()
    frame = frame.merge(timed, on="page", how="left")
    leaves = frame["leaves"].astype("float64")
    frame["time_on_page"] = frame["us"].astype("float64") / 1e6 / leaves.where(leaves > 0)
    return frame[["page", "visitors", "pageviews", "time_on_page"]]


def _exit_pages(in_range: ir.Table, pages: ir.Table, top: int) -> pd.DataFrame:
    exits = in_range.filter(in_range.exit_page.notnull())
    grouped = exits.group_by(page=exits.exit_page).aggregate(visitors=exits.user_id.nunique(), visits=exits.count())
    grouped = grouped.order_by([ibis.desc("visitors"), ibis.desc("visits"), "page"]).limit(top)
    views = pages.select(v_page=pages.page, pageviews=pages.pageviews)
    joined = grouped.left_join(views, grouped.page == views.v_page)
    frame = joined.execute().sort_values(["visitors", "visits", "page"], ascending=[False, False, True])
    pageviews = frame["pageviews"].astype("float64")
    frame["exit_rate"] = (100.0 * frame["visits"] / pageviews.where(pageviews > 0)).astype("float64")
    return frame[["page", "visitors", "visits", "exit_rate"]].reset_index(drop=True)


def _timeseries(slots: ir.Table, live: ir.Table, time_range: TimeRange, granularity: str) -> pd.DataFrame:
    """Visitors, visits and pageviews per bucket from ``slots``; session rates from ``live``."""
    cal = buckets.calendar(time_range.start, time_range.end, time_range.tz, granularity)
    assigned = cal.assign_slots(slots)
    per_bucket = (
        assigned.group_by("bucket")
        .aggregate(
            visitors=assigned.user_id.nunique(),
            visits=assigned.session_id.nunique(),
            pageviews=assigned.pageviews.sum(),
        )
        .execute()
    )
    if granularity == "hour":
        spans = cal.table()
        joined = live.join(spans, (spans.slot >= live.start_slot) & (spans.slot <= live.end_slot))
        placed = joined.select("session_id", "is_bounce", "duration_us", "pageviews", "bucket").distinct()
    else:
        placed = cal.assign_slots(live, "end_slot")
    rates = placed.group_by("bucket").aggregate(**_session_sums(placed)).execute()
    frame = cal.label(per_bucket.merge(rates, on="bucket", how="outer"))
    counts = ["visitors", "visits", "pageviews", "sessions", "bounces", "session_pageviews"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    frame["duration_us"] = frame["duration_us"].fillna(0).astype("int64")
    frame["active_users"] = frame["visitors"]
    frame = _rates(frame)
    return frame[list(TIMESERIES_COLUMNS)]
