"""Unordered funnels: PostHog's sliding window, restated as window functions.

PostHog runs unordered funnels through ``funnel-udf/src/unordered_steps.rs``: the person's
events one by one (equal times: ``event_id`` order here; PostHog leaves it open), after the
neighbour filter of base.py (``_udf_event_array_filter``). It keeps, per step, the step's
events inside the window, and for each event:

1. while the oldest event kept is more than the window before this event (or every step is
   present), it *records* the state (if it has more steps than the best so far, that state
   becomes the result: its step count and its steps' first times, in time order) and drops
   that oldest event;
2. an exclusion event then empties everything (progress not recorded is lost);
3. any other event is added to its step.

After the last event the state is recorded once more. So the states that can become the
result are, writing ``s_i`` for the state after event i:

- ``s_i`` when event i+1 drops something from it: its oldest event is more than the window
  before event i+1 (R1);
- ``s_L`` after the last event L (R3), and any state holding every step (R2).

The state ``s_i`` holds the step events u with ``lx(i) < u <= i`` and ``t_u >= t_i - window``,
where ``lx(i)`` is the last exclusion event up to i: with events numbered densely, its
content starts at ``LB(i) = max(lx(i) + 1, first event at or after t_i - window)``. For each
step, its first event at or after ``LB(i)`` (a backward-looking running minimum, read at row
``LB(i)`` through a self-join) is in the state when it is not after i; those are the
state's step times. The result is the first recorded state with the most steps (a state
replaces the result only with strictly more steps). "Step k" means "k steps done, in any
order" (PostHog labels them "Completed k steps").

Report ranges. PostHog reads the range's events only, so the window never reaches before
the range start: each period is computed from the events at or after its start (and its
first event has no previous neighbour for the filter). A period counts the states whose
first step time is before its end; later steps may come up to the window after it. Unlike
ordered funnels, these rows therefore depend on the period start (see ``windows``).

Unordered funnels repeat no step event (PostHog's unordered loop assumes one way to fill
each step; ``funnels._check`` refuses it) and their exclusions span every step (PostHog
refuses others).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from ..catalog import Funnel
from .funnel_events import TEXT, StepVectors, int_null, next_after, read, to_us, window_us


def _filtered(events: ir.Table, funnel: Funnel, since: datetime, until: datetime | None, breakdown: str | None):
    """The period's funnel events after PostHog's neighbour filter: ``user_id, event_id, us, sig``."""
    vectors = StepVectors.of(funnel)
    rows = read(events, funnel, vectors, since, until, breakdown)
    order = ibis.window(group_by=rows.user_id, order_by=[rows.us, rows.event_id])
    neighbours = {
        "p_sig": rows.sig.lag().over(order),
        "n_sig": rows.sig.lead().over(order),
        "p_us": rows.us.lag().over(order),
        "n_us": rows.us.lead().over(order),
    }
    if breakdown is not None:
        neighbours |= {"p_bd": rows.bd.lag().over(order), "n_bd": rows.bd.lead().over(order)}
    read_rows, rows = rows, rows.mutate(**neighbours)
    if until is not None:
        tail = next_after(events, funnel, vectors, until, breakdown, False, read_rows)
        rows = rows.left_join(tail, rows.user_id == tail.x_user)
        filled = {"n_sig": rows.n_sig.coalesce(rows.x_sig), "n_us": rows.n_us.coalesce(rows.x_us)}
        if breakdown is not None:
            filled["n_bd"] = rows.n_bd.coalesce(rows.x_bd)
        rows = rows.mutate(**filled)
    same = (rows.sig == rows.p_sig) & (rows.sig == rows.n_sig)
    if breakdown is not None:
        same = same & (rows.bd == rows.p_bd) & (rows.bd == rows.n_bd)
    short = vectors.sigs_where(lambda kinds: len(kinds) <= 1)
    dropped = (rows.sig.isin(short) & same & (rows.us > rows.p_us) & (rows.us < rows.n_us)).fill_null(False)
    rows = rows.filter(~dropped)
    return rows.select("user_id", "event_id", "us", "sig"), vectors


def windows(
    events: ir.Table, funnel: Funnel, since: datetime, until: datetime | None = None, breakdown: str | None = None
) -> ir.Table:
    """The states an unordered funnel can record, for a run starting at ``since``.

    One row per recorded state: ``user_id, idx, steps`` (how many steps it holds) and
    ``f1..fN`` (the first time of each step in it, microseconds since the epoch, null when
    absent), ``first`` (the earliest of them). Exact for a period starting at ``since``
    only: the window of a state within ``window`` of ``since`` would reach earlier events.
    """
    n = len(funnel.steps)
    window = window_us(funnel)
    rows, vectors = _filtered(events, funnel, since, until, breakdown)
    step_of = {sig: kinds[0] for sig, kinds in vectors.kinds_of_sig.items() if kinds[0] > 0}
    exclusion_sigs = vectors.sigs_where(lambda kinds: kinds[0] < 0)
    step = ibis.cases(*((rows.sig == s, k) for s, k in step_of.items()), else_=int_null())
    rows = rows.mutate(step=step.cast("int64"), is_x=rows.sig.isin(exclusion_sigs or [-1]))
    order = ibis.window(group_by=rows.user_id, order_by=[rows.us, rows.event_id])
    rows = rows.mutate(idx=ibis.row_number().over(order).cast("int64") + 1)  # 1-based: lx = 0 means none
    upto = ibis.window(group_by=rows.user_id, order_by=rows.idx, rows=(None, 0))
    ahead = ibis.window(group_by=rows.user_id, order_by=rows.idx, rows=(0, None))
    person = ibis.window(group_by=rows.user_id)
    recent = ibis.window(group_by=rows.user_id, order_by=rows.us, range=(-window, 0))
    columns = {
        "lx": ibis.ifelse(rows.is_x, rows.idx, 0).max().over(upto),
        "first_in_window": rows.idx.min().over(recent),
        "next_us": rows.us.lead().over(ibis.window(group_by=rows.user_id, order_by=rows.idx)),
        "last": rows.idx.max().over(person),
    }
    for k in range(1, n + 1):
        columns[f"ni{k}"] = ibis.ifelse(rows.step == k, rows.idx, int_null()).min().over(ahead)
        columns[f"nu{k}"] = ibis.ifelse(rows.step == k, rows.us, int_null()).min().over(ahead)
    rows = rows.mutate(**columns)
    rows = rows.mutate(lb=ibis.greatest(rows.lx + 1, rows.first_in_window))
    look = rows.select(
        l_user=rows.user_id,
        l_idx=rows.idx,
        **{f"l_ni{k}": rows[f"ni{k}"] for k in range(1, n + 1)},
        **{f"l_nu{k}": rows[f"nu{k}"] for k in range(1, n + 1)},
    )
    states = rows.left_join(look, [rows.user_id == look.l_user, rows.lb == look.l_idx])
    fronts = {
        f"f{k}": ibis.ifelse(states[f"l_ni{k}"] <= states.idx, states[f"l_nu{k}"], int_null()) for k in range(1, n + 1)
    }
    states = states.mutate(**fronts)
    held = sum((states[f"f{k}"].notnull().cast("int64") for k in range(1, n + 1)), ibis.literal(0, "int64"))
    first = ibis.least(*(states[f"f{k}"] for k in range(1, n + 1)))
    states = states.mutate(steps=held, first=first)
    recorded = (states.steps > 0) & (
        (states.first + window < states.next_us) | (states.idx == states.last) | (states.steps == n)
    )
    states = states.filter(recorded)
    return states.select(
        user_id=states.user_id.cast(TEXT),
        idx=states.idx,
        steps=states.steps,
        first=states.first,
        **{f"f{k}": states[f"f{k}"] for k in range(1, n + 1)},
    )


def outcomes(states: ir.Table, funnel: Funnel, period: str, start: datetime, end: datetime) -> ir.Table:
    """Per person, the first recorded state with the most steps among those starting in the period.

    Columns as ``funnel_paths.outcomes``: ``user_id, period, reached, t1..tN`` where ``tk``
    is the k-th earliest step time of the state.
    """
    n = len(funnel.steps)
    s = states.filter((states.first >= to_us(start)) & (states.first < to_us(end)))
    best = ibis.window(group_by=s.user_id, order_by=[s.steps.desc(), s.idx])
    s = s.mutate(choice=ibis.row_number().over(best))
    s = s.filter(s.choice == 0)
    ranks = {}
    for j in range(1, n + 1):
        earlier = [
            (
                s[f"f{o}"].notnull() & ((s[f"f{o}"] < s[f"f{j}"]) | ((s[f"f{o}"] == s[f"f{j}"]) & ibis.literal(o < j)))
            ).cast("int64")
            for o in range(1, n + 1)
            if o != j
        ]
        ranks[j] = sum(earlier, ibis.literal(1, "int64"))
    times = {
        f"t{k}": ibis.cases(
            *((s[f"f{j}"].notnull() & (ranks[j] == k), s[f"f{j}"]) for j in range(1, n + 1)), else_=int_null()
        )
        for k in range(1, n + 1)
    }
    return s.select("user_id", period=ibis.literal(period), reached=s.steps, **times)
