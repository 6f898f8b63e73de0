"""Conversion funnels with PostHog's semantics (shared/SEMANTICS.md, "Funnels").

``funnel_report(source, funnel, time_range)`` returns a ``FunnelResult``: per step the
unique people whose best attempt reached that step or further, conversion from the start
and from the previous step, drop-off, mean and median seconds from the previous step; a
histogram of first-to-last step time; the overall conversion rate; the same for the
previous period (conversion changes in percentage points); and, with a breakdown, the step
counts per breakdown value.

Which attempts belong to a time range: attempts whose step 1 happens inside the range
``[start, end)`` (PostHog counts *entries* in the date range); later steps may happen up to
the conversion window after step 1, even past the end of the range. The funnel reads the
step and exclusion events in ``[previous start, end + window)`` (strict funnels: every
event of the people who entered), computes the attempts of both periods in one pass and
splits them by the time of step 1. Attempts that started before the read window cannot
change the attempts that start inside it, so each period's numbers are the same as if it
were computed alone. Step-1 events after ``end`` still restart attempts in progress
(they are real events) but never count as entries.

The attempt rules (ordering, restarts, windows, one event per step, equal timestamps,
strict and unordered funnels) are documented in ``metrics.funnel_paths``; the rules applied
here are:

- exclusions: an attempt with an exclusion event strictly between its steps ``from_step``
  and ``to_step`` (inside the window) is removed entirely, including from step 1; another
  clean attempt of the same person can still count;
- best attempt: per person and period, the clean attempt that reached the furthest step;
  ties go to the first such attempt. Counts, times and the breakdown value all come from
  that one attempt;
- time to convert for step k: seconds from step k-1 to step k of the best attempt, over the
  people who reached step k; mean and exact median (linear interpolation between the two
  middle values, as PostHog's and DuckDB's ``median``);
- histogram: first-to-last step seconds of the people who completed the funnel, in
  ``histogram_bins`` equal-width bins from the shortest to the longest time (the last bin
  includes the longest);
- breakdown: first touch, i.e. the property value on the step-1 event of the person's best
  attempt ("(none)" when missing). Each person is in exactly one breakdown value, so the
  per-value counts add up to the totals.

In unordered funnels "step k" means "k of the steps done, in any order" and an exclusion's
``from_step``/``to_step`` refer to that completion order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ..catalog import Funnel
from ..errors import ParameterError
from ..results import Result, point_change
from ..sources.base import Source
from ..timerange import TimeRange, resolve
from .funnel_paths import US, Window, attempts, drop_excluded, exclusion_events

CURRENT, PREVIOUS = "current", "previous"
_BREAKDOWN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass
class FunnelResult(Result):
    """A funnel over a time range, with its previous period for comparison.

    ``steps`` has one row per step: ``step, label, event, count, conversion_from_start_pct,
    conversion_from_previous_pct, drop_off, drop_off_pct, mean_seconds_to_convert,
    median_seconds_to_convert, previous_count, previous_conversion_from_start_pct,
    conversion_from_start_change_pp``. ``time_to_convert`` has ``bin, lower_seconds,
    upper_seconds, people``. ``breakdown_steps`` (empty without a breakdown) has
    ``breakdown_value, step, label, count, conversion_from_start_pct,
    conversion_from_previous_pct``.
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


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def _us_between(later: datetime, earlier: datetime) -> int:
    return int(round((later - earlier).total_seconds() * US))


def _entries(
    source: Source, funnel: Funnel, time_range: TimeRange, breakdown: str | None, hold: Callable[[ir.Table], ir.Table]
) -> tuple[ir.Table, ir.Table | None]:
    """Attempts whose step 1 is in the range (``period`` current) or the previous one."""
    previous = time_range.previous()
    origin, start, end = previous.start_naive_utc, time_range.start_naive_utc, time_range.end_naive_utc
    window = Window(origin, end + funnel.window)
    events = source.events()
    found = attempts(events, funnel, window, breakdown, end, hold)
    start_us, end_us = _us_between(start, origin), _us_between(end, origin)
    found = found.mutate(
        period=ibis.cases(
            ((found.t1 >= start_us) & (found.t1 < end_us), CURRENT),
            (found.t1 < start_us, PREVIOUS),
            else_=ibis.null().cast("string"),
        )
    )
    return found.filter(found.period.notnull()), exclusion_events(events, funnel, window)


def _best(found: ir.Table) -> ir.Table:
    """Per person and period, the attempt that got furthest (ties: the first one)."""
    best = ibis.window(group_by=[found.user_id, found.period], order_by=[found.reached.desc(), found.attempt])
    found = found.mutate(choice=ibis.row_number().over(best))
    return found.filter(found.choice == 0).drop("choice", "attempt")


@contextmanager
def people(source: Source, funnel: Funnel, time_range: TimeRange, breakdown: str | None = None) -> Iterator[ir.Table]:
    """One row per person and period (``current``/``previous``): their best clean attempt.

    Columns: ``user_id, period, bd, reached, t1..tN`` (microseconds since the start of the
    previous period; null for steps not reached). A context manager: the table is
    materialised once in the engine (``cache``) for the few aggregate queries of a report
    and released on exit.
    """
    held: list[ir.Table] = []

    def hold(table: ir.Table) -> ir.Table:
        cached = table.cache()
        held.append(cached)
        return cached

    try:
        found, exclusions = _entries(source, funnel, time_range, breakdown, hold)
        if exclusions is not None:
            found = drop_excluded(found, exclusions, funnel)
        yield hold(_best(found))
    finally:
        for table in reversed(held):
            table.release()


def _step_stats(persons: ir.Table, n: int) -> pd.DataFrame:
    """Per period: people per step, mean and median microseconds from the previous step."""
    metrics = {}
    for k in range(1, n + 1):
        metrics[f"n{k}"] = (persons.reached >= k).cast("int64").sum()
        if k > 1:
            gap = persons[f"t{k}"] - persons[f"t{k - 1}"]
            metrics[f"mean{k}"] = gap.mean()
            metrics[f"median{k}"] = gap.cast("float64").median()
    frame = persons.group_by("period").aggregate(**metrics).execute()
    return frame.set_index("period")


def _breakdown_counts(persons: ir.Table, n: int) -> pd.DataFrame:
    current = persons.filter(persons.period == CURRENT)
    metrics = {f"n{k}": (current.reached >= k).cast("int64").sum() for k in range(1, n + 1)}
    return current.group_by("bd").aggregate(**metrics).execute()


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


def _seconds(stats: pd.DataFrame, column: str) -> float:
    if CURRENT not in stats.index:
        return math.nan
    value = stats.loc[CURRENT, column]
    return math.nan if value is None or pd.isna(value) else float(value) / US


def _steps_frame(funnel: Funnel, stats: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for k, step in enumerate(funnel.steps, start=1):
        count = _count(stats, CURRENT, k)
        first, before = _count(stats, CURRENT, 1), _count(stats, CURRENT, max(k - 1, 1))
        previous, previous_first = _count(stats, PREVIOUS, k), _count(stats, PREVIOUS, 1)
        from_start, previous_from_start = _pct(count, first), _pct(previous, previous_first)
        drop = before - count
        rows.append(
            {
                "step": k,
                "label": step.label,
                "event": step.event,
                "count": count,
                "conversion_from_start_pct": from_start,
                "conversion_from_previous_pct": _pct(count, before),
                "drop_off": drop,
                "drop_off_pct": _pct(drop, before) if k > 1 else (0.0 if first else None),
                "mean_seconds_to_convert": _seconds(stats, f"mean{k}") if k > 1 else math.nan,
                "median_seconds_to_convert": _seconds(stats, f"median{k}") if k > 1 else math.nan,
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


def _breakdown_frame(funnel: Funnel, counts: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["breakdown_value", "step", "label", "count", "conversion_from_start_pct", "conversion_from_previous_pct"]
    if counts is None or counts.empty:
        return pd.DataFrame({c: [] for c in columns})
    counts = counts.sort_values(["n1", "bd"], ascending=[False, True])
    rows = []
    for _, row in counts.iterrows():  # one row per breakdown value: a small aggregate
        for k, step in enumerate(funnel.steps, start=1):
            count, first, before = int(row[f"n{k}"]), int(row["n1"]), int(row[f"n{max(k - 1, 1)}"])
            rows.append(
                {
                    "breakdown_value": row["bd"],
                    "step": k,
                    "label": step.label,
                    "count": count,
                    "conversion_from_start_pct": _pct(count, first),
                    "conversion_from_previous_pct": _pct(count, before),
                }
            )
    frame = pd.DataFrame(rows, columns=columns)
    frame[columns[-2:]] = frame[columns[-2:]].astype("float64")
    return frame


def _check(funnel: Funnel, breakdown: str | None, histogram_bins: int) -> None:
    if not isinstance(histogram_bins, int) or histogram_bins < 1:
        raise ParameterError("histogram_bins", f"{histogram_bins!r} is not a positive whole number", ">= 1")
    if breakdown is not None and not _BREAKDOWN_NAME.match(breakdown):
        raise ParameterError(
            "breakdown",
            f"{breakdown!r} is not a column or property name",
            "an events column (source, utm_source, page, ...) or a key of the JSON properties",
        )
    if len(funnel.steps) < 2:
        raise ParameterError("funnel", f"funnel {funnel.name!r} has fewer than two steps")


def funnel_report(
    source: Source,
    funnel: Funnel,
    time_range: TimeRange | str,
    breakdown: str | None = None,
    histogram_bins: int = 10,
) -> FunnelResult:
    """Compute ``funnel`` over ``time_range`` (a ``TimeRange`` or a named range such as '30d').

    ``breakdown`` defaults to the funnel's own ``breakdown`` from the catalog (if any).
    Runs three small queries (two without a breakdown), each returning a few rows.
    """
    if isinstance(time_range, str):
        time_range = resolve(time_range, as_of=source.default_as_of())
    breakdown = breakdown if breakdown is not None else funnel.breakdown
    _check(funnel, breakdown, histogram_bins)
    n = len(funnel.steps)
    with people(source, funnel, time_range, breakdown) as persons:
        stats = _step_stats(persons, n)
        histogram = _histogram(persons, n, histogram_bins)
        counts = _breakdown_counts(persons, n) if breakdown is not None else None
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
