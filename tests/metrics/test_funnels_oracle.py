"""Property tests: the library (DuckDB) against the PostHog oracle on random event sets.

Each case draws one funnel (order, 2-4 steps, repeated steps in ordered and strict funnels,
an exclusion over a random span, a 1-6 minute window) and a few dozen people with a dozen
events each from five names on a half-minute grid, so events of a person often share a
timestamp. The report range is [T+20 min, T+40 min) and its previous period [T, T+20 min);
events fall from before the previous period to past the range end plus the window, so
range starts, ends and the events read past them are exercised too. Some cases use unique
timestamps (the library's path without per-person numbering), some a breakdown.

The library and the oracle must agree on the step counts of both periods, the mean and
median conversion times, and the same per breakdown value. For ordered and strict funnels
the report computed from attempt rows built from an earlier ``since`` (a rollup) must be
identical. Seeded numpy randomness keeps every run the same; a failure names the seed.
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from fawkes_analytics.catalog import Exclusion, Funnel, FunnelStep
from fawkes_analytics.metrics.funnels import FunnelResult, funnel_attempts, funnel_report
from fawkes_analytics.timerange import TimeRange

from .funnel_oracle_harness import oracle_summary

T0 = pd.Timestamp("2026-03-02 10:00", tz="UTC")
RANGE = TimeRange((T0 + pd.Timedelta(minutes=20)).to_pydatetime(), (T0 + pd.Timedelta(minutes=40)).to_pydatetime())
NAMES = ["a", "b", "c", "x", "n"]
WEIGHTS = [0.26, 0.22, 0.18, 0.18, 0.16]


def draw_funnel(rng: np.random.Generator) -> Funnel:
    order = str(rng.choice(["ordered", "strict", "unordered"], p=[0.45, 0.3, 0.25]))
    n = int(rng.integers(2, 5))
    if order == "unordered":
        steps = [str(s) for s in rng.choice(["a", "b", "c", "n"], size=n, replace=False)]
    else:
        steps = [str(s) for s in rng.choice(["a", "b", "c"], size=n)]
    exclusions = []
    if rng.random() < 0.6:
        if order == "unordered":
            if "x" not in steps:
                exclusions.append(Exclusion("x", 1, n))
        else:
            low = int(rng.integers(1, n))
            high = int(rng.integers(low + 1, n + 1))
            event = "x" if rng.random() < 0.75 else str(rng.choice(["a", "b", "c"]))
            if event not in steps[low - 1 : high]:  # PostHog refuses a step inside its own span
                exclusions.append(Exclusion(event, low, high))
    window = timedelta(minutes=int(rng.integers(1, 7)))
    return Funnel("f", "F", tuple(FunnelStep(s, s) for s in steps), order, window, tuple(exclusions))


def draw_events(rng: np.random.Generator, people: int, unique: bool) -> list[dict[str, object]]:
    ids = itertools.count()
    rows = []
    for person in range(people):
        for _ in range(int(rng.integers(1, 14))):
            minutes = int(rng.integers(-4, 110)) * 0.5 if not unique else float(rng.uniform(-2, 55))
            value = [None, "p", "q"][int(rng.integers(0, 3))]
            rows.append(
                {
                    "event_id": f"e{next(ids):05d}",
                    "timestamp": T0 + pd.Timedelta(minutes=minutes),
                    "user_id": f"u{person:02d}",
                    "event_name": str(rng.choice(NAMES, p=WEIGHTS)),
                    "source": value,
                    "properties": None if value is None else f'{{"$browser": "{value.upper()}"}}',
                }
            )
    rng.shuffle(rows)  # insertion order must not matter
    return rows


def _same(mine: list[float], theirs: list[float]) -> bool:
    return len(mine) == len(theirs) and all(
        (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b) for a, b in zip(mine, theirs, strict=True)
    )


def _compare(seed: int, result: FunnelResult, rows: list[dict], f: Funnel, breakdown: str | None) -> None:
    current, previous = oracle_summary(rows, f, RANGE, breakdown)
    where = f"seed {seed}: {f.order} {[s.event for s in f.steps]} {f.exclusions} {f.window} breakdown={breakdown}"
    assert result.steps["count"].tolist() == current.counts, where
    assert result.steps["previous_count"].tolist() == previous.counts, where
    assert _same(result.steps["mean_seconds_to_convert"].tolist(), current.mean_seconds), where
    assert _same(result.steps["median_seconds_to_convert"].tolist(), current.median_seconds), where
    if breakdown is None:
        return
    mine = {value: group.sort_values("step") for value, group in result.breakdown_steps.groupby("breakdown_value")}
    assert {v: g["count"].tolist() for v, g in mine.items()} == current.by_value, where
    for value, group in mine.items():
        assert _same(group["mean_seconds_to_convert"].tolist(), current.by_value_mean[value]), where
        assert _same(group["median_seconds_to_convert"].tolist(), current.by_value_median[value]), where


CASES = range(36)


@pytest.mark.parametrize("seed", CASES)
def test_library_matches_posthog_oracle(make_source, seed: int) -> None:
    rng = np.random.default_rng(seed)
    f = draw_funnel(rng)
    unique = seed % 4 == 3
    rows = draw_events(rng, people=int(rng.integers(25, 60)), unique=unique)
    breakdown = [None, None, "source", "$browser"][seed % 4]
    source = make_source(engine="duckdb", events=pd.DataFrame(rows))
    result = funnel_report(source, f, RANGE, breakdown=breakdown)
    _compare(seed, result, rows, f, breakdown)
    if f.order != "unordered" and seed % 3 == 0:
        # a rollup: attempt rows from well before the previous period give the same report
        since = (T0 - pd.Timedelta(minutes=30)).to_pydatetime().replace(tzinfo=None)
        rolled = funnel_attempts(source.events(), f, since=since, breakdown=breakdown)
        again = funnel_report(source, f, RANGE, breakdown=breakdown, attempts=rolled)
        assert again.to_dict() == result.to_dict(), f"seed {seed}: attempts from an earlier since differ"
