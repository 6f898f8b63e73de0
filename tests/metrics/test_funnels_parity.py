"""DuckDB/Spark parity for funnels: one scenario set, every rule, identical results.

Four funnels over one set of events cover the engine-specific parts (JSON extraction of a
``$`` property, window frames, struct ordering for first touches, local checkpoints over
Spark Connect, unnesting repeated steps, the per-person numbering and the time-only positions):
exclusions (the result rule, an excluded attempt's one more step, the neighbour filter),
events at one instant, strict slots, unordered windows, first-touch breakdowns with their
conversion times, the previous period. The expected numbers are worked out in the
comments (and match the PostHog oracle); both engines must give them, and the same
``to_dict()`` to the last field. Times: minutes after 2026-03-02 10:00 UTC; window 15 min.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from fawkes_analytics.catalog import Exclusion
from fawkes_analytics.metrics.funnels import funnel_report

from .test_funnels import RANGE, ev, funnel

DAY = 24 * 60
WINDOW = timedelta(minutes=15)


def _browser(name: str) -> dict[str, str]:
    return {"properties": f'{{"$browser": "{name}"}}'}


def _rows() -> list[dict[str, object]]:
    return [
        # u1: A a0 b5 is the result at step 2; B a10 b11 holds step 2; x14 voids B and, within
        # A's window, A too: left out (ordered). Unordered: x empties the window before
        # anything was recorded: left out.
        ev("u1", 0, "a", **_browser("Firefox")),
        ev("u1", 5, "b"),
        ev("u1", 10, "a"),
        ev("u1", 11, "b"),
        ev("u1", 14, "x"),
        # u2: e1 voids A between steps 1 and 2; b2 is A's excluded extra step, so c3 cannot
        # follow; B a100 b101 is clean at step 2 and replaces the excluded result: 2 steps, 60 s.
        ev("u2", 0, "a", **_browser("Chrome")),
        ev("u2", 1, "e"),
        ev("u2", 2, "b"),
        ev("u2", 3, "c"),
        ev("u2", 100, "a"),
        ev("u2", 101, "b"),
        # u3: b and a at one instant (b stored first): a then b in 0 s, c at exactly 15 min
        ev("u3", 0, "b"),
        ev("u3", 0, "a", **_browser("Chrome")),
        ev("u3", 15, "c"),
        # u4: a0; a5 and e5 at one instant (e ignored there); e7 between e5 and e9 is dropped by
        # PostHog's neighbour filter; e9 and b9 at one instant; c10: converts, 240 s and 60 s
        ev("u4", 0, "a"),
        ev("u4", 5, "a"),
        ev("u4", 5, "e"),
        ev("u4", 7, "e"),
        ev("u4", 9, "e"),
        ev("u4", 9, "b"),
        ev("u4", 10, "c"),
        # u5: previous period, converts
        ev("u5", -3 * DAY, "a"),
        ev("u5", -3 * DAY + 1, "b"),
        ev("u5", -3 * DAY + 2, "c"),
        # u6: a and n at one instant, a3, b4
        ev("u6", 0, "a"),
        ev("u6", 0, "n"),
        ev("u6", 3, "a"),
        ev("u6", 4, "b"),
        # p/q: no two events of a person at one instant (positions from time alone)
        ev("u7", 0, "p"),
        ev("u7", 3, "q"),
        ev("u8", 1, "p"),
        ev("u8", 30, "q"),
        ev("u9", 2, "q"),
        ev("u9", 4, "p"),
    ]


FUNNELS = {
    # u1 out; u2 [1,1,0] 60 s; u3 [1,1,1] 0 s, 900 s; u4 [1,1,1] 240 s, 60 s; u6 a3 b4 [1,1,0] 60 s
    # -> [4, 4, 2]; step 2 mean (60 + 240 + 60) / 3 = 120 (u3's 0 s has no time); step 3 480
    "ordered": (
        funnel("a", "b", "c", window=WINDOW, exclusions=(Exclusion("x", 2, 3), Exclusion("e", 1, 2))),
        [4, 4, 2],
    ),
    # strict [a, a, b]: u6's a0 and n0 are one instant (no reset; the 2nd pair would reuse a0),
    # a3 advances a0's attempt to step 2 (180 s), b4 completes it (60 s); everyone else stops
    # at step 1 (u1: b5 resets; u2: e1 resets; u3: no step 2; u4: e7 resets)
    "strict": (funnel("a", "a", "b", order="strict", window=WINDOW), [5, 1, 1]),
    # unordered: u1 out (x); u2 a0 b2 c3 (120 s, 60 s); u3 b0 a0 c15 (0 s, 900 s);
    # u4 a0 b9 c10 (540 s, 60 s); u6 a0 b4 (240 s) -> [4, 4, 3]
    "unordered": (
        funnel("a", "b", "c", order="unordered", window=WINDOW, exclusions=(Exclusion("x", 1, 3),)),
        [4, 4, 3],
    ),
    # u7 p0 q3 (180 s); u8 q30 too late; u9 q before p -> [3, 1]
    "time_positions": (funnel("p", "q", window=WINDOW), [3, 1]),
}


def _results(source: object) -> dict[str, dict]:
    return {
        name: funnel_report(source, f, RANGE, breakdown="$browser" if name == "ordered" else None).to_dict()
        for name, (f, _) in FUNNELS.items()
    }


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_give_identical_funnels(make_source) -> None:
    rows = pd.DataFrame(_rows())
    duck = _results(make_source(engine="duckdb", events=rows))
    spark = _results(make_source(engine="spark", events=rows))
    for name, (_, expected) in FUNNELS.items():
        assert [s["count"] for s in duck[name]["steps"]] == expected, name
        assert duck[name] == spark[name], name
    ordered = duck["ordered"]
    assert [s["mean_seconds_to_convert"] for s in ordered["steps"]][1:] == [120.0, 480.0]
    assert [s["previous_count"] for s in ordered["steps"]] == [1, 1, 1]  # u5
    assert [s["mean_seconds_to_convert"] for s in duck["unordered"]["steps"]][1:] == [300.0, 340.0]
    assert [s["label"] for s in duck["unordered"]["steps"]][2] == "Completed 3 steps"
    # first touch: u2's first funnel event says Chrome; u3's first is b0 (stored before a0,
    # the same instant), which has no $browser: (none) holds u3, u4, u6 -> [3, 3, 2], step 2
    # (240 + 60) / 2 = 150 s; Chrome holds u2 -> [1, 1, 0], 60 s
    by = {(r["breakdown_value"], r["step"]): r for r in ordered["breakdown_steps"]}
    assert [by[("(none)", k)]["count"] for k in (1, 2, 3)] == [3, 3, 2]
    assert [by[("Chrome", k)]["count"] for k in (1, 2, 3)] == [1, 1, 0]
    assert by[("(none)", 2)]["mean_seconds_to_convert"] == 150.0
    assert by[("Chrome", 2)]["mean_seconds_to_convert"] == 60.0
