"""Sessions as Plausible Analytics builds them, and which sessions a time range counts.

How sessions are built (30-minute gap, engagement events, entry and exit pages, bounces) is
stated and implemented once, in ``rollups.derive``; every reader gets the same sessions
from the rollup store or from the raw events (``rollups.tables``).

Which sessions a range ``[start, end)`` counts, for bounce rate, visit duration, views per
visit and the entry/exit page, source and campaign tables (Plausible's
``filter_site_time_range`` for the sessions table, lib/plausible/stats/sql/where_builder.ex):
the sessions *active* in the range, i.e. that started before its end, whose last session
event is at or after its start, and that started at most 7 days before its start. Each
counts whole, with its pageviews and duration outside the range, so a session that crosses
a range boundary counts in both ranges. Visitors and visits, by contrast, come from the
events in the range (``usage``).
"""

from __future__ import annotations

from datetime import timedelta

import ibis.expr.types as ir

from ..rollups.derive import PAGEVIEW
from ..rollups.tables import forget, tables_for
from ..sources.base import Source
from ..timerange import TimeRange

ACTIVE_LOOKBACK = timedelta(days=7)  # Plausible reads sessions that started up to 7 days before the range

__all__ = ["ACTIVE_LOOKBACK", "PAGEVIEW", "active", "clear_cache", "sessions_in"]


def active(sessions: ir.Table, time_range: TimeRange) -> ir.BooleanValue:
    """Whether a session is active in ``time_range`` (see the module docstring)."""
    start, end = time_range.start_naive_utc, time_range.end_naive_utc
    return (sessions.start < end) & (sessions.last_event >= start) & (sessions.start >= start - ACTIVE_LOOKBACK)


def sessions_in(source: Source, time_range: TimeRange) -> ir.Table:
    """The sessions active in ``time_range``, one row each.

    Columns of ``rollups.derive``'s sessions, plus ``duration`` in seconds.
    """
    tables = tables_for(source, time_range.end)
    table = tables.table("sessions", time_range.start - ACTIVE_LOOKBACK, time_range.end)
    table = table.filter(active(table, time_range))
    return table.mutate(duration=table.duration_us.cast("float64") / 1e6)


def clear_cache(source: Source | None = None) -> None:
    """Forget the tables derived in this process (of one source, or of all)."""
    forget(source)
