"""Funnel attempts as Ibis expressions: which steps each attempt reached, and when.

This module is the engine-agnostic core of ``metrics.funnels``; it turns events into one row
per *attempt* with the attempt's step times, and leaves counting to the report module.
The rules are PostHog's (shared/SEMANTICS.md, "Funnels"), read as follows.

Ordering. A person's events are put in one total order: timestamp, then step order (an
event's rank is the lowest funnel step it can fill; events that fill no step rank after
all steps), then ``event_id``. Each (event, step) match gets a position
``seq * (N + 1) + (N - k)``: the same event offered to several steps (a funnel that repeats
an event) is offered to the higher step first, exactly like PostHog's per-event loop that
walks the steps in reverse, so one event advances an older attempt *and* starts a new one
but never fills two steps of the same attempt.

Ordered funnels (the default) follow PostHog's slot model. Every step-1 event starts an
attempt. An attempt that has reached step k-1 at position p reaches step k at the first
step-k match after p, provided that

- no other attempt reached step k-1 in between (a repeated step-1 event, or in general a
  newer attempt catching up, *restarts* the attempt in progress: the newer attempt takes
  over and its window and times are measured from its own step 1), and
- the match is inside the conversion window: ``t_k - t_1 <= window`` (inclusive).

An attempt that is overtaken keeps the steps it already reached (so an older attempt that
is further along is not lost when step 1 repeats), which is what "every step-1 event can
start an attempt" and "a repeated step-1 event restarts the attempt in progress" mean
together. Strict funnels add one condition: the step-k event must be the person's very
next event after the step-(k-1) event (any other event in between, including a repeated
funnel event, breaks the attempt). Each level is one window pass over the attempts and the
candidate step events, so the cost is N-1 sorts of the (small) set of funnel events. For
ordered funnels the position can be computed from the timestamp and the step alone
(``us * (N + 2) + rank`` in place of ``seq``) whenever no person has two events with the
same timestamp and rank, which saves numbering the events; the result is the same.

Unordered funnels: every event that fills any step anchors an attempt; the attempt holds
the steps whose events occur in ``[anchor, anchor + window]`` (a step repeated r times
needs r distinct events), and step k is reached at the k-th earliest of those times. So
"step k" means "k of the funnel's steps done, in any order".

Returned attempts carry ``t1..tN`` as microseconds since the read origin (null when not
reached), ``reached`` (the furthest step), ``attempt`` (a per-person order key) and the
breakdown value at the attempt's first step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from ..catalog import Funnel
from ..schema import EVENTS

NONE_LABEL = "(none)"
_NON_PROPERTY_COLUMNS = {"event_id", "timestamp", "user_id", "event_name", "properties"}
US = 1_000_000
_TEXT = dt.String(nullable=True)


@dataclass(frozen=True)
class Window:
    """The events a funnel reads: ``[origin, until)`` in naive UTC."""

    origin: datetime
    until: datetime


def _int_null() -> ir.IntegerScalar:
    return ibis.null().cast("int64")


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json_string(doc: str, path: str) -> str:  # pragma: no cover - a SQL builtin
    """DuckDB: the JSON value at ``path`` as text (strings unquoted)."""


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json_string(doc: str, path: str) -> str:  # pragma: no cover - a SQL builtin
    """Spark: the JSON value at ``path`` as text (strings unquoted)."""


def _backend_name(table: ir.Table) -> str:
    try:
        return table._find_backend().name  # noqa: SLF001 - Ibis offers no public accessor
    except Exception:  # an unbound table (e.g. in to_sql) has no backend
        return ""


def breakdown_value(events: ir.Table, breakdown: str | None) -> ir.StringValue:
    """The breakdown property of each event as text: an events column or a JSON key.

    ``breakdown`` names a column of the events table (``source``, ``utm_source``, ``page``,
    ...) or else a key of the JSON ``properties`` column. Missing values read as "(none)".
    """
    if breakdown is None:
        return ibis.literal(NONE_LABEL)
    if breakdown in EVENTS.column_names and breakdown not in _NON_PROPERTY_COLUMNS:
        value = events[breakdown].cast("string")
    else:
        path = ibis.literal("$." + breakdown)
        engine = _backend_name(events)
        if engine == "duckdb":
            value = _duckdb_json_string(events.properties, path)
        elif engine == "pyspark":
            value = _spark_json_string(events.properties, path)
        else:
            value = events.properties.cast("json")[breakdown].unwrap_as("string")
    return value.fill_null(NONE_LABEL)


def _read(events: ir.Table, window: Window, names: list[str]) -> ir.Table:
    """Events of the given names in the read window.

    The names are tested as membership of an array literal (DuckDB ``list_contains``, Spark
    ``array_contains``), which DuckDB evaluates several times faster than ``IN (...)`` (a chain
    of string comparisons) on the millions of rows of the window.
    """
    wanted = ibis.literal(sorted(set(names)), type="array<string>").contains(events.event_name)
    return events.filter(events.timestamp >= window.origin, events.timestamp < window.until, wanted)


def _with_us(events: ir.Table, window: Window) -> ir.Table:
    return events.mutate(us=events.timestamp.delta(ibis.literal(window.origin), unit="microsecond").cast("int64"))


def exclusion_events(events: ir.Table, funnel: Funnel, window: Window) -> ir.Table | None:
    """The exclusion events in the read window: ``(x_user, x_name, x_us)``."""
    names = sorted({x.event for x in funnel.exclusions})
    if not names:
        return None
    chosen = _with_us(_read(events, window, names), window)
    return chosen.select(x_user=chosen.user_id, x_name=chosen.event_name, x_us=chosen.us)


def _step_rank(events: ir.Table, funnel: Funnel) -> ir.IntegerValue:
    """The lowest step an event can fill (N + 1 for events that fill none)."""
    n = len(funnel.steps)
    first: dict[str, int] = {}
    for k, step in enumerate(funnel.steps, start=1):
        first.setdefault(step.event, k)
    return ibis.cases(*((events.event_name == name, k) for name, k in first.items()), else_=n + 1)


def _sequenced(
    events: ir.Table, funnel: Funnel, window: Window, breakdown: str | None, entry_until: datetime
) -> ir.Table:
    """Events numbered per person in funnel order (``seq``), with ``us`` and the breakdown value.

    Strict funnels number *all* events of the people who have a step-1 event before
    ``entry_until`` (any event between two steps breaks an attempt); the other orders number
    the funnel's step events only.
    """
    names = sorted({s.event for s in funnel.steps})
    if funnel.order == "strict":
        inside = events.filter(events.timestamp >= window.origin, events.timestamp < window.until)
        starters = inside.filter(inside.event_name == funnel.steps[0].event, inside.timestamp < entry_until)
        starters = starters.select(s_user=starters.user_id).distinct()
        chosen = inside.semi_join(starters, inside.user_id == starters.s_user)
    else:
        chosen = _read(events, window, names)
    chosen = _with_us(chosen, window)
    chosen = chosen.select(
        "user_id",
        "event_name",
        "event_id",
        "us",
        rank=_step_rank(chosen, funnel),
        bd=breakdown_value(chosen, breakdown),
    )
    order = ibis.window(group_by=chosen.user_id, order_by=[chosen.us, chosen.rank, chosen.event_id])
    chosen = chosen.mutate(seq=ibis.row_number().over(order).cast("int64"))
    return chosen.select("user_id", "event_name", "us", "seq", "bd")


def _timed(events: ir.Table, funnel: Funnel, window: Window, breakdown: str | None) -> ir.Table | None:
    """The funnel's step events with ``seq`` taken from the time instead of a numbering.

    ``seq = us * (N + 2) + rank`` orders a person's events exactly like ``_sequenced``
    (timestamp, then step order) as long as no person has two events with the same
    timestamp and rank, where only ``event_id`` would tell them apart; the caller checks
    that (``_has_ties``) and otherwise numbers the events. It saves the per-person sort
    of every step event. ``None`` when the positions could overflow 64 bits (a read window
    of thousands of years) or for strict funnels, which need consecutive numbers.
    """
    n = len(funnel.steps)
    span_us = int((window.until - window.origin).total_seconds() * US) + 1
    largest_pos = (span_us * (n + 2) + n + 1) * (n + 1) + n  # see _matches: pos = seq * (N + 1) + (N - k)
    if funnel.order == "strict" or largest_pos >= 2**62:
        return None
    chosen = _with_us(_read(events, window, sorted({s.event for s in funnel.steps})), window)
    chosen = chosen.select(
        "user_id", "event_name", "us", rank=_step_rank(chosen, funnel), bd=breakdown_value(chosen, breakdown)
    )
    return chosen.select("user_id", "event_name", "us", "bd", seq=chosen.us * (n + 2) + chosen.rank)


def _has_ties(matches: ir.Table) -> bool:
    """Whether two step matches of a person share a position (same time, step and rank)."""
    groups = matches.group_by(["user_id", "pos"]).aggregate(rows=matches.count())
    return bool(groups.filter(groups.rows > 1).count().execute() > 0)


def _matches(numbered: ir.Table, funnel: Funnel, with_breakdown: bool) -> ir.Table:
    """One row per (event, step it can fill), with its position ``pos``.

    Only step-1 rows keep the breakdown value ``bd`` (it is read from the attempt's first
    step), and without a breakdown there is no ``bd`` column: the matches are materialised,
    and text columns are what makes that expensive.

    An event whose name appears at several steps (a funnel that repeats an event) yields one
    row per such step, via an array of step numbers that is unnested.
    """
    n = len(funnel.steps)
    steps_of: dict[str, list[int]] = {}
    for k, step in enumerate(funnel.steps, start=1):
        steps_of.setdefault(step.event, []).append(k)
    if all(len(ks) == 1 for ks in steps_of.values()):
        rows = numbered.mutate(k=ibis.cases(*((numbered.event_name == e, ks[0]) for e, ks in steps_of.items())))
    else:
        options = ibis.cases(
            *((numbered.event_name == e, ibis.literal(ks, type="array<int64>")) for e, ks in steps_of.items())
        )
        rows = numbered.mutate(k=options).unnest("k")
    if funnel.order == "strict":  # only strict funnels read events that fill no step
        rows = rows.filter(rows.k.notnull())
    rows = rows.select("user_id", "us", "bd", k=rows.k.cast("int64"), pos=rows.seq * (n + 1) + (n - rows.k))
    if not with_breakdown:  # the value is the constant "(none)": not worth storing per row
        return rows.drop("bd")
    return rows.mutate(bd=ibis.ifelse(rows.k == 1, rows.bd, ibis.null().cast("string")))  # read on step 1 only


def _keep(table: ir.Table) -> ir.Table:
    """The default ``hold``: no materialisation (fine for small data and for ``to_sql``)."""
    return table


def ordered_attempts(
    events: ir.Table,
    funnel: Funnel,
    window: Window,
    breakdown: str | None,
    entry_until: datetime,
    hold: Callable[[ir.Table], ir.Table] = _keep,
) -> ir.Table:
    """Attempts of an ordered or strict funnel (see the module docstring for the rules).

    Level k pairs each attempt that reached step k-1 with the first step-k match after it:
    one window pass over (those attempts + the step-k matches), ordered by position, gives
    every match the latest attempt before it (a running maximum); each attempt then takes
    the first of its own matches (a hash aggregation), so a newer attempt in between wins.
    ``hold`` materialises the matches and each level's winners (``Table.cache``) so that
    every level is computed once; the levels are joined back on the attempt at the end.

    When ``hold`` materialises, positions come from the time (``_timed``: no per-person
    numbering of the step events, the most expensive sort) unless some person has two
    step events with the same timestamp and step, which need the ``event_id`` order
    (``_sequenced``); both give the same order, so the same attempts.
    """
    n = len(funnel.steps)
    window_us = int(round(funnel.window.total_seconds() * US))
    split = breakdown is not None
    timed = _timed(events, funnel, window, breakdown) if hold is not _keep else None
    matches = hold(_matches(timed, funnel, split)) if timed is not None else None
    if matches is None or _has_ties(matches):
        matches = hold(_matches(_sequenced(events, funnel, window, breakdown, entry_until), funnel, split))
    starts = matches.filter(matches.k == 1)
    bd = starts.bd if split else ibis.literal(NONE_LABEL)
    starts = starts.select("user_id", bd=bd, attempt=starts.pos, t1=starts.us)
    alive = starts.select("user_id", "attempt", "t1", cur=starts.attempt)
    levels = []
    for k in range(2, n + 1):
        candidates = matches.filter(matches.k == k)
        # explicit casts: engines may report the cached integers narrower (Spark: int)
        candidates = candidates.select(
            user_id=candidates.user_id.cast(_TEXT),
            cur=candidates.pos.cast("int64"),
            us=candidates.us.cast("int64"),
            is_att=ibis.literal(False),
        )
        rows = alive.select(
            user_id=alive.user_id.cast(_TEXT), cur=alive.cur.cast("int64"), us=_int_null(), is_att=ibis.literal(True)
        )
        rows = rows.union(candidates)
        # Each candidate belongs to the latest attempt before it (``last``); an attempt takes
        # the first candidate of its own, i.e. the first step-k match after it with no newer
        # attempt in between. Positions are unique per person, so the order is total.
        upto = ibis.window(group_by=rows.user_id, order_by=rows.cur, rows=(None, 0))
        rows = rows.mutate(last=ibis.ifelse(rows.is_att, rows.cur, _int_null()).max().over(upto))
        rows = rows.filter(~rows.is_att & rows.last.notnull())
        taken = rows.group_by(t_user=rows.user_id, t_last=rows.last).aggregate(n_pos=rows.cur.min(), n_us=rows.us.min())
        pairs = alive.join(taken, [alive.user_id == taken.t_user, alive.cur.cast("int64") == taken.t_last])
        advance = pairs.n_us - pairs.t1.cast("int64") <= window_us
        if funnel.order == "strict":
            # the step-k event must be the person's very next event: seq is pos // (N + 1)
            advance = advance & (pairs.n_pos // (n + 1) == pairs.t_last // (n + 1) + 1)
        pairs = pairs.filter(advance)
        alive = hold(
            pairs.select(
                "user_id",
                attempt=pairs.attempt.cast("int64"),
                t1=pairs.t1.cast("int64"),
                cur=pairs.n_pos,
                **{f"t{k}": pairs.n_us},
            )
        )
        levels.append((k, alive))
    result = starts
    for k, level in levels:
        level = level.select(l_user=level.user_id, l_attempt=level.attempt, **{f"t{k}": level[f"t{k}"]})
        result = result.left_join(level, [result.user_id == level.l_user, result.attempt == level.l_attempt])
        result = result.drop("l_user", "l_attempt")
    reached = sum((result[f"t{k}"].notnull().cast("int64") for k in range(2, n + 1)), ibis.literal(1, "int64"))
    return result.select("user_id", "attempt", "bd", *(f"t{k}" for k in range(1, n + 1)), reached=reached)


def unordered_attempts(
    events: ir.Table, funnel: Funnel, window: Window, breakdown: str | None, entry_until: datetime
) -> ir.Table:
    """Attempts of an unordered funnel: one per step event, steps done within its window."""
    n = len(funnel.steps)
    window_us = int(round(funnel.window.total_seconds() * US))
    rows = _sequenced(events, funnel, window, breakdown, entry_until)
    need: dict[str, int] = {}
    for step in funnel.steps:
        need[step.event] = need.get(step.event, 0) + 1
    same_name = ibis.window(group_by=[rows.user_id, rows.event_name], order_by=rows.seq)
    rows = rows.mutate(**{f"o{i}": rows.us.lead(i).over(same_name) for i in range(max(need.values()))})
    ahead = ibis.window(group_by=rows.user_id, order_by=rows.seq, rows=(0, None))
    slots = [(name, i) for name, count in need.items() for i in range(count)]
    nexts = {
        f"s{j}": ibis.ifelse(rows.event_name == name, rows[f"o{i}"], _int_null()).min().over(ahead)
        for j, (name, i) in enumerate(slots)
    }
    rows = rows.mutate(**nexts)
    rows = rows.mutate(
        **{
            f"s{j}": ibis.ifelse(rows[f"s{j}"] - rows.us <= window_us, rows[f"s{j}"], _int_null())
            for j in range(len(slots))
        }
    )
    filled = [rows[f"s{j}"].notnull() for j in range(len(slots))]
    ranks = []
    for j in range(len(slots)):
        earlier = [
            (filled[o] & ((rows[f"s{o}"] < rows[f"s{j}"]) | ((rows[f"s{o}"] == rows[f"s{j}"]) & (o < j)))).cast("int64")
            for o in range(len(slots))
            if o != j
        ]
        ranks.append(sum(earlier, ibis.literal(1)))
    times = {
        f"t{k}": ibis.cases(
            *((filled[j] & (ranks[j] == k), rows[f"s{j}"]) for j in range(len(slots))), else_=_int_null()
        )
        for k in range(1, n + 1)
    }
    reached = sum((f.cast("int64") for f in filled), ibis.literal(0))
    rows = rows.mutate(attempt=rows.seq, reached=reached, **times)
    return rows.select("user_id", "attempt", "reached", "bd", *(f"t{k}" for k in range(1, n + 1)))


def attempts(
    events: ir.Table,
    funnel: Funnel,
    window: Window,
    breakdown: str | None,
    entry_until: datetime,
    hold: Callable[[ir.Table], ir.Table] = _keep,
) -> ir.Table:
    """All attempts of ``funnel`` over the events in ``window``, before exclusions.

    ``hold(table)`` may materialise intermediate tables (the caller releases them).
    """
    if funnel.order == "unordered":
        return unordered_attempts(events, funnel, window, breakdown, entry_until)
    return ordered_attempts(events, funnel, window, breakdown, entry_until, hold)


def drop_excluded(attempts_: ir.Table, exclusions: ir.Table | None, funnel: Funnel) -> ir.Table:
    """Remove every attempt with an exclusion event strictly between its steps, in the window.

    For an exclusion of event E from step i to step j: an attempt that reached step i is
    void when E happens strictly after its step-i time and either strictly before its step-j
    time (when it reached j) or, when it never reached j, within the window of its step 1.
    ``attempts_`` is read once per exclusion plus once: pass a cached table on engines that
    do not materialise a subquery used twice (DuckDB does, for its common table expressions).
    """
    if exclusions is None:
        return attempts_
    window_us = int(round(funnel.window.total_seconds() * US))
    hits = []
    for ex in funnel.exclusions:
        x = exclusions.filter(exclusions.x_name == ex.event)
        a = attempts_.filter(attempts_[f"t{ex.from_step}"].notnull())
        a = a.select("user_id", "attempt", "t1", t_i=a[f"t{ex.from_step}"], t_j=a[f"t{ex.to_step}"])
        pairs = a.join(x, a.user_id == x.x_user)
        pairs = pairs.filter(
            pairs.x_us > pairs.t_i,
            ibis.ifelse(pairs.t_j.notnull(), pairs.x_us < pairs.t_j, pairs.x_us - pairs.t1 <= window_us),
        )
        hits.append(pairs.select(h_user=pairs.user_id, h_attempt=pairs.attempt))
    void = ibis.union(*hits, distinct=True) if len(hits) > 1 else hits[0].distinct()
    return attempts_.anti_join(void, [attempts_.user_id == void.h_user, attempts_.attempt == void.h_attempt])
