"""A test oracle: PostHog's funnel UDF, ported line by line to Python, one person at a time.

This is *not* the library's algorithm (the library is set-based Ibis); it is a plain port of
PostHog's own per-person code so that property tests can compare the two on many random
event sets. Sources (PostHog/posthog):

- ``funnel-udf/src/steps.rs`` (commit 862e6726): ordered and strict funnels,
  ``AggregateFunnelRow::loop_prop_val`` and ``process_event``;
- ``funnel-udf/src/unordered_steps.rs`` (commit 8f6eaa2a): unordered funnels;
- ``posthog/hogql_queries/insights/funnels/funnel_udf.py``: the per-event step vector
  ``[1*step_0, .., N*step_{N-1}, -2*exclusion_1, .., -N*exclusion_{N-1}]`` without zeros,
  events sorted by timestamp, first-touch breakdown ``argMinIf(prop_basic, timestamp, ..)``
  and the conversion times ``groupArrayIf(timings[i], timings[i] > 0)``;
- ``posthog/hogql_queries/insights/funnels/base.py``: ``exclusion_i`` is set for
  ``i in funnelFromStep + 1 .. funnelToStep`` and ``_udf_event_array_filter`` (the
  neighbour filter, with ClickHouse's wrap-around ``arrayRotateRight/Left``).

Deliberate choices where PostHog leaves something open (the library makes the same ones):

- events with equal timestamps are ordered by ``event_id`` (ClickHouse's ``arraySort`` on
  the timestamp leaves their order unspecified); the first-touch value of a tie likewise;
- the report range: the run reads the person's events from the range start on (PostHog
  reads ``[date_from, date_to]``); attempts whose step 1 is at or after ``entry_end`` run
  like any other but never become the person's result (``entry_end`` is the range end), and
  only a result attempt's completion ends the loop. With ``entry_end=None`` this is exactly
  PostHog's code.

Timestamps are integers (microseconds); the window is in microseconds too (PostHog compares
float seconds, which is the same comparison for whole microseconds).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby

NONE_VALUE = "(none)"


@dataclass(frozen=True)
class OracleFunnel:
    """A funnel as the oracle sees it: step event names, order, window (us), exclusions (1-based)."""

    steps: tuple[str, ...]
    order: str = "ordered"
    window_us: int = 3_600_000_000
    exclusions: tuple[tuple[str, int, int], ...] = ()  # (event, from_step, to_step), 1-based


@dataclass(frozen=True)
class OracleEvent:
    ts: int
    event_id: str
    name: str
    value: str = NONE_VALUE  # breakdown property (prop_basic); missing reads as NONE_VALUE


@dataclass(frozen=True)
class _Row:
    """One element of PostHog's ``events_array``: (timestamp, uuid, prop, steps)."""

    ts: int
    uuid: str
    prop: str
    steps: tuple[int, ...]


@dataclass
class _Entered:
    """``EnteredTimestamp``: ``timestamp`` is None where PostHog stores 0.0 (not set)."""

    timestamp: int | None = None
    excluded: bool = False
    timings: tuple[int, ...] = ()
    uuids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PersonResult:
    """PostHog's per-person UDF result: step_reached (0-based, -1 = out) and the timings."""

    step_reached: int
    timings: tuple[int, ...]  # step times of the result, in order (us)
    value: str

    @property
    def conversion_times(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.timings, self.timings[1:], strict=False))


def step_vector(funnel: OracleFunnel, name: str) -> tuple[int, ...]:
    """funnel_udf.py: ``arrayFilter(x -> x != 0, [1*step_0, .., -2*exclusion_1, ..])``."""
    n = len(funnel.steps)
    vector = [i + 1 for i in range(n) if funnel.steps[i] == name]
    for i in range(1, n):  # exclusion_i for i in funnelFromStep + 1 .. funnelToStep (0-based)
        covered = any(event == name and (lo - 1) + 1 <= i <= hi - 1 for event, lo, hi in funnel.exclusions)
        if covered:
            vector.append(-(i + 1))
    return tuple(vector)


def neighbour_filter(rows: list[_Row]) -> list[_Row]:
    """base.py ``_udf_event_array_filter``: drop x when both array neighbours look the same.

    ``arrayRotateRight``/``arrayRotateLeft`` wrap around, so the first element's "before" is
    the last one and vice versa; the strict timestamp comparisons then keep both ends.
    """
    if not rows:
        return rows
    before = [rows[-1], *rows[:-1]]
    after = [*rows[1:], rows[0]]
    kept = []
    for x, b, a in zip(rows, before, after, strict=True):
        dropped = (
            len(x.steps) <= 1
            and x.steps == b.steps
            and x.steps == a.steps
            and x.prop == b.prop
            and x.prop == a.prop
            and x.ts > b.ts
            and x.ts < a.ts
        )
        if not dropped:
            kept.append(x)
    return kept


class _Ordered:
    """``AggregateFunnelRow`` (steps.rs) for one person and one prop value (first touch)."""

    def __init__(self, funnel: OracleFunnel, entry_end: int | None) -> None:
        self.n = len(funnel.steps)
        self.window = funnel.window_us
        self.strict = funnel.order == "strict"
        self.entry_end = entry_end
        self.max_step: tuple[int, _Entered] = (0, _Entered())
        self.entered = [_Entered() for _ in range(self.n + 1)]

    def _counts(self, entered: _Entered) -> bool:
        return self.entry_end is None or (entered.timestamp is not None and entered.timestamp < self.entry_end)

    def run(self, rows: list[_Row]) -> tuple[int, _Entered]:
        for timestamp, group in groupby(rows, key=lambda r: r.ts):
            same = list(group)
            self.entered[0] = _Entered(timestamp=timestamp)
            if len(same) == 1:
                self._process(same[0], multiple=False)
            elif all(r.steps == same[0].steps for r in same):
                for row in same:
                    self._process(row, multiple=False)
            else:
                # "Handle permutations for different events with the same timestamp":
                # each (event, positive step), sorted by step (a stable sort)
                pairs = [replace(r, steps=(s,)) for r in same for s in r.steps if s > 0]
                pairs.sort(key=lambda r: r.steps[0])
                for row in pairs:
                    self._process(row, multiple=True)
            done = self.entered[self.n]
            if done.timestamp is not None and self._counts(done):
                break
        return self.max_step

    def _process(self, row: _Row, multiple: bool) -> None:
        for raw in reversed(row.steps):
            exclusion = raw < 0
            step = -raw if exclusion else raw
            previous_index = step - 1
            previous_timestamp = self.entered[previous_index].timestamp
            in_match_window = previous_timestamp is not None and row.ts - previous_timestamp <= self.window
            here = self.entered[step].timestamp
            already_reached = here is not None and here == previous_timestamp
            if not in_match_window or already_reached:
                continue
            previous = self.entered[previous_index]
            if exclusion:
                if not previous.excluded:
                    previous.excluded = True
                    max_index, max_value = self.max_step
                    if max_index == previous_index and row.ts - max_value.timestamp <= self.window:
                        max_value.excluded = True
                continue
            if multiple and row.uuid in previous.uuids:
                continue  # already_used_event
            new = _Entered(
                timestamp=previous.timestamp,
                excluded=previous.excluded,
                timings=(*previous.timings, row.ts),
                uuids=(*previous.uuids, row.uuid),
            )
            if not previous.excluded:
                self.entered[step] = replace(new)
            max_index, max_value = self.max_step
            if (step > max_index or (step == max_index and max_value.excluded)) and self._counts(new):
                self.max_step = (step, replace(new))
        if not multiple and self.strict:
            for i in range(1, self.n + 1):
                if i not in row.steps:
                    self.entered[i] = _Entered()


class _Unordered:
    """``AggregateFunnelRowUnordered`` (unordered_steps.rs) for one person."""

    def __init__(self, funnel: OracleFunnel, entry_end: int | None) -> None:
        self.n = len(funnel.steps)
        self.window = funnel.window_us
        self.entry_end = entry_end
        self.by_step: list[deque[_Row]] = [deque() for _ in range(self.n)]
        self.completed = 0
        self.max_step: tuple[int, tuple[int, ...]] = (0, ())

    def run(self, rows: list[_Row]) -> tuple[int, tuple[int, ...]]:
        for i, row in enumerate(rows):
            self._process(row)
            if self.max_step[0] == self.n:
                break
            if i == len(rows) - 1:
                self._update_max()
        return self.max_step

    def _process(self, row: _Row) -> None:
        latest = row.ts
        while True:
            fronts = [(index, q[0]) for index, q in enumerate(self.by_step) if q]
            if not fronts:
                break
            oldest_index, oldest = min(fronts, key=lambda item: item[1].ts)  # first minimum
            if self.completed < self.n and oldest.ts + self.window >= latest:
                break
            self._update_max()
            self.by_step[oldest_index].popleft()
            if not self.by_step[oldest_index]:
                self.completed -= 1
        if all(step < 0 for step in row.steps):
            self.by_step = [deque() for _ in range(self.n)]
            self.completed = 0
            return
        chosen = min(row.steps, key=lambda s: self.by_step[s - 1][-1].ts if self.by_step[s - 1] else 0)
        if not self.by_step[chosen - 1]:
            self.completed += 1
        self.by_step[chosen - 1].append(row)

    def _update_max(self) -> None:
        if self.completed > self.max_step[0]:
            times = sorted(q[0].ts for q in self.by_step if q)
            if self.entry_end is not None and times and times[0] >= self.entry_end:
                return  # our range convention: a window that starts after the range never counts
            self.max_step = (self.completed, tuple(times))


def person_result(
    funnel: OracleFunnel, events: Iterable[OracleEvent], entry_end: int | None = None
) -> PersonResult | None:
    """Run PostHog's UDF for one person's events (already restricted to the range start on).

    ``events`` must be the events the funnel query reads: steps and exclusions (ordered and
    unordered) or every event of the person (strict). Returns None when the person has none.
    """
    ordered = sorted(events, key=lambda e: (e.ts, e.event_id))
    if not ordered:
        return None
    value = ordered[0].value  # first touch: argMinIf(prop_basic, timestamp, ...)
    rows = [_Row(e.ts, e.event_id, e.value, step_vector(funnel, e.name)) for e in ordered]
    rows = neighbour_filter(rows)
    if funnel.order == "unordered":
        reached, times = _Unordered(funnel, entry_end).run(rows)
        return PersonResult(reached - 1, times, value)
    reached, entered = _Ordered(funnel, entry_end).run(rows)
    if entered.excluded:
        return PersonResult(-1, (), value)
    return PersonResult(reached - 1, entered.timings, value)


@dataclass
class OracleSummary:
    """Per step: people, mean and median conversion seconds; the same per breakdown value."""

    counts: list[int]
    mean_seconds: list[float] = field(default_factory=list)
    median_seconds: list[float] = field(default_factory=list)
    by_value: dict[str, list[int]] = field(default_factory=dict)
    by_value_mean: dict[str, list[float]] = field(default_factory=dict)
    by_value_median: dict[str, list[float]] = field(default_factory=dict)


def _times(results: Sequence[PersonResult], n: int) -> tuple[list[float], list[float]]:
    means, medians = [math.nan], [math.nan]
    for k in range(2, n + 1):
        # funnel_udf.py: groupArrayIf(timings[k-1], timings[k-1] > 0)
        seconds = [r.conversion_times[k - 2] / 1e6 for r in results if len(r.conversion_times) >= k - 1]
        seconds = [s for s in seconds if s > 0]
        means.append(statistics.fmean(seconds) if seconds else math.nan)
        medians.append(statistics.median(seconds) if seconds else math.nan)
    return means, medians


def summarise(funnel: OracleFunnel, results: Iterable[PersonResult | None]) -> OracleSummary:
    """PostHog's step counts (people whose result reached step k or further) and times."""
    n = len(funnel.steps)
    inside = [r for r in results if r is not None and r.step_reached >= 0]
    counts = [sum(1 for r in inside if r.step_reached + 1 >= k) for k in range(1, n + 1)]
    means, medians = _times(inside, n)
    summary = OracleSummary(counts, means, medians)
    for value in sorted({r.value for r in inside}):
        mine = [r for r in inside if r.value == value]
        summary.by_value[value] = [sum(1 for r in mine if r.step_reached + 1 >= k) for k in range(1, n + 1)]
        summary.by_value_mean[value], summary.by_value_median[value] = _times(mine, n)
    return summary
