"""Usage trends with Plausible Analytics semantics (SEMANTICS.md, "Web usage").

Definitions (reference: Plausible; see ``sessions`` for sessions and bounces):

- total_users: distinct users with any event before the end of the range (ever seen).
- active_users: distinct users with any event in the range.
- visitors: distinct users with at least one pageview in the range (the web audience; it
  equals Plausible's visitors when every session has a pageview, as with its script).
- visits: sessions that start in the range (Plausible attributes a session to its start).
- pageviews: pageview events in the range.
- views_per_visit: pageviews / visits (0 when there are no visits).
- bounce_rate: 100 * bounces / visits, in percent; its change is in percentage points.
- visit_duration: mean over visits of (last event - first event) in seconds, bounces
  counting 0; 0 when there are no visits.

Every KPI is compared with the previous period of equal length: change in percent, old 0
and new > 0 gives +100, both 0 gives 0. The time series is bucketed by hour, day or week
in the reporting time zone (DST-correct, see ``buckets``); distinct counts are computed per
bucket by the engine. Current and previous periods are computed in the same query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from ..catalog import Catalog
from ..results import Result, jsonable
from ..sources.base import Source
from ..timerange import TimeRange
from . import buckets
from .kpis import Kpi, kpi_frame, ratio, scalar
from .sessions import PAGEVIEW, first_seen, sessions

NONE_LABEL = "(none)"
DIRECT = "Direct / None"

_LABELS = {
    "total_users": ("Total users", ""),
    "active_users": ("Active users", ""),
    "visitors": ("Visitors", ""),
    "visits": ("Visits", ""),
    "pageviews": ("Pageviews", ""),
    "views_per_visit": ("Views per visit", ""),
    "bounce_rate": ("Bounce rate", "%"),
    "visit_duration": ("Visit duration", "s"),
}
POINT_KPIS = ("bounce_rate",)


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


@dataclass
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
    sources: pd.DataFrame
    utm_campaigns: pd.DataFrame
    segment: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def kpis(self) -> list[Kpi]:
        """Every headline number in one shape (name, label, value, previous, change, units)."""
        return [
            Kpi.compare(name, label, getattr(self, name), self.previous[name], name in POINT_KPIS, unit)
            for name, (label, unit) in _LABELS.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["kpis"] = [jsonable(k) for k in self.kpis]
        return out

    def to_frames(self) -> dict[str, pd.DataFrame]:
        return {"kpis": kpi_frame(self.kpis), **super().to_frames()}


def _filtered(table: ir.Table, users: ir.Table | None) -> ir.Table:
    return table if users is None else table.semi_join(users, "user_id")


def _session_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Bounce rate, visit duration and views per visit from per-group session sums."""
    visits = frame["visits"].astype("float64")
    safe = visits.where(visits > 0)
    frame["bounce_rate"] = (100.0 * frame["bounces"] / safe).fillna(0.0)
    frame["visit_duration"] = (frame["duration_sum"] / safe).fillna(0.0)
    return frame


def _session_breakdown(table: ir.Table, key: ir.Value, name: str, top: int) -> pd.DataFrame:
    """Visitors, visits, bounce rate and visit duration of sessions grouped by ``key``."""
    keyed = table.mutate(**{name: key})
    grouped = keyed.group_by(name).aggregate(
        visitors=keyed.user_id.nunique(),
        visits=keyed.count(),
        bounces=keyed.is_bounce.cast("int64").sum(),
        duration_sum=ibis.ifelse(keyed.is_bounce, 0.0, keyed.duration).sum(),
    )
    frame = grouped.order_by([ibis.desc("visitors"), ibis.desc("visits"), name]).limit(top).execute()
    frame = _session_rates(frame)
    return frame[[name, "visitors", "visits", "bounce_rate", "visit_duration"]].reset_index(drop=True)


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
    own = getattr(source, "usage_trends", None)
    if callable(own):  # aggregate-only sources (Plausible) answer with their own API
        return own(time_range, granularity, segment=segment, catalog=catalog, top=top)
    granularity = buckets.check_granularity(granularity or time_range.default_granularity())
    users = None
    if segment is not None:
        from .segments import users_in_segment

        users = users_in_segment(source, catalog, time_range, segment)
    prev = time_range.previous()
    start, end, prev_start = time_range.start_naive_utc, time_range.end_naive_utc, prev.start_naive_utc

    # Headline numbers: the running total from the materialised first-seen table; the rest
    # from one scan of both periods, reduced to one row per user first (cheaper than several
    # filtered distinct counts).
    firsts = _filtered(first_seen(source), users)
    total = firsts.aggregate(
        total_users=(firsts.first_ts < end).cast("int64").sum(),
        total_users_prev=(firsts.first_ts < start).cast("int64").sum(),
    ).execute()
    events = _filtered(source.events(), users)
    seen = events.filter(events.timestamp >= prev_start, events.timestamp < end)
    cur = seen.timestamp >= start
    old = ~cur
    pv = seen.event_name == PAGEVIEW
    per_user = seen.group_by("user_id").aggregate(
        active=cur.any(),
        active_prev=old.any(),
        visitor=(cur & pv).any(),
        visitor_prev=(old & pv).any(),
        views=(cur & pv).cast("int64").sum(),
        views_prev=(old & pv).cast("int64").sum(),
    )

    def count(flag: ir.BooleanColumn) -> ir.IntegerScalar:
        return flag.cast("int64").sum()

    head = per_user.aggregate(
        active_users=count(per_user.active),
        active_users_prev=count(per_user.active_prev),
        visitors=count(per_user.visitor),
        visitors_prev=count(per_user.visitor_prev),
        pageviews=per_user.views.sum(),
        pageviews_prev=per_user.views_prev.sum(),
    ).execute()
    head = pd.concat([head, total], axis=1)

    # Session numbers for both periods.
    all_sessions = _filtered(sessions(source, prev_start), users)
    both = all_sessions.filter(all_sessions.start >= prev_start, all_sessions.start < end)
    scur = both.start >= start
    duration = ibis.ifelse(both.is_bounce, 0.0, both.duration)
    sess = both.aggregate(
        visits=scur.cast("int64").sum(),
        visits_prev=(~scur).cast("int64").sum(),
        bounces=(scur & both.is_bounce).cast("int64").sum(),
        bounces_prev=(~scur & both.is_bounce).cast("int64").sum(),
        duration_sum=duration.sum(where=scur),
        duration_sum_prev=duration.sum(where=~scur),
    ).execute()

    values: dict[str, dict[str, float]] = {"": {}, "_prev": {}}
    for suffix, out in values.items():
        for name in ("total_users", "active_users", "visitors", "pageviews"):
            out[name] = int(scalar(head, name + suffix))
        visits = int(scalar(sess, "visits" + suffix))
        out["visits"] = visits
        out["views_per_visit"] = ratio(out["pageviews"], visits)
        out["bounce_rate"] = ratio(scalar(sess, "bounces" + suffix), visits, 100.0)
        out["visit_duration"] = ratio(float(scalar(sess, "duration_sum" + suffix)), visits)
    current, previous = values[""], values["_prev"]
    change = {k.name: k.change for k in (Kpi.compare(n, "", current[n], previous[n], n in POINT_KPIS) for n in _LABELS)}

    in_range = events.filter(events.timestamp >= start, events.timestamp < end)
    range_sessions = both.filter(scur)
    return UsageTrends(
        time_range=time_range,
        granularity=granularity,
        **current,
        previous=previous,
        change=change,
        timeseries=_timeseries(in_range, range_sessions, time_range, granularity),
        top_pages=_top_pages(in_range, top),
        entry_pages=_session_breakdown(range_sessions, range_sessions.entry_page.fill_null(NONE_LABEL), "page", top),
        sources=_session_breakdown(range_sessions, _traffic_source(range_sessions), "source", top),
        utm_campaigns=_session_breakdown(
            range_sessions.filter(range_sessions.utm_campaign.notnull()),
            range_sessions.utm_campaign,
            "utm_campaign",
            top,
        ),
        segment=segment,
    )


def _traffic_source(table: ir.Table) -> ir.StringValue:
    """The session's source: the source column, else utm_source, else referrer, else direct."""
    return ibis.coalesce(table.source, table.utm_source, table.referrer, ibis.literal(DIRECT))


def _top_pages(in_range: ir.Table, top: int) -> pd.DataFrame:
    views = in_range.filter(in_range.event_name == PAGEVIEW)
    views = views.mutate(page=views.page.fill_null(NONE_LABEL))
    grouped = views.group_by("page").aggregate(visitors=views.user_id.nunique(), pageviews=views.count())
    frame = grouped.order_by([ibis.desc("visitors"), ibis.desc("pageviews"), "page"]).limit(top).execute()
    return frame[["page", "visitors", "pageviews"]].reset_index(drop=True)


def _timeseries(in_range: ir.Table, range_sessions: ir.Table, time_range: TimeRange, granularity: str) -> pd.DataFrame:
    cal = buckets.calendar(time_range.start, time_range.end, time_range.tz, granularity)
    ev = cal.assign(in_range)
    per_user = ev.group_by(["bucket", "user_id"]).aggregate(views=(ev.event_name == PAGEVIEW).cast("int64").sum())
    per_event = (
        per_user.group_by("bucket")
        .aggregate(
            active_users=per_user.count(),
            visitors=(per_user.views > 0).cast("int64").sum(),
            pageviews=per_user.views.sum(),
        )
        .execute()
    )
    se = cal.assign(range_sessions, "start")
    per_session = (
        se.group_by("bucket")
        .aggregate(
            visits=se.count(),
            bounces=se.is_bounce.cast("int64").sum(),
            duration_sum=ibis.ifelse(se.is_bounce, 0.0, se.duration).sum(),
        )
        .execute()
    )
    frame = cal.label(per_event.merge(per_session, on="bucket", how="outer"))
    counts = ["active_users", "visitors", "pageviews", "visits", "bounces"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    frame["duration_sum"] = frame["duration_sum"].astype("float64").fillna(0.0)
    frame = _session_rates(frame)
    visits = frame["visits"].astype("float64")
    frame["views_per_visit"] = (frame["pageviews"] / visits.where(visits > 0)).fillna(0.0)
    return frame[list(TIMESERIES_COLUMNS)]
