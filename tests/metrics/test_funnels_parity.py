"""DuckDB/Spark parity for funnels: one combined scenario set, every order type, same results.

The scenarios repeat rules pinned in test_funnels.py (exclusions, restarts, strict breaks,
unordered, repeated steps, equal timestamps, JSON breakdown, previous period) so that the
engine-specific parts (JSON extraction, window frames, caching, integer division) are all
exercised. Expected counts are worked out in the comments; both engines must match them
and each other exactly.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from fawkes_analytics.catalog import Exclusion
from fawkes_analytics.metrics.funnels import funnel_report

from .test_funnels import RANGE, ev, funnel

DAY = 24 * 60


def _rows() -> list[dict[str, object]]:
    return [
        # u1: a b x c (x excluded between 2 and 3), then a clean a b two hours later
        ev("u1", 0, "a", properties='{"plan": "free"}'),
        ev("u1", 5, "b"),
        ev("u1", 10, "x"),
        ev("u1", 15, "c"),
        ev("u1", 120, "a", properties='{"plan": "pro"}'),
        ev("u1", 125, "b"),
        # u2: a a b c: restart at 1 min, completes; strict also completes (a a is a restart)
        ev("u2", 0, "a", properties='{"plan": "pro"}'),
        ev("u2", 1, "a"),
        ev("u2", 2, "b"),
        ev("u2", 3, "c"),
        # u3: equal timestamps b/a then c at exactly the 1 h window
        ev("u3", 0, "b"),
        ev("u3", 0, "a", properties='{"plan": 3}'),
        ev("u3", 60, "c"),
        # u4: c, a, b in the wrong order (unordered: 3 within 10 min)
        ev("u4", 0, "c"),
        ev("u4", 5, "a"),
        ev("u4", 10, "b"),
        # u5: previous period, converts
        ev("u5", -3 * DAY, "a"),
        ev("u5", -3 * DAY + 1, "b"),
        ev("u5", -3 * DAY + 2, "c"),
    ]


FUNNELS = {
    # u1: attempt 1 excluded, attempt 2 -> 2 steps (plan pro); u2 3 (pro); u3 3 (3); u4 a b -> 2 (none)
    "ordered": (funnel("a", "b", "c", exclusions=(Exclusion("x", 2, 3),)), [4, 4, 2]),
    # strict and a repeated step (a, a, b): u1 a then b (not a) -> 1; u2 a a b -> 3;
    # u3 a (tie taken in step order) then b -> 1; u4 a then b -> 1
    "strict_repeated": (funnel("a", "a", "b", order="strict"), [4, 1, 1]),
    # u1 3 (a b c within 15 min), u2 3, u3 3 (a, b, c within 60 min), u4 3
    "unordered": (funnel("a", "b", "c", order="unordered"), [4, 4, 4]),
}


def _results(source: object) -> dict[str, dict]:
    out = {}
    for name, (f, _) in FUNNELS.items():
        out[name] = funnel_report(
            source, f, RANGE, breakdown="plan" if name == "ordered" else None, histogram_bins=3
        ).to_dict()
    return out


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_give_identical_funnels(make_source) -> None:
    rows = pd.DataFrame(_rows())
    duck = _results(make_source(engine="duckdb", events=rows))
    spark = _results(make_source(engine="spark", events=rows))
    for name, (_, expected) in FUNNELS.items():
        assert [s["count"] for s in duck[name]["steps"]] == expected, name
        assert duck[name] == spark[name], name
    # previous period: u5 converts in every funnel except "repeated" (one a)
    assert duck["ordered"]["previous_converted"] == 1
    # first-touch plans of the best attempts: u1 pro (its 2nd, clean attempt); u2 (none)
    # (the a at 1 min restarted the attempt, and it has no plan); u3 "3"; u4 (none)
    plans = {(r["breakdown_value"], r["step"]): r["count"] for r in duck["ordered"]["breakdown_steps"]}
    assert (plans[("pro", 1)], plans[("pro", 2)], plans[("pro", 3)]) == (1, 1, 0)
    assert (plans[("(none)", 1)], plans[("(none)", 3)], plans[("3", 3)]) == (2, 1, 1)
    assert duck["ordered"]["window_seconds"] == timedelta(hours=1).total_seconds()
