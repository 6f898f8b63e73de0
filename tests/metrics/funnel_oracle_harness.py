"""Runs the PostHog oracle on the same event rows and range as the library, for comparisons.

The library's range convention (attempts whose step 1 is in ``[start, end)``; the run
reads the person's events from ``start`` on) is applied around the oracle: it gets each
person's events at or after ``start`` and ``entry_end=end``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pandas as pd

from fawkes_analytics.catalog import Funnel
from fawkes_analytics.schema import EVENTS
from fawkes_analytics.timerange import TimeRange

from .posthog_funnel_oracle import NONE_VALUE, OracleEvent, OracleFunnel, OracleSummary, person_result, summarise

EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def us(moment: pd.Timestamp) -> int:
    return (pd.Timestamp(moment).tz_convert("UTC") - EPOCH) // pd.Timedelta(microseconds=1)


def oracle_funnel(funnel: Funnel) -> OracleFunnel:
    return OracleFunnel(
        steps=tuple(s.event for s in funnel.steps),
        order=funnel.order,
        window_us=int(round(funnel.window.total_seconds() * 1_000_000)),
        exclusions=tuple((x.event, x.from_step, x.to_step) for x in funnel.exclusions),
    )


def _value(row: dict, breakdown: str | None) -> str:
    if breakdown is None:
        return NONE_VALUE
    if breakdown in EVENTS.column_names:
        raw = row.get(breakdown)
    else:
        import json

        doc = row.get("properties")
        raw = json.loads(doc).get(breakdown) if isinstance(doc, str) else None
        if raw is not None and not isinstance(raw, str):
            raw = json.dumps(raw)
    if raw is None or (isinstance(raw, float) and raw != raw) or raw == "":
        return NONE_VALUE
    return str(raw)


def oracle_people(
    rows: Iterable[dict], funnel: Funnel, start: pd.Timestamp, end: pd.Timestamp, breakdown: str | None = None
) -> dict[str, object]:
    """Each person's oracle result for the period [start, end)."""
    f = oracle_funnel(funnel)
    names = set(f.steps) | {x[0] for x in f.exclusions}
    by_user: dict[str, list[OracleEvent]] = defaultdict(list)
    starters = set()
    for row in rows:
        at = us(row["timestamp"])
        if at < us(start):
            continue
        if row["event_name"] == f.steps[0]:
            starters.add(row["user_id"])
        if f.order == "strict" or row["event_name"] in names:
            by_user[row["user_id"]].append(OracleEvent(at, row["event_id"], row["event_name"], _value(row, breakdown)))
    results = {}
    for user, events in by_user.items():
        if f.order == "strict" and user not in starters:
            continue
        results[user] = person_result(f, events, entry_end=us(end))
    return results


def oracle_summary(
    rows: Iterable[dict], funnel: Funnel, time_range: TimeRange, breakdown: str | None = None
) -> tuple[OracleSummary, OracleSummary]:
    """(current, previous) summaries, as the library's report computes them."""
    rows = list(rows)
    f = oracle_funnel(funnel)
    previous = time_range.previous()
    current = oracle_people(rows, funnel, pd.Timestamp(time_range.start), pd.Timestamp(time_range.end), breakdown)
    before = oracle_people(rows, funnel, pd.Timestamp(previous.start), pd.Timestamp(previous.end), breakdown)
    return summarise(f, current.values()), summarise(f, before.values())
