"""The events a funnel reads, each with PostHog's step vector, as Ibis expressions.

PostHog's funnel query (posthog/hogql_queries/insights/funnels/funnel_udf.py) gives every
event an array of the steps it matches and the exclusions it is an instance of,
``[1*step_0, 2*step_1, .., N*step_{N-1}, -2*exclusion_1, .., -N*exclusion_{N-1}]`` without
zeros: ``k`` means "this event can fill step k" and ``-(j+1)`` means "this event voids an
attempt that has reached step j but not step j+1" (base.py sets ``exclusion_j`` for
``j in funnelFromStep + 1 .. funnelToStep``, 0-based, which is ``from_step .. to_step - 1``
in our 1-based numbering). Since a step and an exclusion are an event name each, the vector
depends on the event name only; this module numbers the distinct vectors (``sig``, 0 for
events that match nothing, which only strict funnels read) and turns each event into its
*offers*: one row per element of its vector (``kind`` = k for a step, -j for an exclusion
of step j).

Times are whole microseconds since the Unix epoch (``us``), UTC, so attempt tables built at
different times compare exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from ..catalog import Funnel
from ..schema import EVENTS

NONE_LABEL = "(none)"
US = 1_000_000
EPOCH = datetime(1970, 1, 1)
_NON_PROPERTY_COLUMNS = {"event_id", "timestamp", "user_id", "event_name", "properties"}
TEXT = dt.String(nullable=True)


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of a naive-UTC or aware datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def window_us(funnel: Funnel) -> int:
    """The conversion window in microseconds."""
    return int(round(funnel.window.total_seconds() * US))


def int_null() -> ir.IntegerScalar:
    return ibis.null().cast("int64")


@dataclass(frozen=True)
class StepVectors:
    """PostHog's step vector of every event name a funnel reads, numbered (``sig``)."""

    by_name: dict[str, tuple[int, ...]]
    sig_of: dict[str, int]
    kinds_of_sig: dict[int, tuple[int, ...]]

    @classmethod
    def of(cls, funnel: Funnel) -> StepVectors:
        n = len(funnel.steps)
        names = [s.event for s in funnel.steps] + [x.event for x in funnel.exclusions]
        by_name: dict[str, tuple[int, ...]] = {}
        for name in dict.fromkeys(names):
            steps = [k for k in range(1, n + 1) if funnel.steps[k - 1].event == name]
            levels = [
                j
                for j in range(1, n)
                if any(x.event == name and x.from_step <= j <= x.to_step - 1 for x in funnel.exclusions)
            ]
            by_name[name] = tuple(steps) + tuple(-j for j in levels)
        sig_ids: dict[tuple[int, ...], int] = {}
        for vector in by_name.values():
            sig_ids.setdefault(vector, len(sig_ids) + 1)
        return cls(
            by_name=by_name,
            sig_of={name: sig_ids[v] for name, v in by_name.items()},
            kinds_of_sig={sig: vector for vector, sig in sig_ids.items()},
        )

    @property
    def names(self) -> list[str]:
        return sorted(self.by_name)

    def sigs_where(self, test) -> list[int]:  # noqa: ANN001 - a predicate on a vector
        return sorted(sig for sig, kinds in self.kinds_of_sig.items() if test(kinds))

    @property
    def single_kind(self) -> bool:
        """Whether every event offers exactly one thing (no repeated step, no double role)."""
        return all(len(kinds) == 1 for kinds in self.kinds_of_sig.values())

    def sig(self, name: ir.StringValue) -> ir.IntegerValue:
        return ibis.cases(*((name == n, s) for n, s in self.sig_of.items()), else_=0)


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json_string(doc: str, path: str) -> str:  # pragma: no cover - a SQL builtin
    """DuckDB: the JSON value at ``path`` as text (strings unquoted)."""
    raise NotImplementedError  # a SQL builtin: never called in Python


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json_string(doc: str, path: str) -> str:  # pragma: no cover - a SQL builtin
    """Spark: the JSON value at ``path`` as text (strings unquoted)."""
    raise NotImplementedError  # a SQL builtin: never called in Python


def _backend_name(table: ir.Table) -> str:
    try:
        return table._find_backend().name  # noqa: SLF001 - Ibis offers no public accessor
    except Exception:  # an unbound table (e.g. in to_sql) has no backend
        return ""


def breakdown_value(events: ir.Table, breakdown: str | None) -> ir.StringValue:
    """The breakdown property of each event as text: an events column or a JSON key.

    ``breakdown`` names a column of the events table (``source``, ``utm_source``, ``page``,
    ...) or else a key of the JSON ``properties`` column, including PostHog's ``$``-prefixed
    standard names (``$browser``, ``$os``, ...). Missing and empty values read as "(none)"
    (PostHog: ``ifNull(toString(properties.x), '')``, so both are the same value).
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
    return value.nullif("").fill_null(NONE_LABEL)


def read(
    events: ir.Table,
    funnel: Funnel,
    vectors: StepVectors,
    since: datetime | None,
    until: datetime | None,
    breakdown: str | None = None,
    everything: bool = False,
) -> ir.Table:
    """The funnel's events in ``[since, until)``: ``user_id, event_id, us, sig, name`` (+ ``bd``).

    Ordered and unordered funnels read the step and exclusion events; strict funnels
    (``everything``) read every event of the people who have a step-1 event there, since any
    event between two steps breaks a strict attempt. Names are tested as membership of an
    array literal (DuckDB ``list_contains``, Spark ``array_contains``), several times faster
    than ``IN (...)`` on millions of rows.
    """
    inside = events
    if since is not None:
        inside = inside.filter(inside.timestamp >= since)
    if until is not None:
        inside = inside.filter(inside.timestamp < until)
    if everything:
        starters = inside.filter(inside.event_name == funnel.steps[0].event)
        starters = starters.select(s_user=starters.user_id).distinct()
        chosen = inside.semi_join(starters, inside.user_id == starters.s_user)
    else:
        wanted = ibis.literal(vectors.names, type="array<string>").contains(inside.event_name)
        chosen = inside.filter(wanted)
    columns = {
        "user_id": chosen.user_id,
        "event_id": chosen.event_id,
        "us": chosen.timestamp.delta(ibis.literal(EPOCH), unit="microsecond").cast("int64"),
        "sig": vectors.sig(chosen.event_name).cast("int64"),
        "name": chosen.event_name,
    }
    if breakdown is not None:
        columns["bd"] = breakdown_value(chosen, breakdown)
    return chosen.select(**columns)


def next_after(
    events: ir.Table,
    funnel: Funnel,
    vectors: StepVectors,
    until: datetime,
    breakdown: str | None,
    everything: bool,
    users: ir.Table,
) -> ir.Table:
    """Each person's first event at or after ``until``: the next neighbour of the last one read.

    ``users`` (a table with ``user_id``) limits the look-up to the people read. Columns
    ``x_user, x_us, x_sig`` (+ ``x_bd``); ``everything`` reads every event (strict funnels),
    else the funnel's events.
    """
    tail = events.filter(events.timestamp >= until)
    if not everything:
        tail = tail.filter(ibis.literal(vectors.names, type="array<string>").contains(tail.event_name))
    people = users.select(p_user=users.user_id).distinct()
    tail = tail.semi_join(people, tail.user_id == people.p_user)
    us = tail.timestamp.delta(ibis.literal(EPOCH), unit="microsecond").cast("int64")
    earliest = ibis.struct({"us": us, "event_id": tail.event_id})
    metrics = {"x_us": us.min(), "x_sig": vectors.sig(tail.event_name).cast("int64").argmin(earliest)}
    if breakdown is not None:
        metrics["x_bd"] = breakdown_value(tail, breakdown).argmin(earliest)
    return tail.group_by(x_user=tail.user_id).aggregate(**metrics)


def first_touch(
    events: ir.Table,
    funnel: Funnel,
    breakdown: str | None,
    periods: list[tuple[str, datetime, datetime]],
) -> ir.Table:
    """Per person and period, the breakdown value of their first funnel event in the period.

    PostHog's first-touch attribution is ``argMinIf(prop_basic, timestamp, isNotNull(..))``
    over every row of the person's funnel query, and ``prop_basic`` is never null
    (``ifNull(.., '')``): the value on the person's earliest funnel event in the date range
    (steps and exclusions; every event in strict funnels), not the value on the step-1
    event of their result. Ties on the timestamp go to the lowest ``event_id`` (PostHog
    leaves them unspecified). Columns: ``user_id, period, bd``.
    """
    vectors = StepVectors.of(funnel)
    lowest = min(start for _, start, _ in periods)
    highest = max(end for _, _, end in periods)
    rows = read(events, funnel, vectors, lowest, highest, breakdown, everything=funnel.order == "strict")
    rows = rows.mutate(
        period=ibis.cases(*(((rows.us >= to_us(start)) & (rows.us < to_us(end)), name) for name, start, end in periods))
    )
    rows = rows.filter(rows.period.notnull())
    earliest = ibis.struct({"us": rows.us, "event_id": rows.event_id})  # time, then event id
    return rows.group_by(["user_id", "period"]).aggregate(bd=rows.bd.argmin(earliest))


def first_touch_of(values: ir.Table, periods: list[tuple[str, datetime, datetime]]) -> ir.Table:
    """``first_touch`` from funnel events already read (``user_id, us, bd``, one per instant)."""
    rows = values.mutate(
        period=ibis.cases(
            *(((values.us >= to_us(start)) & (values.us < to_us(end)), name) for name, start, end in periods)
        )
    )
    rows = rows.filter(rows.period.notnull())
    return rows.group_by(["user_id", "period"]).aggregate(bd=rows.bd.argmin(rows.us))
