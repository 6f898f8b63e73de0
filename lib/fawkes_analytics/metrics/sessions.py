"""Sessions as Plausible Analytics defines them, computed with window functions.

A user's events form one session while each event comes at most 30 minutes after the
previous one; a gap of more than 30 minutes starts a new session (exactly 30 minutes still
joins). Sessions are derived from event times only; a ``session_id`` column in the source is
ignored so that every source yields the same numbers.

Per session (Plausible's sessions table): ``user_id``, ``session_no`` (position of the
session's first event among the user's events: increasing, not consecutive),
``session_id`` (``user_id#session_no``), ``start`` and ``end`` (first and last event),
``duration`` in seconds (millisecond precision), ``pageviews``, ``events``, ``is_bounce``
(exactly one pageview and no other event: a pageview followed by a custom event is not a
bounce), and the entry page, referrer, traffic source and UTM fields of the session's first
event (Plausible takes the entry page from the first event of the session).

Range boundaries: sessions are never cut at a range boundary: a session that crosses the
start of a report range is found whole (see ``sessions(since=...)``), and one that runs past
the end keeps its later events. Like Plausible, a session belongs to the
period in which it *starts*: ``sessions_in`` keeps the sessions whose first event lies in
``[start, end)``, with all their events, even those after ``end``.

Materialisation: building sessions is the most expensive query of the usage report, so the
table is built only from the events a report needs (see ``sessions(since=...)``, exact) and
materialised once per data version (row count and newest timestamp of the events table)
with Ibis ``.cache()``, as is each user's first-seen time (``first_seen``) (a temp table on DuckDB, which works on a read-only connection;
a cached DataFrame on Spark) and reused by every later call on the same source.
"""

from __future__ import annotations

import threading
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from ..sources.base import Source
from ..timerange import TimeRange

PAGEVIEW = "pageview"
SESSION_GAP = ibis.interval(minutes=30)
FIRST_EVENT_FIELDS = ("page", "referrer", "source", "utm_source", "utm_medium", "utm_campaign")

LOOKBACK = timedelta(hours=1)  # must exceed the 30-minute session gap

# source -> data version -> (kind, parameter) -> materialised table
_cache: weakref.WeakKeyDictionary[Source, dict[Any, dict[tuple[str, Any], ir.Table]]] = weakref.WeakKeyDictionary()
_versions: weakref.WeakKeyDictionary[Source, tuple[float, tuple[int, str]]] = weakref.WeakKeyDictionary()
_lock = threading.RLock()
VERSION_TTL_SECONDS = 5.0  # how long a checked data version is trusted before it is queried again


def seconds_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """``later - earlier`` in seconds with millisecond precision, the same on every engine."""
    whole = (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64")
    return whole + (later.millisecond() - earlier.millisecond()).cast("float64") / 1000.0


def build_sessions(events: ir.Table) -> ir.Table:
    """The sessions of ``events`` (an Ibis expression; nothing is executed).

    One window pass per user, in time order (ties broken by event id), gives each event its
    previous and next time, its position and the running count of pageviews. A session
    starts after a gap of more than 30 minutes and ends before one; only these edge rows
    are kept, and each start is paired with its end (itself, or the next edge row). Counts
    follow from positions and running totals, so no second sort or group-by over all events
    is needed.
    """
    is_pageview = (events.event_name == PAGEVIEW).cast("int64")
    keys = {"group_by": events.user_id, "order_by": [events.timestamp, events.event_id]}
    window = ibis.window(**keys)
    rows = events.mutate(
        prev_ts=events.timestamp.lag().over(window),
        next_ts=events.timestamp.lead().over(window),
        rn=ibis.row_number().over(window),
        pv=is_pageview,
        cum_pv=is_pageview.sum().over(ibis.cumulative_window(**keys)),
    )
    rows = rows.mutate(
        is_start=rows.prev_ts.isnull() | (rows.timestamp > rows.prev_ts + SESSION_GAP),
        is_end=rows.next_ts.isnull() | (rows.next_ts > rows.timestamp + SESSION_GAP),
    )
    edges = rows.filter(rows.is_start | rows.is_end)
    following = ibis.window(group_by=edges.user_id, order_by=edges.rn)
    edges = edges.mutate(
        later_rn=edges.rn.lead().over(following),
        later_ts=edges.timestamp.lead().over(following),
        later_cum=edges.cum_pv.lead().over(following),
    )
    starts = edges.filter(edges.is_start)
    starts = starts.mutate(
        end_rn=ibis.ifelse(starts.is_end, starts.rn, starts.later_rn),
        end_ts=ibis.ifelse(starts.is_end, starts.timestamp, starts.later_ts),
        end_cum=ibis.ifelse(starts.is_end, starts.cum_pv, starts.later_cum),
    )
    pageviews = (starts.end_cum - starts.cum_pv + starts.pv).cast("int64")
    n_events = (starts.end_rn - starts.rn + 1).cast("int64")
    return starts.select(
        "user_id",
        session_no=starts.rn.cast("int64"),
        session_id=starts.user_id.concat("#", starts.rn.cast("string")),
        start=starts.timestamp,
        end=starts.end_ts,
        duration=seconds_between(starts.end_ts, starts.timestamp),
        pageviews=pageviews,
        events=n_events,
        is_bounce=(pageviews == 1) & (n_events == 1),
        entry_page=starts.page,
        referrer=starts.referrer,
        source=starts.source,
        utm_source=starts.utm_source,
        utm_medium=starts.utm_medium,
        utm_campaign=starts.utm_campaign,
    )


def data_version(source: Source) -> tuple[int, str]:
    """Row count and newest timestamp of the events table: changes whenever data is added."""
    events = source.events()
    frame = events.aggregate(n=events.count(), latest=events.timestamp.max()).execute()
    return int(frame["n"].iloc[0]), str(frame["latest"].iloc[0])


def _since_naive(since: datetime | None) -> datetime | None:
    if since is None or since.tzinfo is None:
        return since
    return since.astimezone(UTC).replace(tzinfo=None)


def sessions(source: Source, since: datetime | None = None, materialise: bool = True) -> ir.Table:
    """Sessions of ``source`` that start at or after ``since`` (all sessions when None).

    Only events from ``since - LOOKBACK`` on are read. That is exact, not an approximation:
    whether an event at or after ``since`` starts a session depends only on the user's
    previous event, which is either read or more than ``LOOKBACK`` (> 30 minutes) earlier,
    and so a session start either way; sessions starting before ``since`` are dropped. A
    materialised table for an earlier ``since`` of the same data version is reused.
    """
    since = _since_naive(since)
    if not materialise:
        return _compute(source, since)
    with _lock:
        entries = _entries(source)
        for (kind, entry_since), table in entries.items():
            if kind == "sessions" and (entry_since is None or (since is not None and entry_since <= since)):
                return table if since is None or entry_since == since else table.filter(table.start >= since)
        table = entries[("sessions", since)] = _compute(source, since).cache()
        return table


def first_seen(source: Source, event: str | None = None, materialise: bool = True) -> ir.Table:
    """Each user's first event (or first ``event``) ever: ``user_id``, ``first_ts``.

    Segments, lifecycle, retention and the usage total all need it; it reads the whole
    history, so it is materialised once per data version like the sessions.
    """
    events = source.events()
    if event is not None:
        events = events.filter(events.event_name == event)
    table = events.group_by("user_id").aggregate(first_ts=events.timestamp.min())
    if not materialise:
        return table
    with _lock:
        entries = _entries(source)
        key = ("first_seen", event)
        if key not in entries:
            entries[key] = table.cache()
        return entries[key]


def _current_version(source: Source) -> tuple[int, str]:
    """``data_version`` remembered for a few seconds: one report asks for it many times."""
    now = time.monotonic()
    checked = _versions.get(source)
    if checked is None or now - checked[0] > VERSION_TTL_SECONDS:
        checked = _versions[source] = (now, data_version(source))
    return checked[1]


def _entries(source: Source) -> dict[tuple[str, Any], ir.Table]:
    """The materialised tables of ``source`` for its current data version (caller holds the lock)."""
    version = _current_version(source)
    per_source = _cache.setdefault(source, {})
    if version not in per_source:  # tables of an older data version are stale
        per_source.clear()
        per_source[version] = {}
    return per_source[version]


def _compute(source: Source, since: datetime | None) -> ir.Table:
    events = source.events()
    if since is None:
        return build_sessions(events)
    table = build_sessions(events.filter(events.timestamp >= since - LOOKBACK))
    return table.filter(table.start >= since)


def sessions_in(source: Source, time_range: TimeRange, materialise: bool = True) -> ir.Table:
    """Sessions that start in ``[time_range.start, time_range.end)`` (Plausible attribution)."""
    table = sessions(source, time_range.start_naive_utc, materialise)
    return table.filter(table.start >= time_range.start_naive_utc, table.start < time_range.end_naive_utc)


def clear_cache(source: Source | None = None) -> None:
    """Forget materialised sessions and first-seen tables (of one source, or of all)."""
    with _lock:
        if source is None:
            _cache.clear()
            _versions.clear()
        else:
            _cache.pop(source, None)
            _versions.pop(source, None)
