"""The derived tables every metric reads, defined once as Ibis expressions over events.

The rollup store materialises these tables incrementally; without a store the same
expressions run over the raw events in the reader's process. Either way the metric code
reads the same tables, so the numbers are the same by construction.

Sessions follow Plausible (shared/SEMANTICS.md, "Web usage"; Plausible's
lib/plausible/session/cache_store.ex):

- A user's events in time order (equal times: ``event_id`` order) form a *chain* while each
  event comes at most 30 minutes after the previous one (exactly 30 minutes still joins).
- Engagement events (``engagement`` by default, configurable in analytics.yaml) keep a
  session open but change nothing else. An engagement event with no open session is dropped.
  So a session is a chain from its first non-engagement event on; leading engagement events
  of a chain, and chains of engagement events only, count nowhere. (Dropped events never end
  or bridge anything: they can only precede a chain's first session event, so splitting
  chains on every event's gap is the same as Plausible's event-by-event rule.)
- ``start``: the first session event; ``last_event``: the last session event (engagement
  excluded); ``last_activity``: the last event of any kind; ``duration_us = last_event -
  start`` in microseconds (integers, so that sums are exact on every path).
- ``pageviews`` and ``events`` count session events; ``is_bounce``: exactly one pageview
  and no other session event.
- Entry page: the page of the first pageview; exit page: that of the last pageview; a
  session without pageviews has neither. Referrer, source and UTM fields come from the
  session's first session event.

Everything is computed at the grain of a user's 15-minute UTC *slot* first (one row per
user and slot, a hash aggregation), and chains are found over those rows: events in one
slot are less than 15 minutes apart, so a slot never holds two chains. That keeps the one
sort of the derivation on rows several times fewer than the events. Slot tables are exact
for every range whose bounds are whole quarter hours, which every ``TimeRange`` is, in every
time zone (all UTC offsets are multiples of 15 minutes).

Tables (timestamps naive UTC, ``slot`` = epoch seconds // 900):

- ``sessions``: one row per session (fields above plus ``session_id``, ``start_slot``,
  ``end_slot`` = slot of ``last_event``).
- ``user_slots``: ``user_id, slot, session_id, events, pageviews`` for every slot with a
  kept event (engagement included): who was active when, in which session.
- ``event_slots``: ``user_id, slot, event_name, n, first_ts`` for custom events (neither
  pageviews nor engagement events).
- ``page_slots``: ``user_id, slot, page, pageviews``.
- ``page_transitions``: ``page, slot, next_slot, us, leaves, transitions``: each pageview
  followed by another pageview of the same session adds the microseconds to the next one;
  ``leaves`` counts those whose next page differs (Plausible's legacy time on page).
- ``first_seen``: ``user_id, event_name, first_ts``: each user's first pageview and first
  custom event of each name; ``users``: ``user_id, first_ts`` (first kept event).
- ``feedback_slots``: ``slot, kind, category, score, responses``.

``derive(events, feedback, since, until)`` derives everything from the events in
``[since, until)``. It is exact for that span when no session is open at ``since`` (nothing
of the user within 30 minutes before it), which is how the store chooses its cut points.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

PAGEVIEW = "pageview"
ENGAGEMENT = "engagement"
SESSION_GAP = ibis.interval(minutes=30)
SLOT_SECONDS = 900
NONE_PAGE = "(none)"
FIRST_EVENT_FIELDS = ("referrer", "source", "utm_source", "utm_medium", "utm_campaign")

TABLES = (
    "sessions",
    "user_slots",
    "event_slots",
    "page_slots",
    "page_transitions",
    "first_seen",
    "users",
    "feedback_slots",
)


@dataclass(frozen=True)
class Derived:
    """The derived tables of one span of events (Ibis expressions; nothing executed yet)."""

    sessions: ir.Table
    user_slots: ir.Table
    event_slots: ir.Table
    page_slots: ir.Table
    page_transitions: ir.Table
    first_seen: ir.Table
    users: ir.Table
    feedback_slots: ir.Table
    duplicates: ir.Table  # ``day, duplicates, latest, rows`` per UTC day (not a stored table)

    def tables(self) -> dict[str, ir.Table]:
        return {name: getattr(self, name) for name in TABLES}


def slot_of(ts: ir.TimestampValue) -> ir.IntegerValue:
    """The UTC 15-minute slot of a naive-UTC timestamp (plain integer arithmetic)."""
    return (ts.epoch_seconds() // SLOT_SECONDS).cast("int64")


EPOCH = ibis.timestamp("1970-01-01 00:00:00")


def micros_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.IntegerValue:
    """``later - earlier`` in microseconds, exact and the same on every engine.

    Durations are kept as integers so that sums are exact whatever order an engine adds
    them in: the store and the raw path then agree to the last digit. (``epoch_seconds`` is
    no help here: DuckDB gives fractional seconds where Spark truncates.)
    """
    return later.delta(earlier, unit="microsecond").cast("int64")


def nullable(table: ir.Table) -> ir.Table:
    """``table`` with every column typed nullable.

    Ibis types an aggregate like ``min(..., where=...)`` of a NOT NULL column as NOT NULL too,
    although it is null when no row matches; materialising such a table would then fail.
    """
    return table.select(*(table[c].cast(table[c].type().copy(nullable=True)).name(c) for c in table.columns))


OPTIONAL_TEXT = ("page", *FIRST_EVENT_FIELDS)


def valid_events(events: ir.Table, since: datetime | None = None, until: datetime | None = None) -> ir.Table:
    """Events that can be counted: a user and a timestamp, inside ``[since, until)``.

    Optional columns a source does not have (``page``, ``referrer``, ...) read as null.
    """
    missing = {name: ibis.null().cast("string") for name in OPTIONAL_TEXT if name not in events.columns}
    if missing:
        events = events.mutate(**missing)
    conditions = [events.user_id.notnull(), events.timestamp.notnull()]
    if since is not None:
        conditions.append(events.timestamp >= since)
    if until is not None:
        conditions.append(events.timestamp < until)
    return events.filter(*conditions)


def _slot_rows(events: ir.Table, engagement: str) -> ir.Table:
    """One row per user and slot: times, counts and first/last pages and session fields."""
    is_pv = events.event_name == PAGEVIEW
    is_session = events.event_name != engagement
    key = ibis.struct({"t": events.timestamp, "i": events.event_id})  # time order, ties by event id
    fields = ibis.struct({name: events[name] for name in FIRST_EVENT_FIELDS})
    slots = events.group_by(["user_id", "slot"]).aggregate(
        rows=events.count(),
        ids=events.event_id.nunique(),  # a replayed event repeats its id, user and time
        first_any=events.timestamp.min(),
        last_any=events.timestamp.max(),
        first_session=events.timestamp.min(where=is_session),
        last_session=events.timestamp.max(where=is_session),
        events=is_session.cast("int64").sum(),
        pageviews=is_pv.cast("int64").sum(),
        first_pv=events.timestamp.min(where=is_pv),
        last_pv=events.timestamp.max(where=is_pv),
        entry_page=events.page.fill_null(NONE_PAGE).argmin(key, where=is_pv),
        exit_page=events.page.fill_null(NONE_PAGE).argmax(key, where=is_pv),
        fields=fields.argmin(key, where=is_session),  # the first session event's source fields
    )
    return nullable(slots)


def keep(table: ir.Table) -> ir.Table:
    """The default ``hold``: no materialisation (small data, or a single query)."""
    return table


def _sessions_and_slots(slots: ir.Table, hold: Callable[[ir.Table], ir.Table]) -> tuple[ir.Table, ir.Table, ir.Table]:
    """Chains over a user's slots, then sessions (chains from their first session event on).

    The two window passes that find chains run over a narrow projection of the slot rows;
    the wide rows join the result (sorting narrow rows is what keeps this cheap).
    """
    narrow = slots.select("user_id", "slot", "first_any", "last_any", "events")
    order = ibis.window(group_by=narrow.user_id, order_by=narrow.slot)
    narrow = narrow.mutate(prev_last=narrow.last_any.lag().over(order))
    narrow = narrow.mutate(chain_start=narrow.prev_last.isnull() | (narrow.first_any > narrow.prev_last + SESSION_GAP))
    narrow = narrow.mutate(chain=narrow.chain_start.cast("int64").cumsum().over(order))
    with_session = narrow.filter(narrow.events > 0)
    firsts = with_session.group_by(f_user=with_session.user_id, f_chain=with_session.chain).aggregate(
        first_session_slot=with_session.slot.min()
    )
    chains = narrow.join(firsts, [narrow.user_id == firsts.f_user, narrow.chain == firsts.f_chain])
    chains = chains.filter(chains.slot >= chains.first_session_slot)
    chains = hold(chains.select(c_user=chains.user_id, c_slot=chains.slot, chain=chains.chain))
    kept = slots.join(chains, [slots.user_id == chains.c_user, slots.slot == chains.c_slot])
    kept = kept.drop("c_user", "c_slot")

    first_key = kept.first_session
    sessions = kept.group_by(["user_id", "chain"]).aggregate(
        start=kept.first_session.min(),
        last_event=kept.last_session.max(),
        last_activity=kept.last_any.max(),
        pageviews=kept.pageviews.sum(),
        events=kept.events.sum(),
        entry_page=kept.entry_page.argmin(kept.first_pv, where=kept.first_pv.notnull()),
        exit_page=kept.exit_page.argmax(kept.last_pv, where=kept.last_pv.notnull()),
        fields=kept.fields.argmin(first_key, where=first_key.notnull()),
    )
    sessions = sessions.mutate(**{name: sessions.fields[name] for name in FIRST_EVENT_FIELDS}).drop("fields")
    sessions = nullable(sessions)
    session_id = sessions.user_id.concat("#", micros_between(sessions.start, EPOCH).cast("string"))
    sessions = hold(
        sessions.mutate(
            session_id=session_id,
            duration_us=micros_between(sessions.last_event, sessions.start),
            is_bounce=(sessions.pageviews == 1) & (sessions.events == 1),
            start_slot=slot_of(sessions.start),
            end_slot=slot_of(sessions.last_event),
        )
    )
    ids = sessions.select(s_user=sessions.user_id, s_chain=sessions.chain, session_id=sessions.session_id)
    user_slots = hold(
        kept.join(ids, [kept.user_id == ids.s_user, kept.chain == ids.s_chain]).select(
            "user_id", "slot", "session_id", "events", "pageviews"
        )
    )
    sessions = sessions.select(
        "user_id",
        "session_id",
        "start",
        "last_event",
        "last_activity",
        "duration_us",
        "pageviews",
        "events",
        "is_bounce",
        "entry_page",
        "exit_page",
        *FIRST_EVENT_FIELDS,
        "start_slot",
        "end_slot",
    )
    return sessions, user_slots, kept


def _page_tables(events: ir.Table, user_slots: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Pageviews per user, slot and page, and pageview-to-next-pageview times (time on page)."""
    pv = events.filter(events.event_name == PAGEVIEW).select(
        "user_id", "timestamp", "event_id", "slot", page=events.page.fill_null(NONE_PAGE)
    )
    page_slots = pv.group_by(["user_id", "slot", "page"]).aggregate(pageviews=pv.count())
    order = ibis.window(group_by=pv.user_id, order_by=[pv.timestamp, pv.event_id])
    pairs = pv.mutate(next_ts=pv.timestamp.lead().over(order), next_page=pv.page.lead().over(order))
    pairs = pairs.filter(pairs.next_ts.notnull())
    pairs = pairs.mutate(next_slot=slot_of(pairs.next_ts))
    # Two pageviews less than 30 minutes apart are in one session whatever lies between;
    # farther apart they are when other events bridged the gap: the same session id.
    near = pairs.filter(pairs.next_ts <= pairs.timestamp + SESSION_GAP)
    far = pairs.filter(pairs.next_ts > pairs.timestamp + SESSION_GAP)
    here = user_slots.select(h_user=user_slots.user_id, h_slot=user_slots.slot, h_session=user_slots.session_id)
    there = user_slots.select(t_user=user_slots.user_id, t_slot=user_slots.slot, t_session=user_slots.session_id)
    far = far.join(here, [far.user_id == here.h_user, far.slot == here.h_slot])
    far = far.join(there, [far.user_id == there.t_user, far.next_slot == there.t_slot])
    far = far.filter(far.h_session == far.t_session)
    columns = ["page", "slot", "next_slot", "timestamp", "next_ts", "next_page"]
    same = nullable(near.select(*columns)).union(nullable(far.select(*columns)))
    transitions = same.group_by(["page", "slot", "next_slot"]).aggregate(
        us=micros_between(same.next_ts, same.timestamp).sum(),
        leaves=(same.next_page != same.page).cast("int64").sum(),
        transitions=same.count(),
    )
    return page_slots, transitions


def derive(
    events: ir.Table,
    feedback: ir.Table,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    engagement: str = ENGAGEMENT,
    dedupe: bool = False,
    hold: Callable[[ir.Table], ir.Table] = keep,
) -> Derived:
    """Every derived table from the events (and feedback) in ``[since, until)``.

    ``dedupe`` keeps one row per ``event_id``. It costs a hash aggregation over every event,
    so callers derive without it first and look at ``duplicates`` (rows repeating an event
    id of the same user in the same quarter hour, found for free by the slot aggregation):
    only when there are any do they derive again with ``dedupe``. ``hold(table)`` may
    materialise the intermediate tables that several outputs read (the caller releases them).
    """
    ev = valid_events(events, since, until)
    if dedupe:
        ev = ev.distinct(on="event_id", keep="first")
    ev = ev.mutate(slot=slot_of(ev.timestamp))
    slots = hold(_slot_rows(ev, engagement))
    day = (slots.slot * SLOT_SECONDS).as_timestamp("s").date()
    duplicates = slots.group_by(day=day).aggregate(
        duplicates=(slots.rows - slots.ids).sum(), latest=slots.last_any.max(), rows=slots.rows.sum()
    )
    sessions, user_slots, kept = _sessions_and_slots(slots, hold)
    custom = ev.filter((ev.event_name != PAGEVIEW) & (ev.event_name != engagement))
    event_slots = hold(
        custom.group_by(["user_id", "slot", "event_name"]).aggregate(n=custom.count(), first_ts=custom.timestamp.min())
    )
    page_slots, transitions = _page_tables(ev, user_slots)

    firsts_custom = event_slots.group_by(["user_id", "event_name"]).aggregate(first_ts=event_slots.first_ts.min())
    firsts_pv = kept.filter(kept.first_pv.notnull())
    firsts_pv = firsts_pv.group_by("user_id").aggregate(first_ts=firsts_pv.first_pv.min())
    firsts_pv = firsts_pv.select("user_id", event_name=ibis.literal(PAGEVIEW), first_ts=firsts_pv.first_ts)
    first_seen = nullable(firsts_custom.select("user_id", "event_name", "first_ts")).union(nullable(firsts_pv))
    users = sessions.group_by("user_id").aggregate(first_ts=sessions.start.min())

    fb = feedback
    conditions = [fb.timestamp.notnull()]
    if since is not None:
        conditions.append(fb.timestamp >= since)
    if until is not None:
        conditions.append(fb.timestamp < until)
    fb = fb.filter(*conditions)
    fb = fb.mutate(slot=slot_of(fb.timestamp), kind=fb.kind.fill_null("nps"), category=fb.category)
    feedback_slots = fb.group_by(["slot", "kind", "category", "score"]).aggregate(responses=fb.count())
    return Derived(
        sessions=sessions,
        user_slots=user_slots,
        event_slots=event_slots.select("user_id", "slot", "event_name", "n", "first_ts"),
        page_slots=page_slots,
        page_transitions=transitions,
        first_seen=first_seen,
        users=users,
        feedback_slots=feedback_slots,
        duplicates=duplicates,
    )


# --- funnel attempts ------------------------------------------------------------------------
# The per-person attempt rows of an ordered or strict funnel (``metrics.funnel_paths``, part
# a): they depend only on the person's events, so the store keeps them like any derived table,
# one table per catalog funnel, keyed by a fingerprint of what the rows depend on. Unordered
# funnels have no such rows (their sliding window depends on the period start).
FUNNEL_ATTEMPTS = "funnel_attempts"
FUNNEL_ATTEMPTS_VERSION = 1  # bump when the attempt rows change meaning: stored funnels rebuild


def storable(funnel: Any) -> bool:
    """Whether the store can hold the funnel's attempts (ordered and strict funnels)."""
    return funnel.order in ("ordered", "strict")


def funnel_fingerprint(funnel: Any) -> str:
    """A digest of what a funnel's attempt rows depend on.

    The step events, the order, the window, the exclusions and the breakdown (PostHog's
    neighbour filter compares breakdown values), plus ``FUNNEL_ATTEMPTS_VERSION``; not the
    name, title or labels. A catalog funnel whose definition changes gets a new fingerprint,
    so the store builds its rows anew; a funnel defined in code with the same definition
    reads the same rows.
    """
    definition = {
        "version": FUNNEL_ATTEMPTS_VERSION,
        "steps": [step.event for step in funnel.steps],
        "order": funnel.order,
        "window_us": round(funnel.window.total_seconds() * 1_000_000),
        "exclusions": [[x.event, x.from_step, x.to_step] for x in funnel.exclusions],
        "breakdown": funnel.breakdown,
    }
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode("utf-8")).hexdigest()


def funnel_table(fingerprint: str) -> str:
    """The store's name for a funnel's attempts table (a folder under the version folder)."""
    return f"{FUNNEL_ATTEMPTS}/{fingerprint[:16]}"


def funnel_schema(steps: int) -> ibis.Schema:
    """The columns of a funnel's attempts table (``funnel_paths.attempts`` plus key and start)."""
    return ibis.schema(
        {
            "funnel": "string",
            "user_id": "string",
            "start": "timestamp",
            **{f"t{k}": "int64" for k in range(1, steps + 1)},
            "reached": "int64",
            "marked_at": "int64",
            "excl_next": "boolean",
            "next_void_at": "int64",
            "phantom_before": "int64",
        }
    )


@dataclass(frozen=True)
class StoredFunnel:
    """A funnel whose attempts the store keeps, with how to compute them.

    ``definition`` is the catalog ``Funnel``; ``attempts(events, since, until, hold)`` gives
    its attempt rows with step 1 in ``[since, until)`` (``metrics.funnels.funnel_attempts``
    with the funnel's own breakdown); ``materialise(table)`` computes an intermediate table
    once and returns it with its release. The metrics layer builds these
    (``metrics.funnels.stored_funnels``): the rollups never import the metrics.
    """

    definition: Any
    attempts: Callable[[ir.Table, datetime | None, datetime | None, Callable[[ir.Table], ir.Table]], ir.Table]
    materialise: Callable[[ir.Table], tuple[ir.Table, Callable[[], None]]]

    @property
    def fingerprint(self) -> str:
        return funnel_fingerprint(self.definition)


def funnel_attempts(
    funnel: StoredFunnel,
    events: ir.Table,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    hold: Callable[[ir.Table], ir.Table] = keep,
) -> ir.Table:
    """The attempt rows of ``funnel`` with step 1 in ``[since, until)``, as the store keeps them.

    The funnel's attempt rows (``metrics.funnel_paths.attempts``) plus ``funnel`` (the
    fingerprint) and ``start`` (step 1 as a naive-UTC timestamp; ``t1`` is the same time in
    microseconds). ``next_void_at`` is kept only within the attempt's window, the only place
    the result rule reads it, so a row is final once the window after its step 1 has passed
    (see ``incremental``: a refresh recomputes the attempts from ``cut - window`` on).
    """
    definition = funnel.definition
    window = round(definition.window.total_seconds() * 1_000_000)
    rows = funnel.attempts(events, since, until, hold)
    void = rows.next_void_at
    rows = rows.mutate(
        funnel=ibis.literal(funnel.fingerprint),
        start=EPOCH + rows.t1.as_interval("us"),
        next_void_at=ibis.ifelse(void - rows.t1 <= window, void, ibis.null()).cast("int64"),
    )
    return rows.select(*funnel_schema(len(definition.steps)).names)
