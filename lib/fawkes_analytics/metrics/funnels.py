"""Conversion funnels with PostHog's semantics (shared/SEMANTICS.md, "Funnels").

``funnel_report(source, funnel, time_range)`` returns a ``FunnelResult``: per step the
people whose result reached that step or further, conversion from the start and from the
previous step, drop-off, mean and median seconds from the previous step; a histogram of
first-to-last step time; the overall conversion rate; the same for the previous period
(conversion changes in percentage points); with a breakdown, the same per breakdown value.
``people(...)`` lists each person's result with real timestamps.

The per-person rules are PostHog's funnel UDF; they are restated as set operations, rule by
rule, in ``metrics.funnel_paths`` (ordered and strict) and ``metrics.funnel_windows``
(unordered), with the events and step vectors in ``metrics.funnel_events``. Here:

- report ranges: a period counts the attempts whose step 1 is in ``[start, end)``; later
  steps may come up to the window after step 1, past ``end`` (PostHog reads only the date
  range's events, so it never counts a conversion after ``date_to``). The funnel reads the
  events in ``[previous start, end + window)`` and computes both periods in one pass
  (ordered, strict) or one pass each (unordered, whose window depends on the period start);
- counts: step k counts everyone whose result reached step k or further; people whose
  result is excluded are left out of every step (PostHog: ``HAVING step_reached >= 0``);
- time to convert for step k: seconds from step k-1 to step k of each person's result,
  mean and median (linear interpolation between the two middle values) over the people
  whose time is more than 0 s (PostHog: ``groupArrayIf(timings[k], timings[k] > 0)``; a
  0 s step counts in the step, not in its times); the same per breakdown value;
- histogram: first-to-last step seconds of the people who completed the funnel, in
  ``histogram_bins`` equal-width bins from the shortest to the longest time;
- breakdown: first touch as PostHog computes it, ``argMinIf(prop_basic, timestamp, ..)``
  over the person's funnel events of the period, where ``prop_basic`` is never null: the
  value on the person's first funnel event of the period (steps and exclusions; every
  event in strict funnels), "(none)" when missing. Each person has one value, so the
  per-value counts add up to the totals.

Rollups (compute once). Ordered and strict funnels split into ``funnel_attempts`` (part a:
per-person attempt rows, independent of the report range) and ``funnel_people_table`` /
``funnel_report(attempts=...)`` (part b: the range-dependent result). Attempts computed from
any ``since`` at or before the previous period's start give identical reports. The rollup
store keeps part (a) of the catalog's funnels (``rollups.derive.funnel_attempts``);
``funnel_report`` and ``people`` read it when it answers the report (``stored_attempts``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ..catalog import BREAKDOWN_NAME, FUNNEL_ORDERS, Funnel
from ..errors import ParameterError
from ..results import Result, point_change
from ..rollups.answers import kept
from ..rollups.derive import StoredFunnel
from ..rollups.tables import stored_funnel_attempts
from ..sources.base import Source
from ..timerange import TimeRange, resolve
from . import funnel_paths, funnel_windows
from .funnel_events import NONE_LABEL, US, first_touch, first_touch_of

CURRENT, PREVIOUS = "current", "previous"
Periods = list[tuple[str, datetime, datetime]]


@dataclass
class FunnelResult(Result):
    """A funnel over a time range, with its previous period for comparison.

    ``steps`` has one row per step: ``step, label, event, count, conversion_from_start_pct,
    conversion_from_previous_pct, drop_off, drop_off_pct, mean_seconds_to_convert,
    median_seconds_to_convert, previous_count, previous_conversion_from_start_pct,
    conversion_from_start_change_pp``. In unordered funnels step k means "k steps done, in
    any order": its label is "Completed k steps" and its event is empty. ``time_to_convert``
    has ``bin, lower_seconds, upper_seconds, people``. ``breakdown_steps`` (empty without a
    breakdown) has ``breakdown_value, step, label, count, conversion_from_start_pct,
    conversion_from_previous_pct, mean_seconds_to_convert, median_seconds_to_convert``.
    """

    name: str
    title: str
    order: str
    window_seconds: float
    breakdown: str | None
    time_range: dict[str, str]
    previous_range: dict[str, str]
    entered: int
    converted: int
    conversion_rate_pct: float | None
    previous_entered: int
    previous_converted: int
    previous_conversion_rate_pct: float | None
    conversion_rate_change_pp: float | None
    steps: pd.DataFrame
    time_to_convert: pd.DataFrame
    breakdown_steps: pd.DataFrame


def step_labels(funnel: Funnel) -> list[str]:
    """The label of each step; unordered funnels: "Completed 1 step", "Completed 2 steps", ..."""
    if funnel.order == "unordered":
        return [f"Completed {k} step{'s' if k > 1 else ''}" for k in range(1, len(funnel.steps) + 1)]
    return [step.label for step in funnel.steps]


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def _periods(time_range: TimeRange) -> Periods:
    previous = time_range.previous()
    return [
        (CURRENT, time_range.start_naive_utc, time_range.end_naive_utc),
        (PREVIOUS, previous.start_naive_utc, previous.end_naive_utc),
    ]


def funnel_attempts(
    events: ir.Table,
    funnel: Funnel,
    since: datetime | None = None,
    until: datetime | None = None,
    breakdown: str | None = None,
    hold: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """Part (a) for ordered and strict funnels: one row per attempt with step 1 in ``[since, until)``.

    The rows depend only on the person's events (``funnel_paths.attempts`` lists the
    columns), so they can be materialised once and extended; ``funnel_report(...,
    attempts=table)`` and ``funnel_people_table`` take them back. No lookback before
    ``since`` is needed. ``until`` only limits the events read (attempts whose step 1 is at
    least a window before it are complete). ``breakdown`` must be the breakdown the report
    will use: PostHog's neighbour filter compares breakdown values. ``hold(table)`` may
    materialise intermediate tables (the caller releases them; see ``materialise``).
    Unordered funnels have no range-independent rows (see ``funnel_windows``).
    """
    _check(funnel, breakdown)
    if funnel.order == "unordered":
        raise ParameterError(
            "funnel",
            f"funnel {funnel.name!r} is unordered: its sliding window depends on the period start",
            "ordered or strict funnels",
        )
    if hold is None:
        return funnel_paths.attempts(events, funnel, since, until, breakdown)
    return funnel_paths.attempts(events, funnel, since, until, breakdown, hold)


def stored_funnels(funnels: Iterable[Funnel]) -> list[StoredFunnel]:
    """What the rollup store needs to keep the attempts of ``funnels`` (ordered and strict ones).

    ``refresh(..., funnels=stored_funnels(catalog.funnels.values()))``: each one computes its
    attempts with ``funnel_attempts`` and the funnel's own breakdown, holding intermediate
    tables with ``materialise``.
    """

    def attempts_of(funnel: Funnel) -> Callable[..., ir.Table]:
        def attempts(events: ir.Table, since: datetime | None, until: datetime | None, hold: Callable) -> ir.Table:
            return funnel_attempts(events, funnel, since, until, funnel.breakdown, hold)

        return attempts

    return [StoredFunnel(f, attempts_of(f), materialise) for f in funnels if f.order != "unordered"]


def stored_attempts(source: Source, funnel: Funnel, time_range: TimeRange, breakdown: str | None) -> ir.Table | None:
    """The rollup store's attempt rows of ``funnel`` when they answer this report, else None.

    The store keeps the attempts of the catalog's ordered and strict funnels, computed with
    each funnel's own breakdown (``rollups.derive.funnel_attempts``). They answer a report
    of the same funnel definition (its fingerprint, whatever its name) with that breakdown,
    over a range the store covers; anything else (custom funnels, another breakdown,
    unordered funnels, no store) is computed from the events, with the same numbers.
    """
    if funnel.order == "unordered" or breakdown != funnel.breakdown:
        return None
    return stored_funnel_attempts(source, funnel, time_range.previous().start, time_range.end)


def funnel_people_table(
    source: Source,
    funnel: Funnel,
    time_range: TimeRange,
    breakdown: str | None = None,
    attempts: ir.Table | None = None,
    hold: Callable[[ir.Table], ir.Table] = lambda table: table,
) -> ir.Table:
    """Part (b): one row per person and period with their result (an Ibis table).

    Columns: ``user_id, period`` (``current``/``previous``), ``bd`` (breakdown value),
    ``reached``, ``t1..tN`` (microseconds since the Unix epoch, UTC; null past ``reached``).
    ``attempts`` (ordered and strict funnels) replaces the computation of part (a) from the
    events; it must hold every attempt from the previous period's start on.
    """
    periods = _periods(time_range)
    events = source.events()
    values = None  # the funnel events with their breakdown value, when part (a) read them anyway
    if funnel.order == "unordered":
        if attempts is not None:
            raise ParameterError("attempts", "unordered funnels are computed per period from the events")
        parts = []
        for name, start, end in periods:
            states = hold(funnel_windows.windows(events, funnel, start, end + funnel.window, breakdown))
            parts.append(funnel_windows.outcomes(states, funnel, name, start, end))
        persons = ibis.union(*parts)
    else:
        if attempts is None:
            _, lowest, _ = periods[1]
            attempts, values = funnel_paths.attempts_and_values(
                events, funnel, lowest, periods[0][2] + funnel.window, breakdown, hold
            )
        persons = funnel_paths.outcomes(attempts, funnel, periods)
    if breakdown is None:
        return persons.mutate(bd=ibis.literal(NONE_LABEL))
    touches = first_touch(events, funnel, breakdown, periods) if values is None else first_touch_of(values, periods)
    joined = persons.left_join(touches, [persons.user_id == touches.user_id, persons.period == touches.period])
    return joined.select(*persons.columns, bd=joined.bd.fill_null(NONE_LABEL))


@contextmanager
def _held_people(
    source: Source, funnel: Funnel, time_range: TimeRange, breakdown: str | None, attempts: ir.Table | None
) -> Iterator[ir.Table]:
    """The people table materialised once for a report's few queries, released on exit."""
    releases: list[Callable[[], None]] = []

    def hold(table: ir.Table) -> ir.Table:
        held, release = materialise(table)
        releases.append(release)
        return held

    try:
        yield hold(funnel_people_table(source, funnel, time_range, breakdown, attempts, hold))
    finally:
        for release in reversed(releases):
            release()


def materialise(table: ir.Table) -> tuple[ir.Table, Callable[[], None]]:
    """Compute ``table`` once in the engine: the table to read instead, and how to free it.

    ``Table.cache`` everywhere but on Spark, which caches lazily and analyses a cached view's
    whole lineage again in every query that reads it; the level passes read each other, so
    the plans grow with every step. A local checkpoint computes the table at once and cuts
    the lineage (Ibis has no engine-neutral way to say that). ``localCheckpoint`` works the
    same in a classic Spark session and over Spark Connect (Spark 4), which the tests use.
    """
    backend = table._find_backend()  # noqa: SLF001 - Ibis offers no public accessor
    if backend.name != "pyspark":
        cached = table.cache()
        return cached, cached.release
    backend._run_pre_execute_hooks(table)  # noqa: SLF001 - registers the memtables the query reads
    session = backend._session  # noqa: SLF001 - the Spark session behind Ibis's pyspark backend
    frame = session.sql(backend.compile(table)).localCheckpoint()
    name = f"fawkes_funnel_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)

    def release() -> None:
        session.catalog.dropTempView(name)
        frame.unpersist()

    return backend.table(name), release


def people(source: Source, funnel: Funnel, time_range: TimeRange | str, breakdown: str | None = None) -> pd.DataFrame:
    """Each person's funnel result in the range and in the previous period.

    Columns: ``user_id, period`` ("current"/"previous"), ``breakdown_value``,
    ``steps_reached``, then ``step_1_at`` .. ``step_N_at``: when the person's result reached
    each step, as timezone-aware UTC timestamps (NaT past ``steps_reached``). People whose
    result is excluded are not listed (they count in no step).
    """
    if isinstance(time_range, str):
        time_range = resolve(time_range, as_of=source.default_as_of())
    breakdown = breakdown if breakdown is not None else funnel.breakdown
    _check(funnel, breakdown)
    n = len(funnel.steps)
    with _held_people(
        source, funnel, time_range, breakdown, stored_attempts(source, funnel, time_range, breakdown)
    ) as persons:
        frame = persons.execute()
    out = pd.DataFrame(
        {
            "user_id": frame["user_id"].astype("string"),
            "period": frame["period"].astype("string"),
            "breakdown_value": frame["bd"].astype("string"),
            "steps_reached": frame["reached"].astype("int64"),
        }
    )
    for k in range(1, n + 1):
        micros = pd.to_numeric(frame[f"t{k}"]).astype("Int64")  # microseconds since the epoch, exact
        out[f"step_{k}_at"] = pd.to_datetime(micros, unit="us", utc=True)
    return out.sort_values(["period", "user_id"], ignore_index=True)


def _gap_metrics(persons: ir.Table, n: int) -> dict[str, ir.Value]:
    """People per step; mean and median microseconds from the previous step (over gaps > 0)."""
    metrics: dict[str, ir.Value] = {}
    for k in range(1, n + 1):
        metrics[f"n{k}"] = (persons.reached >= k).cast("int64").sum()
        if k > 1:
            gap = persons[f"t{k}"] - persons[f"t{k - 1}"]
            positive = ibis.ifelse(gap > 0, gap, ibis.null()).cast("float64")  # 0 s steps have no time
            metrics[f"mean{k}"] = positive.mean()
            metrics[f"median{k}"] = positive.median()
    return metrics


def _step_stats(persons: ir.Table, n: int) -> pd.DataFrame:
    return persons.group_by("period").aggregate(**_gap_metrics(persons, n)).execute().set_index("period")


def _breakdown_stats(persons: ir.Table, n: int) -> pd.DataFrame:
    current = persons.filter(persons.period == CURRENT)
    return current.group_by("bd").aggregate(**_gap_metrics(current, n)).execute()


def _histogram(persons: ir.Table, n: int, bins: int) -> pd.DataFrame:
    """First-to-last step time of the people who completed the funnel, in equal-width bins."""
    done = persons.filter((persons.period == CURRENT) & (persons.reached == n))
    done = done.select(x=done[f"t{n}"] - done.t1)
    done = done.mutate(lo=done.x.min().over(), hi=done.x.max().over())
    spread = done.hi - done.lo
    raw = ((done.x - done.lo) * bins / ibis.ifelse(spread == 0, 1, spread)).floor().cast("int64")
    done = done.mutate(bin=ibis.ifelse(raw > bins - 1, bins - 1, raw))
    counted = done.group_by(["bin", "lo", "hi"]).aggregate(people=done.x.count()).execute()
    if counted.empty:
        return pd.DataFrame(
            {
                "bin": pd.Series(dtype="int64"),
                "lower_seconds": pd.Series(dtype="float64"),
                "upper_seconds": pd.Series(dtype="float64"),
                "people": pd.Series(dtype="int64"),
            }
        )
    lo, hi = int(counted["lo"].iloc[0]), int(counted["hi"].iloc[0])
    edges = np.array([lo + (hi - lo) * i / bins for i in range(bins + 1)]) / US
    people_per_bin = counted.set_index("bin")["people"].reindex(range(bins), fill_value=0)
    return pd.DataFrame(
        {
            "bin": np.arange(bins),
            "lower_seconds": edges[:-1],
            "upper_seconds": edges[1:],
            "people": people_per_bin.to_numpy().astype("int64"),
        }
    )


def _count(stats: pd.DataFrame, period: str, k: int) -> int:
    return int(stats.loc[period, f"n{k}"]) if period in stats.index else 0


def _seconds(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value) / US


def _steps_frame(funnel: Funnel, stats: pd.DataFrame) -> pd.DataFrame:
    rows = []
    labels = step_labels(funnel)
    current = stats.loc[CURRENT] if CURRENT in stats.index else None
    for k, step in enumerate(funnel.steps, start=1):
        count = _count(stats, CURRENT, k)
        first, before = _count(stats, CURRENT, 1), _count(stats, CURRENT, max(k - 1, 1))
        previous, previous_first = _count(stats, PREVIOUS, k), _count(stats, PREVIOUS, 1)
        from_start, previous_from_start = _pct(count, first), _pct(previous, previous_first)
        drop = before - count
        timed = k > 1 and current is not None
        rows.append(
            {
                "step": k,
                "label": labels[k - 1],
                "event": "" if funnel.order == "unordered" else step.event,
                "count": count,
                "conversion_from_start_pct": from_start,
                "conversion_from_previous_pct": _pct(count, before),
                "drop_off": drop,
                "drop_off_pct": _pct(drop, before) if k > 1 else (0.0 if first else None),
                "mean_seconds_to_convert": _seconds(current[f"mean{k}"]) if timed and current is not None else math.nan,
                "median_seconds_to_convert": _seconds(current[f"median{k}"])
                if timed and current is not None
                else math.nan,
                "previous_count": previous,
                "previous_conversion_from_start_pct": previous_from_start,
                "conversion_from_start_change_pp": point_change(from_start, previous_from_start),
            }
        )
    frame = pd.DataFrame(rows)
    for column in (
        "conversion_from_start_pct",
        "conversion_from_previous_pct",
        "drop_off_pct",
        "previous_conversion_from_start_pct",
        "conversion_from_start_change_pp",
    ):
        frame[column] = frame[column].astype("float64")
    return frame


_BREAKDOWN_COLUMNS = [
    "breakdown_value",
    "step",
    "label",
    "count",
    "conversion_from_start_pct",
    "conversion_from_previous_pct",
    "mean_seconds_to_convert",
    "median_seconds_to_convert",
]


def _breakdown_frame(funnel: Funnel, counts: pd.DataFrame | None) -> pd.DataFrame:
    if counts is None or counts.empty:
        return pd.DataFrame({c: [] for c in _BREAKDOWN_COLUMNS})
    counts = counts.sort_values(["n1", "bd"], ascending=[False, True])
    labels = step_labels(funnel)
    rows = []
    for _, row in counts.iterrows():  # one row per breakdown value: a small aggregate
        for k in range(1, len(funnel.steps) + 1):
            count, first, before = int(row[f"n{k}"]), int(row["n1"]), int(row[f"n{max(k - 1, 1)}"])
            rows.append(
                {
                    "breakdown_value": row["bd"],
                    "step": k,
                    "label": labels[k - 1],
                    "count": count,
                    "conversion_from_start_pct": _pct(count, first),
                    "conversion_from_previous_pct": _pct(count, before),
                    "mean_seconds_to_convert": _seconds(row[f"mean{k}"]) if k > 1 else math.nan,
                    "median_seconds_to_convert": _seconds(row[f"median{k}"]) if k > 1 else math.nan,
                }
            )
    frame = pd.DataFrame(rows, columns=_BREAKDOWN_COLUMNS)
    floats = _BREAKDOWN_COLUMNS[4:]
    frame[floats] = frame[floats].astype("float64")
    return frame


def _check(funnel: Funnel, breakdown: str | None, histogram_bins: int = 10) -> None:
    """Refuse what PostHog refuses, naming the argument (base.py and funnel_udf.py validation)."""
    if not isinstance(histogram_bins, int) or histogram_bins < 1:
        raise ParameterError("histogram_bins", f"{histogram_bins!r} is not a positive whole number", ">= 1")
    if breakdown is not None and not BREAKDOWN_NAME.match(breakdown):
        raise ParameterError(
            "breakdown",
            f"{breakdown!r} is not a column or property name",
            "an events column (source, utm_source, page, ...) or a key of the JSON properties ($browser, plan, ...)",
        )
    n = len(funnel.steps)
    if n < 2:
        raise ParameterError("funnel", f"funnel {funnel.name!r} has fewer than two steps")
    if funnel.order not in FUNNEL_ORDERS:
        raise ParameterError("order", f"funnel {funnel.name!r}: {funnel.order!r} is not a funnel order", FUNNEL_ORDERS)
    events = [s.event for s in funnel.steps]
    for x in funnel.exclusions:
        if not 1 <= x.from_step < x.to_step <= n:
            raise ParameterError(
                "exclude", f"funnel {funnel.name!r}: {x.event!r} must satisfy 1 <= from_step < to_step <= {n}"
            )
        if x.event in events[x.from_step - 1 : x.to_step]:
            raise ParameterError(
                "exclude",
                f"funnel {funnel.name!r}: {x.event!r} is one of the steps {x.from_step}..{x.to_step} it excludes",
            )
        if funnel.order == "unordered" and (x.from_step, x.to_step) != (1, n):
            raise ParameterError(
                "exclude",
                f"funnel {funnel.name!r}: exclusions of an unordered funnel must span every step (1 to {n})",
            )
    if funnel.order == "unordered" and len(set(events)) < n:
        raise ParameterError(
            "steps",
            f"funnel {funnel.name!r}: an unordered funnel cannot repeat a step event (PostHog's unordered"
            " loop assumes one way to fill each step)",
        )


@kept
def funnel_report(
    source: Source,
    funnel: Funnel,
    time_range: TimeRange | str,
    breakdown: str | None = None,
    histogram_bins: int = 10,
    attempts: ir.Table | None = None,
) -> FunnelResult:
    """Compute ``funnel`` over ``time_range`` (a ``TimeRange`` or a named range such as '30d').

    ``breakdown`` defaults to the funnel's own ``breakdown`` from the catalog (if any).
    ``attempts`` (ordered and strict funnels) is a precomputed ``funnel_attempts`` table
    holding every attempt from the previous period's start on; the numbers are the same.
    Runs three small queries (two without a breakdown), each returning a few rows.
    """
    if isinstance(time_range, str):
        time_range = resolve(time_range, as_of=source.default_as_of())
    breakdown = breakdown if breakdown is not None else funnel.breakdown
    _check(funnel, breakdown, histogram_bins)
    n = len(funnel.steps)
    if attempts is None:
        attempts = stored_attempts(source, funnel, time_range, breakdown)
    with _held_people(source, funnel, time_range, breakdown, attempts) as persons:
        stats = _step_stats(persons, n)
        histogram = _histogram(persons, n, histogram_bins)
        counts = _breakdown_stats(persons, n) if breakdown is not None else None
    steps = _steps_frame(funnel, stats)
    entered, converted = _count(stats, CURRENT, 1), _count(stats, CURRENT, n)
    previous_entered, previous_converted = _count(stats, PREVIOUS, 1), _count(stats, PREVIOUS, n)
    rate, previous_rate = _pct(converted, entered), _pct(previous_converted, previous_entered)
    return FunnelResult(
        name=funnel.name,
        title=funnel.title,
        order=funnel.order,
        window_seconds=funnel.window.total_seconds(),
        breakdown=breakdown,
        time_range=time_range.to_dict(),
        previous_range=time_range.previous().to_dict(),
        entered=entered,
        converted=converted,
        conversion_rate_pct=rate,
        previous_entered=previous_entered,
        previous_converted=previous_converted,
        previous_conversion_rate_pct=previous_rate,
        conversion_rate_change_pp=point_change(rate, previous_rate),
        steps=steps,
        time_to_convert=histogram,
        breakdown_steps=_breakdown_frame(funnel, counts),
    )


def funnel_reports(
    source: Source, funnels: Iterable[Funnel], time_range: TimeRange | str, histogram_bins: int = 10
) -> dict[str, FunnelResult]:
    """Every funnel of a catalog (``catalog.funnels.values()``), each with its own breakdown."""
    return {f.name: funnel_report(source, f, time_range, histogram_bins=histogram_bins) for f in funnels}
