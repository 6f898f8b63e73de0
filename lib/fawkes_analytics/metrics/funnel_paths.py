"""Ordered and strict funnels: PostHog's per-person loop, restated as set operations.

PostHog runs every person's events through ``funnel-udf/src/steps.rs``. That loop keeps
one slot per step, ``entered[k]``: the latest attempt that reached step k (an attempt is
known by its step-1 time). This module computes the same thing with Ibis, one window pass
per step, and splits it in two parts (shared/SEMANTICS.md, "Funnels"):

(a) ``attempts(events, funnel, since)``: one row per attempt whose step 1 is at or after
    ``since``, with what the loop does to it. It depends only on the person's events, not
    on a report range, so it can be materialised once and extended as events arrive.
(b) ``outcomes(attempts, funnel, periods)``: per person and period, the loop's *result*
    (``max_step``) among the attempts whose step 1 is in the period, or nothing when the
    result is excluded.

The rules, one by one, and where the code applies them.

Order of the loop. Events in time order (equal times: ``event_id`` order, PostHog leaves it
open), in *groups* of equal timestamps. A group whose events all have the same step vector
(``funnel_events``) is taken event by event, and each event offers its vector backwards:
exclusions first, then steps from the last down ("an event matching several steps is tried
from the last of them down, so it advances an attempt before it starts a new one"). A group
of events with different vectors is one instant: every (event, step) pair, in ascending
step order; its exclusions are ignored and strict funnels apply no reset after it. Each
offer gets a *position* ``pos`` that sorts exactly like that loop: ``(us - base) * S +
slot``, where the slot is the event's index in its group and the offer's rank inside the
event (single-vector groups), or the step and the event's index (mixed groups).
When no person has two funnel events at the same microsecond (the usual case), the slot is
the offer's rank inside its event and no per-person numbering is needed (``_offers_fast``);
otherwise events are numbered per person (``_offers_sequenced``).

Slots and attempts (level passes). Every step-1 offer starts an attempt, except a second one
in the same group (PostHog's ``already_reached_this_step``): attempts are known by
``(user_id, t1)``. For step k = 2..N one pass takes the attempts that reached k-1 cleanly
(*arrivals*, sorted by the position where they arrived), the step-k offers and the offers
of exclusions that void step k-1; a running maximum over positions gives each offer the
*occupant* of ``entered[k-1]``: the latest arrival before it. For each occupant:

- it advances at its first step-k offer inside the window (``t_k - t1 <= window``,
  inclusive; the first offer decides, later ones are later still). A newer attempt that
  reaches k-1 first takes the slot, and the older one never advances again ("for each step
  only the latest attempt that reached it can go on"). The attempt keeps that first time.
- in a mixed group an event already used by the attempt is skipped ("an event already in
  the attempt is not used again"): the attempt used the first ``m`` events of that name in
  the group (``m`` = its earlier steps of the same name filled at this instant), so the
  offer counts from the (m+1)-th on.
- strict funnels: after each event taken alone, only ``entered[i]`` for steps i the event
  matches survive. So an arrival at k-1 is alive up to and including the first later event,
  taken alone, that does not match step k-1 (``death``); offers after it find the slot
  empty. Mixed groups reset nothing.
- exclusions: the occupant's first exclusion offer inside its window, before it advanced,
  marks it excluded (``marked_at``). An excluded attempt stays in its slot, does not take
  ``entered[k]`` when it advances, and so goes no further than one more step
  (``excl_next``: the loop's ``max_step`` still sees that step).

The result (part b). PostHog's ``max_step`` is replaced when an attempt gets further, or as
far while ``max_step`` is excluded, and is excluded by an exclusion event that marks an
attempt at the same step within ``max_step``'s own window. Working this through: the
furthest step K rises by one at each first arrival there; the attempts arriving at a step
come with non-decreasing step-1 times and marks come in time order, so a clean result that
survives the next mark at its step survives every later one, and a voided result is
replaced by the next arrival. Hence, for a period: let K be the furthest step any of its
attempts reached (an excluded attempt's one more step included); among its attempts that
reached K cleanly, in order, the first one whose next mark at step K is missing or outside
its own window is the result. When there is none the person's result is excluded and
PostHog leaves them out of every step, step 1 included. After an attempt arrives at a step
only it and newer attempts hold that slot, so the next mark after its arrival is a fact of
the attempt (``next_void_at``, computed in part a). "Nothing after the first completed
attempt is read" changes nothing here: once a clean attempt completes, ``max_step`` can no
longer change.

Report ranges. A period counts the attempts whose step 1 is in ``[start, end)``; later
steps may come up to the window after step 1, past ``end`` (PostHog reads only
``[date_from, date_to]``, so a conversion after ``date_to`` never counts there). An attempt
depends only on newer attempts, never on older ones, so attempts from ``since`` on are the
same whatever came before; only PostHog's neighbour filter (below) looks back one event.

The neighbour filter (base.py ``_udf_event_array_filter``) drops an event whose vector has
at most one element when the person's previous and next funnel events (in the order above)
have the same vector, the same breakdown value and strictly earlier and later times
(``_sequenced``; the next neighbour of the last event read is looked up past ``until``). A
dropped event is alone at its instant. When its previous neighbour is alone at its instant
too, taking the dropped event changes nothing (its offers meet the slots its neighbour
left, its strict reset repeats the neighbour's), except that a step-1 event starts an
attempt which its next neighbour replaces at once. So without instants of several events
(``_offers_fast``) the filter is skipped; next to such an instant it matters (a dropped
exclusion would have counted there, a dropped strict event would have reset the slots).
At a range start PostHog's run has no previous neighbour: a step-1 event dropped because of
an earlier one is kept as a *phantom* attempt (step 1 only, ``phantom_before`` = the time of
that earlier event), which counts only for a period starting after that time.

Where the code is: ``_offers_fast`` / ``_sequenced`` and ``_offers_sequenced`` (order,
instants, filter, strict slot lifetimes), ``_level_pass`` (slots, window, marks, one more
step, events already used), ``_levels`` (attempt rows), ``outcomes`` (the result).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd

from ..catalog import Funnel
from ..errors import ParameterError
from .funnel_events import TEXT, StepVectors, int_null, next_after, read, to_us, window_us

_POSITION_LIMIT = 2**62


def _typed(column: ir.Value, dtype: dt.DataType | str) -> ir.Value:
    """``column`` as ``dtype``, casting only when it is not already (engines may narrow cached integers)."""
    target = dt.dtype(dtype)
    return column if column.type() == target else column.cast(target)


def _keep(table: ir.Table) -> ir.Table:
    """The default ``hold``: no materialisation (fine for small data and for ``to_sql``)."""
    return table


class _Plan:
    """What the level passes need to know about a funnel, computed once."""

    def __init__(self, funnel: Funnel) -> None:
        self.funnel = funnel
        self.n = len(funnel.steps)
        self.window = window_us(funnel)
        self.strict = funnel.order == "strict"
        self.vectors = StepVectors.of(funnel)
        names = [s.event for s in funnel.steps]
        # J_k: earlier steps with the same event as step k (a repeated step)
        self.same_before = {k: [j for j in range(1, k) if names[j - 1] == names[k - 1]] for k in range(1, self.n + 1)}
        self.repeated = any(self.same_before.values())
        self.excluded_levels = {j for kinds in self.vectors.kinds_of_sig.values() for j in (-x for x in kinds if x < 0)}

    def slot_of(self, kind: int) -> int:
        """``slot`` for a known kind."""
        return (self.n - 1) + kind if kind < 0 else (self.n - 1) + (self.n - kind)

    def slot(self, kind: ir.IntegerValue) -> ir.IntegerValue:
        """Rank of an offer inside its event: exclusions (last step first), then steps (last first)."""
        n = self.n
        return ibis.ifelse(kind < 0, (n - 1) + kind, (n - 1) + (n - kind))

    def offers_of(self, rows: ir.Table) -> ir.Table:
        """One row per element of each event's step vector (``kind``)."""
        kinds = self.vectors.kinds_of_sig
        if self.vectors.single_kind:
            kind = ibis.cases(*((rows.sig == s, ks[0]) for s, ks in kinds.items()), else_=int_null())
            return rows.mutate(kind=kind.cast("int64"))
        options = ibis.cases(
            *((rows.sig == s, ibis.literal(list(ks), type="array<int64>")) for s, ks in kinds.items()),
            else_=ibis.literal([], type="array<int64>"),
        )
        return rows.mutate(kind=options).unnest("kind").mutate(kind=lambda t: t.kind.cast("int64"))


def _offers_fast(rows: ir.Table, plan: _Plan, base: int) -> ir.Table:
    """Offers positioned by time alone: valid when no person has two events in one microsecond.

    With a breakdown the rows keep each event's value (``bd``): the first touches are read
    from them instead of from the events again.
    """
    scale = 2 * plan.n
    extra = ["bd"] if "bd" in rows.columns else []
    if plan.vectors.single_kind:  # one offer per event, read straight from the event name
        kinds = {name: kinds[0] for name, kinds in plan.vectors.by_name.items()}
        kind = ibis.cases(*((rows.name == name, k) for name, k in kinds.items()))
        slot = ibis.cases(*((rows.name == name, plan.slot_of(k)) for name, k in kinds.items()))
        return rows.select("user_id", "us", *extra, kind=kind.cast("int64"), pos=(rows.us - base) * scale + slot)
    offers = plan.offers_of(rows)  # every event read offers something (strict funnels never come here)
    pos = (offers.us - base) * scale + plan.slot(offers.kind)
    return offers.select("user_id", "us", *extra, "sig", "kind", pos=pos)


def _has_ties(offers: ir.Table, plan: _Plan) -> bool:
    """Whether some person has two funnel events at the same microsecond."""
    if plan.vectors.single_kind:
        groups = offers.group_by(["user_id", "us"]).aggregate(rows=offers.count())
        clash = groups.rows > 1
    else:
        groups = offers.group_by(["user_id", "us"]).aggregate(
            rows=offers.count(), lo=offers.sig.min(), hi=offers.sig.max()
        )
        width = ibis.cases(*((groups.lo == s, len(ks)) for s, ks in plan.vectors.kinds_of_sig.items()), else_=1)
        clash = (groups.rows > width) | (groups.lo != groups.hi)
    return bool(groups.filter(clash).count().execute() > 0)


def _sequenced(
    events: ir.Table,
    plan: _Plan,
    since: datetime | None,
    until: datetime | None,
    breakdown: str | None,
    hold: Callable[[ir.Table], ir.Table],
) -> tuple[ir.Table, ir.Table]:
    """Events numbered per person, neighbour-filtered, with their group: (events, phantoms)."""
    rows = read(events, plan.funnel, plan.vectors, since, until, breakdown, everything=plan.strict)
    order = ibis.window(group_by=rows.user_id, order_by=[rows.us, rows.event_id])
    neighbours = {
        "seq": ibis.row_number().over(order).cast("int64"),
        "p_sig": rows.sig.lag().over(order),
        "n_sig": rows.sig.lead().over(order),
        "p_us": rows.us.lag().over(order),
        "n_us": rows.us.lead().over(order),
    }
    if breakdown is not None:
        neighbours |= {"p_bd": rows.bd.lag().over(order), "n_bd": rows.bd.lead().over(order)}
    read_rows, rows = rows, rows.mutate(**neighbours)
    if until is not None:
        tail = next_after(events, plan.funnel, plan.vectors, until, breakdown, plan.strict, read_rows)
        rows = rows.left_join(tail, rows.user_id == tail.x_user)
        filled = {"n_sig": rows.n_sig.coalesce(rows.x_sig), "n_us": rows.n_us.coalesce(rows.x_us)}
        if breakdown is not None:
            filled["n_bd"] = rows.n_bd.coalesce(rows.x_bd)
        rows = rows.mutate(**filled)
    short = plan.vectors.sigs_where(lambda kinds: len(kinds) <= 1) + ([0] if plan.strict else [])
    same = (rows.sig == rows.p_sig) & (rows.sig == rows.n_sig)
    if breakdown is not None:
        same = same & (rows.bd == rows.p_bd) & (rows.bd == rows.n_bd)
    dropped = (rows.sig.isin(short) & same & (rows.us > rows.p_us) & (rows.us < rows.n_us)).fill_null(False)
    rows = hold(rows.select("user_id", "us", "sig", "seq", "p_us", dropped=dropped))  # read twice below
    starters = plan.vectors.sigs_where(lambda kinds: kinds == (1,))
    phantoms = rows.filter(rows.dropped & rows.sig.isin(starters))
    phantoms = phantoms.select("user_id", t1=phantoms.us, phantom_before=phantoms.p_us)
    kept = rows.filter(~rows.dropped).select("user_id", "us", "sig", "seq")
    group = ibis.window(group_by=[kept.user_id, kept.us])
    kept = kept.mutate(
        idx=kept.seq - kept.seq.min().over(group),
        mixed=kept.sig.min().over(group) != kept.sig.max().over(group),
    )
    if plan.repeated:
        same = ibis.window(group_by=[kept.user_id, kept.us, kept.sig], order_by=kept.seq)
        kept = kept.mutate(rank=ibis.row_number().over(same).cast("int64"))
    if plan.strict:
        later = ibis.window(group_by=kept.user_id, order_by=kept.seq, rows=(1, None))
        killers = {}
        for j in range(1, plan.n):
            matching = plan.vectors.sigs_where(lambda kinds, j=j: j in kinds)
            kills = ~kept.mixed & ~kept.sig.isin(matching or [-1])
            killers[f"nk{j}"] = ibis.ifelse(kills, kept.seq, int_null()).min().over(later)
        kept = kept.mutate(**killers)
    return kept, phantoms


def _offers_sequenced(kept: ir.Table, plan: _Plan, base: int, group_size: int) -> ir.Table:
    """Offers positioned by time, group index and slot (see the module docstring)."""
    n = plan.n
    offers = plan.offers_of(kept)
    offers = offers.filter(offers.kind.notnull() & (~offers.mixed | (offers.kind > 0)))
    scale = 2 * n * group_size
    alone = offers.idx * (2 * n) + plan.slot(offers.kind)
    together = (offers.kind - 1) * group_size + offers.idx
    columns = {
        "user_id": offers.user_id,
        "us": offers.us,
        "sig": offers.sig,
        "kind": offers.kind,
        "pos": (offers.us - base) * scale + ibis.ifelse(offers.mixed, together, alone),
        "mixed": offers.mixed,
    }
    if plan.repeated:
        columns["rank"] = offers.rank
    if plan.strict:
        columns["eseq"] = offers.seq
        next_kill = ibis.cases(*((offers.kind == j, offers[f"nk{j}"]) for j in range(1, n)), else_=int_null())
        columns["nk"] = next_kill
    return offers.select(**columns)


def _level_pass(alive: ir.Table, offers: ir.Table, plan: _Plan, k: int, sequenced: bool) -> ir.Table:
    """Each arrival at step k-1 with its advance to step k and its exclusion mark (one row each).

    Arrivals and offers go through one window pass: each offer belongs to the latest
    arrival before it (a running maximum of positions), and grouping by that arrival (which
    belongs to itself) gives the arrival's own columns and its first offers. Only then are
    the window and, in strict funnels, the slot's survival checked: both hold for a prefix
    of an arrival's offers, so the first offer decides.
    """
    strict, repeated = plan.strict, plan.repeated and sequenced
    marking = (k - 1) in plan.excluded_levels
    null = int_null()
    carried = [f"t{j}" for j in range(1, k)] + (["death"] if strict else [])

    def shape(table: ir.Table, is_arr: bool, is_x: bool) -> ir.Table:
        columns = {
            "user_id": _typed(table.user_id, TEXT),
            "pos": _typed(table.pos, "int64"),
            "us": _typed(table.us, "int64"),
            "is_arr": ibis.literal(is_arr),
            **{c: _typed(table[c], "int64") if is_arr else null for c in carried},
        }
        if marking:
            columns["is_x"] = ibis.literal(is_x)
        if strict:
            columns["eseq"] = null if is_arr else _typed(table.eseq, "int64")
            columns["nk"] = null if is_arr or is_x else _typed(table.nk, "int64")
        if repeated:
            columns["mixed"] = ibis.literal(False) if is_arr else table.mixed
            columns["rank"] = null if is_arr or is_x else _typed(table.rank, "int64")
        return table.select(**columns)

    parts = [shape(alive, True, False), shape(offers.filter(offers.kind == k), False, False)]
    if marking:
        parts.append(shape(offers.filter(offers.kind == -(k - 1)), False, True))
    rows = ibis.union(*parts)
    upto = ibis.window(group_by=rows.user_id, order_by=rows.pos, rows=(None, 0))
    owned = {"occ": ibis.ifelse(rows.is_arr, rows.pos, null).max().over(upto)}
    if repeated:
        owned["o_us"] = ibis.ifelse(rows.is_arr, rows.us, null).max().over(upto)
    rows = rows.mutate(**owned)
    rows = rows.filter(rows.occ.notnull())
    offer = ~rows.is_arr
    step = offer & ~rows.is_x if marking else offer
    metrics = {c: rows[c].max() for c in carried}  # the arrival's own row is the only one set
    metrics["arrived_us"] = rows.us.max(where=rows.is_arr)
    if marking:
        x = offer & rows.is_x
        metrics |= {"x_pos": rows.pos.min(where=x), "x_us": rows.us.min(where=x)}
        if strict:
            metrics["x_eseq"] = rows.eseq.min(where=x)
    for m in range(len(plan.same_before[k]) + 1 if repeated else 1):
        usable = step
        if m > 0:
            usable = step & (~rows.mixed | (rows.us > rows.o_us) | (rows.rank >= m))
        metrics[f"a_pos{m}"] = rows.pos.min(where=usable)
        metrics[f"a_us{m}"] = rows.us.min(where=usable)
        if strict:
            metrics[f"a_eseq{m}"] = rows.eseq.min(where=usable)
            metrics[f"a_nk{m}"] = rows.nk.min(where=usable)
    pairs = rows.group_by(user_id=rows.user_id, pos=rows.occ).aggregate(**metrics)

    def chosen(prefix: str) -> ir.IntegerValue:
        if not repeated or not plan.same_before[k]:
            return pairs[f"{prefix}0"]
        used = sum(
            ((pairs[f"t{j}"] == pairs.arrived_us).cast("int64") for j in plan.same_before[k]),
            ibis.literal(0, "int64"),
        )
        return ibis.cases(*((used == m, pairs[f"{prefix}{m}"]) for m in range(len(plan.same_before[k]) + 1)))

    a_pos, a_us = chosen("a_pos"), chosen("a_us")
    advances = a_us - pairs.t1 <= plan.window
    if strict:
        advances = advances & (pairs.death.isnull() | (chosen("a_eseq") <= pairs.death))
    advances = advances.fill_null(False)  # no step offer at all
    if not marking:
        return pairs.mutate(
            a_pos=a_pos,
            a_us=a_us,
            a_nk=chosen("a_nk") if strict else null,
            clean=advances,
            marked_at=null,
            excl_next=ibis.literal(False),
        )
    hit = (pairs.x_us - pairs.t1 <= plan.window).fill_null(False)
    if strict:
        hit = hit & (pairs.death.isnull() | (pairs.x_eseq <= pairs.death))
    marked = hit & (~advances | (pairs.x_pos < a_pos))
    return pairs.mutate(
        a_pos=a_pos,
        a_us=a_us,
        a_nk=chosen("a_nk") if strict else null,
        clean=advances & ~marked,
        marked_at=ibis.ifelse(marked, pairs.x_us, null),
        excl_next=marked & advances,
    )


def _arrivals(offers: ir.Table, plan: _Plan, sequenced: bool) -> ir.Table:
    """Attempts: the first step-1 offer of each person and instant (``t1``)."""
    starts = offers.filter(offers.kind == 1)
    if sequenced:
        metrics = {"pos": starts.pos.min()}
        if plan.strict:
            metrics["death"] = starts.nk.min()
        starts = starts.group_by(["user_id", "us"]).aggregate(**metrics)
    columns = {"user_id": starts.user_id, "pos": starts.pos, "us": starts.us, "t1": starts.us}
    if plan.strict:
        columns["death"] = starts.death
    return starts.select(**columns)


def _levels(offers: ir.Table, plan: _Plan, sequenced: bool, hold: Callable[[ir.Table], ir.Table]) -> ir.Table:
    """Every attempt with its clean step times, its mark and its one excluded step.

    Arrivals carry their step times from level to level; each level pass is materialised
    once (``hold``), and an attempt leaves at the level where it stops, so the attempts are
    the union of what stopped at each level (no join at the end). At a level with
    exclusions, ``next_void_at`` of an arrival is the first mark of this or a later arrival
    at that level: after an attempt arrived, only it and newer attempts hold the slot.
    """
    null = int_null()
    n = plan.n
    alive = _arrivals(offers, plan, sequenced)
    alive = hold(alive) if sequenced else alive  # without numbering: a filter of the offers
    stopped = []

    def attempt(table: ir.Table, reached: int, marks: bool) -> ir.Table:
        return table.select(
            user_id=_typed(table.user_id, TEXT),
            **{f"t{k}": _typed(table[f"t{k}"], "int64") if k <= reached else null for k in range(1, n + 1)},
            reached=ibis.literal(reached, "int64"),
            marked_at=table.marked_at if marks else null,
            excl_next=table.excl_next if marks else ibis.literal(False),
            next_void_at=table.next_void_at if marks else null,
        )

    for k in range(2, n + 1):
        pairs = _level_pass(alive, offers, plan, k, sequenced)
        marking = (k - 1) in plan.excluded_levels
        kept = {
            "user_id": _typed(pairs.user_id, TEXT),
            **{f"t{j}": _typed(pairs[f"t{j}"], "int64") for j in range(1, k)},
            "a_pos": pairs.a_pos,
            "a_us": pairs.a_us,
            "clean": pairs.clean,
        }
        if marking:
            later = ibis.window(group_by=pairs.user_id, order_by=pairs.pos, rows=(0, None))
            kept |= {
                "marked_at": _typed(pairs.marked_at, "int64"),
                "excl_next": pairs.excl_next,
                "next_void_at": _typed(pairs.marked_at, "int64").min().over(later),
            }
        if plan.strict:
            kept["a_nk"] = pairs.a_nk
        pairs = hold(pairs.select(**kept))
        stopped.append(attempt(pairs.filter(~pairs.clean), k - 1, marks=marking))
        on = pairs.filter(pairs.clean)
        columns = {
            "user_id": on.user_id,
            "pos": on.a_pos,
            "us": on.a_us,
            **{f"t{j}": on[f"t{j}"] for j in range(1, k)},
            f"t{k}": on.a_us,
        }
        if plan.strict:
            columns["death"] = on.a_nk
        alive = on.select(**columns)
    stopped.append(attempt(alive, n, marks=False))
    return ibis.union(*stopped).mutate(phantom_before=null)


def attempts(
    events: ir.Table,
    funnel: Funnel,
    since: datetime | None = None,
    until: datetime | None = None,
    breakdown: str | None = None,
    hold: Callable[[ir.Table], ir.Table] = _keep,
) -> ir.Table:
    """Part (a): every attempt whose step 1 is in ``[since, until)`` (ordered or strict funnel).

    Columns (times in microseconds since the Unix epoch, UTC): ``user_id``, ``t1``..``tN``
    (the first time the attempt reached each step cleanly, null past its last step),
    ``reached``, ``marked_at`` (when an exclusion voided it, at step ``reached``),
    ``excl_next`` (it still made one more step after that), ``next_void_at`` (the first
    time, after it reached step ``reached``, that an exclusion voided an attempt at that
    step: this one or a newer one; it voids this attempt as a result when within its
    window), ``phantom_before`` (set for a step-1 event PostHog's neighbour filter drops
    because of the previous event at that time: it counts only for a period starting after
    that time).

    Exact for every attempt, whatever happened before ``since``. ``until`` only bounds the
    events read: attempts with step 1 before ``until - window`` are complete. The breakdown
    matters only to the neighbour filter, which compares breakdown values.
    ``hold(table)`` may materialise intermediate tables (``Table.cache``; the caller
    releases them).
    """
    return attempts_and_values(events, funnel, since, until, breakdown, hold)[0]


def attempts_and_values(
    events: ir.Table,
    funnel: Funnel,
    since: datetime | None,
    until: datetime | None,
    breakdown: str | None,
    hold: Callable[[ir.Table], ir.Table] = _keep,
) -> tuple[ir.Table, ir.Table | None]:
    """``attempts`` and, when it read them anyway, the funnel events with their breakdown value.

    The second table (``user_id, us, bd``; no two rows of a person at the same time) lets
    the caller find first touches without reading the events again; None otherwise.
    """
    plan = _Plan(funnel)
    base = to_us(since) if since is not None else 0
    if not plan.strict and hold is not _keep:
        fast = hold(_offers_fast(read(events, funnel, plan.vectors, since, until, breakdown), plan, base))
        if not _has_ties(fast, plan):
            values = fast.select("user_id", "us", "bd").distinct() if breakdown is not None else None
            if values is not None and plan.vectors.single_kind:
                values = fast.select("user_id", "us", "bd")
            return _levels(fast, plan, sequenced=False, hold=hold), values
    kept, phantoms = _sequenced(events, plan, since, until, breakdown, hold)
    kept = hold(kept)
    stats = kept.aggregate(g=kept.idx.max(), lo=kept.us.min(), hi=kept.us.max()).execute().iloc[0]
    group_size = 1 if pd.isna(stats["g"]) else int(stats["g"]) + 1
    if since is None and not pd.isna(stats["lo"]):
        base = int(stats["lo"])
    span = 1 if pd.isna(stats["hi"]) else int(stats["hi"]) - base + 1
    if span * 2 * plan.n * group_size >= _POSITION_LIMIT:
        raise ParameterError(
            "time_range",
            f"funnel {funnel.name!r}: {group_size} events of one person share a timestamp over a span of"
            f" {span} microseconds; positions would overflow 64 bits (narrow the time range)",
        )
    offers = hold(_offers_sequenced(kept, plan, base, group_size))
    found = _levels(offers, plan, sequenced=True, hold=hold)
    next_void = int_null()
    if 1 in plan.excluded_levels:
        # a phantom is never voided itself; the attempts after it may be, at step 1
        voids = found.filter((found.reached == 1) & found.marked_at.notnull())
        later = phantoms.join(voids, [phantoms.user_id == voids.user_id, voids.t1 > phantoms.t1])
        later = later.group_by(v_user=phantoms.user_id, v_t1=phantoms.t1).aggregate(v_at=voids.marked_at.min())
        phantoms = phantoms.left_join(later, [phantoms.user_id == later.v_user, phantoms.t1 == later.v_t1])
        next_void = phantoms.v_at
    extra = phantoms.select(
        user_id=_typed(phantoms.user_id, TEXT),
        t1=_typed(phantoms.t1, "int64"),
        **{f"t{k}": int_null() for k in range(2, plan.n + 1)},
        reached=ibis.literal(1, "int64"),
        marked_at=int_null(),
        excl_next=ibis.literal(False),
        next_void_at=_typed(next_void, "int64"),
        phantom_before=phantoms.phantom_before.cast("int64"),
    )
    return ibis.union(found, extra.select(*found.columns)), None


def outcomes(attempts_: ir.Table, funnel: Funnel, periods: list[tuple[str, datetime, datetime]]) -> ir.Table:
    """Part (b): per person and period, PostHog's result among the period's attempts.

    ``periods`` are ``(name, start, end)``; an attempt belongs to the period holding its
    step 1 (a phantom only when its ``phantom_before`` is before the period start). The
    attempts must include every attempt with step 1 from the earliest period start on.
    Columns: ``user_id, period, reached, t1..tN`` (microseconds since the epoch). People
    whose result is excluded are left out.
    """
    n = len(funnel.steps)
    window = window_us(funnel)
    a = attempts_
    period = ibis.cases(
        *(
            (
                (a.t1 >= to_us(start))
                & (a.t1 < to_us(end))
                & (a.phantom_before.isnull() | (a.phantom_before < to_us(start))),
                name,
            )
            for name, start, end in periods
        ),
        else_=ibis.null().cast("string"),
    )
    inside = a.mutate(period=period)
    inside = inside.filter(inside.period.notnull())
    times = [f"t{k}" for k in range(1, n + 1)]
    if funnel.exclusions:
        # K = the furthest step (an excluded attempt's one more step included); an attempt
        # that reached K cleanly is voided as the result by the next mark at step K when that
        # is within its own window (see the module docstring)
        person = ibis.window(group_by=[inside.user_id, inside.period])
        inside = inside.mutate(furthest=(inside.reached + inside.excl_next.cast("int64")).max().over(person))
        voided = (inside.next_void_at - inside.t1 <= window).fill_null(False)
        inside = inside.filter((inside.reached == inside.furthest) & ~voided)
    best = ibis.window(group_by=[inside.user_id, inside.period], order_by=[inside.reached.desc(), inside.t1])
    inside = inside.mutate(choice=ibis.row_number().over(best))
    inside = inside.filter(inside.choice == 0)
    return inside.select("user_id", "period", "reached", *times)


__all__ = ["attempts", "outcomes"]
