"""Funnel scenarios, one per rule of SEMANTICS.md "Funnels" (PostHog), on DuckDB.

Every scenario builds a few people's events by hand; the expected numbers are worked out in
the comment next to each assertion, and the PostHog oracle (a line-by-line port of the
funnel UDF, tests/metrics/posthog_funnel_oracle.py) must give the same numbers, so the
scenarios also pin the oracle. Times are UTC; T is 2026-03-02 10:00 and ``ev(user, m, e)``
is event ``e`` m minutes after T. The report range is 2026-03-01 .. 2026-03-08 (previous
period 2026-02-22 .. 2026-03-01).
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import pandas as pd
import pytest

from fawkes_analytics.catalog import Exclusion, Funnel, FunnelStep
from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics.funnels import FunnelResult, funnel_report
from fawkes_analytics.timerange import resolve

from .funnel_oracle_harness import oracle_summary

RANGE = resolve(start="2026-03-01", end="2026-03-08")
T = pd.Timestamp("2026-03-02 10:00", tz="UTC")
_ids = itertools.count()


def ev(user: str, minutes: float, name: str, **extra: object) -> dict[str, object]:
    """An event ``minutes`` after T (zero-padded ids so id order is creation order)."""
    row = {
        "event_id": f"e{next(_ids):06d}",
        "timestamp": T + pd.Timedelta(minutes=minutes),
        "user_id": user,
        "event_name": name,
    }
    row.update(extra)
    return row


def funnel(
    *events: str, order: str = "ordered", window: timedelta = timedelta(hours=1), exclusions: tuple = ()
) -> Funnel:
    return Funnel("f", "F", tuple(FunnelStep(e, e.upper()) for e in events), order, window, exclusions)


def report(make_source, rows, f: Funnel, engine: str = "duckdb", **kwargs: object) -> FunnelResult:
    return funnel_report(make_source(engine=engine, events=pd.DataFrame(rows)), f, RANGE, **kwargs)


def counts(result: FunnelResult) -> list[int]:
    return result.steps["count"].tolist()


def both(make_source, rows, f: Funnel, **kwargs: object) -> FunnelResult:
    """The library's result, after checking that the PostHog oracle gives the same counts."""
    result = report(make_source, rows, f, **kwargs)
    current, previous = oracle_summary(rows, f, RANGE, kwargs.get("breakdown"))
    assert counts(result) == current.counts, "the oracle disagrees"
    assert result.steps["previous_count"].tolist() == previous.counts, "the oracle disagrees (previous period)"
    seconds = result.steps["mean_seconds_to_convert"].tolist()
    assert all(
        (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)
        for a, b in zip(seconds, current.mean_seconds, strict=True)
    ), "the oracle's conversion times differ"
    return result


# --- order types ------------------------------------------------------------------------


def test_ordered_allows_other_events_between_steps(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 1, "x"),
        ev("u1", 2, "b"),
        ev("u1", 3, "c"),  # a x b c: all 3 steps
        ev("u2", 0, "a"),
        ev("u2", 1, "c"),
        ev("u2", 2, "b"),  # c before b does not count: 2 steps
        ev("u3", 0, "b"),
        ev("u3", 1, "c"),  # never did a: not in the funnel
    ]
    result = both(make_source, rows, funnel("a", "b", "c"))
    # step1 {u1,u2} = 2, step2 {u1,u2} = 2, step3 {u1} = 1
    assert counts(result) == [2, 2, 1]
    # from start: 100, 100, 50; from previous: 100, 100, 50; drop-off 0, 0, 1 (50 %)
    assert result.steps["conversion_from_start_pct"].tolist() == [100.0, 100.0, 50.0]
    assert result.steps["conversion_from_previous_pct"].tolist() == [100.0, 100.0, 50.0]
    assert result.steps["drop_off"].tolist() == [0, 0, 1]
    assert result.steps["drop_off_pct"].tolist()[1:] == [0.0, 50.0]
    assert (result.entered, result.converted, result.conversion_rate_pct) == (2, 1, 50.0)


def test_strict_keeps_only_attempts_at_a_step_the_event_matches(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 1, "x"),
        ev("u1", 2, "b"),
        ev("u1", 3, "c"),  # x matches no step: the attempt at step 1 is reset -> 1 step
        ev("u2", 0, "a"),
        ev("u2", 1, "b"),
        ev("u2", 2, "c"),  # consecutive: 3 steps
        ev("u3", 0, "a"),
        ev("u3", 1, "a"),
        ev("u3", 2, "b"),
        ev("u3", 3, "c"),  # the 2nd a starts a new attempt at step 1: 3 steps
        ev("u4", 0, "a"),
        ev("u4", 1, "b"),
        ev("u4", 2, "b"),
        ev("u4", 3, "c"),  # the 2nd b matches step 2, so the attempt at step 2 survives it: 3 steps
    ]
    result = both(make_source, rows, funnel("a", "b", "c", order="strict"))
    # step1 = 4, step2 {u2,u3,u4} = 3, step3 {u2,u3,u4} = 3
    assert counts(result) == [4, 3, 3]
    # the same events in an ordered funnel: everybody completes (x and repeats are allowed)
    assert counts(both(make_source, rows, funnel("a", "b", "c"))) == [4, 4, 4]


def test_strict_funnel_does_not_reset_on_a_group_of_events_at_one_instant(make_source) -> None:
    # the example: a@0 and n@0 are one instant (different vectors), which resets
    # nothing; b@60 then follows a directly: [1, 1] (PostHog), with 3600 s to convert
    rows = [ev("u1", 0, "a"), ev("u1", 0, "n"), ev("u1", 60, "b")]
    result = both(make_source, rows, funnel("a", "b", order="strict"))
    assert counts(result) == [1, 1]
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 3600.0
    # n one minute later is an event of its own and resets the attempt: [1, 0]
    later = [ev("u1", 0, "a"), ev("u1", 1, "n"), ev("u1", 60, "b")]
    assert counts(both(make_source, later, funnel("a", "b", order="strict"))) == [1, 0]


def test_unordered_counts_steps_done_in_any_order_and_labels_them(make_source) -> None:
    rows = [
        ev("u1", 0, "c"),
        ev("u1", 10, "a"),
        ev("u1", 20, "b"),  # all three within 1 h: 3
        ev("u2", 0, "b"),
        ev("u2", 5, "a"),  # two of three: 2
        ev("u3", 0, "c"),
        ev("u3", 120, "a"),  # two hours apart (window 1 h): 1
    ]
    result = both(make_source, rows, funnel("a", "b", "c", order="unordered"))
    # "k steps done": >=1 {u1,u2,u3} = 3, >=2 {u1,u2} = 2, >=3 {u1} = 1
    assert counts(result) == [3, 2, 1]
    # u1: 600 s to the 2nd step, 600 s to the 3rd; u2: 300 s to the 2nd step
    assert result.steps["mean_seconds_to_convert"].tolist()[1:] == [450.0, 600.0]
    # PostHog's labels: step k means k steps done
    assert result.steps["label"].tolist() == ["Completed 1 step", "Completed 2 steps", "Completed 3 steps"]
    assert set(result.steps["event"]) == {""}


def test_unordered_exclusion_empties_the_window(make_source) -> None:
    # a@0 b@1 x@2 c@3, window 1 h: when x comes nothing has left the window, so nothing was
    # recorded, and x empties it; after c the window holds c alone: 1 step
    rows = [ev("u1", 0, "a"), ev("u1", 1, "b"), ev("u1", 2, "x"), ev("u1", 3, "c")]
    f = funnel("a", "b", "c", order="unordered", exclusions=(Exclusion("x", 1, 3),))
    assert counts(both(make_source, rows, f)) == [1, 0, 0]
    # with a 90 s window a leaves it when x comes: {a, b} is recorded first: 2 steps, 60 s
    short = funnel("a", "b", "c", order="unordered", window=timedelta(seconds=90), exclusions=(Exclusion("x", 1, 3),))
    result = both(make_source, rows, short)
    assert counts(result) == [1, 1, 0]
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 60.0


def test_unordered_step_times_are_the_first_of_each_step_in_the_window(make_source) -> None:
    # window 15 min: a@0, a@10, a@20, b@25. PostHog's neighbour filter drops a@10 (its
    # neighbours are a's at earlier and later times). At a@20, a@0 leaves the window (the
    # state {a} is recorded: 1 step). At the end the window holds a@20 and b@25: 2 steps,
    # 300 s (without the filter a@10 would still be there: 900 s).
    rows = [ev("u1", 0, "a"), ev("u1", 10, "a"), ev("u1", 20, "a"), ev("u1", 25, "b")]
    result = both(make_source, rows, funnel("a", "b", order="unordered", window=timedelta(minutes=15)))
    assert counts(result) == [1, 1]
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 300.0


# --- window, attempts, result -------------------------------------------------------------


def test_window_is_inclusive_at_the_exact_boundary(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 60, "b"),  # exactly the 1 h window: converts
        ev("u2", 0, "a"),
        ev("u2", 60 + 1 / 60, "b"),  # window + 1 s: does not
    ]
    result = both(make_source, rows, funnel("a", "b"))
    assert counts(result) == [2, 1]
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 3600.0


def test_window_boundary_also_applies_to_later_steps_from_step_one(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 30, "b"),
        ev("u1", 60, "c"),  # c - a = 60 min: converts
        ev("u2", 0, "a"),
        ev("u2", 30, "b"),
        ev("u2", 60 + 1 / 60, "c"),  # c - a = 60 min 1 s: stops at b
    ]
    assert counts(both(make_source, rows, funnel("a", "b", "c"))) == [2, 2, 1]


def test_repeated_step_one_restarts_the_attempt_and_the_window(make_source) -> None:
    rows = [
        # a at 0, a again at 30, b at 70: from the latest a b is 40 min in (window 1 h): converts,
        # and the time to convert is measured from the latest a: 2400 s.
        ev("u1", 0, "a"),
        ev("u1", 30, "a"),
        ev("u1", 70, "b"),
        # a at 0, a at 30, b at 40: the newer attempt holds step 1, so b belongs to it: 600 s
        ev("u2", 0, "a"),
        ev("u2", 30, "a"),
        ev("u2", 40, "b"),
    ]
    result = both(make_source, rows, funnel("a", "b"))
    assert counts(result) == [2, 2]
    # mean (2400 + 600) / 2 = 1500; median of two = 1500
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 1500.0
    assert result.steps["median_seconds_to_convert"].iloc[1] == 1500.0


def test_every_step_one_starts_an_attempt_and_a_further_one_is_kept(make_source) -> None:
    rows = [
        # attempt 1: a 0, b 10; a at 20 starts attempt 2 (only step 1); c at 30 continues
        # attempt 1 (it holds step 2, within 1 h of its a): 3 steps, b - a = 600 s, c - b = 1200 s
        ev("u1", 0, "a"),
        ev("u1", 10, "b"),
        ev("u1", 20, "a"),
        ev("u1", 30, "c"),
        # a 0, a 10 (takes step 1), b 20, c 65: attempt 2 reaches b, then c is 55 min after
        # its a: converts with b - a = 600 s, c - b = 2700 s
        ev("u2", 0, "a"),
        ev("u2", 10, "a"),
        ev("u2", 20, "b"),
        ev("u2", 65, "c"),
    ]
    result = both(make_source, rows, funnel("a", "b", "c"))
    assert counts(result) == [2, 2, 2]
    # step 2: (600 + 600) / 2 = 600; step 3: (1200 + 2700) / 2 = 1950
    assert result.steps["mean_seconds_to_convert"].tolist()[1:] == [600.0, 1950.0]


def test_result_is_the_first_attempt_that_got_furthest(make_source) -> None:
    rows = [
        # u1: attempt 1 reaches b after 10 min; attempt 2 (3 h later) reaches b after 20 min:
        # as far, not further -> the first: 600 s
        ev("u1", 0, "a"),
        ev("u1", 10, "b"),
        ev("u1", 180, "a"),
        ev("u1", 200, "b"),
        # u2: completes at 0/5/10 and again at 180/200/230: the first completion, 300 s and 300 s
        ev("u2", 0, "a"),
        ev("u2", 5, "b"),
        ev("u2", 10, "c"),
        ev("u2", 180, "a"),
        ev("u2", 200, "b"),
        ev("u2", 230, "c"),
    ]
    result = both(make_source, rows, funnel("a", "b", "c"))
    assert counts(result) == [2, 2, 1]
    # step 2: (600 + 300) / 2 = 450; step 3: u2's 300
    assert result.steps["mean_seconds_to_convert"].tolist()[1:] == [450.0, 300.0]


def test_one_event_fills_at_most_one_step(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 5, "b"),  # one a cannot be steps 1 and 2: 1 step
        ev("u2", 0, "a"),
        ev("u2", 1, "a"),
        ev("u2", 5, "b"),  # the 2nd a fills step 2 of the 1st a's attempt (last step first): 3
        ev("u3", 0, "a"),
        ev("u3", 1, "a"),
        ev("u3", 2, "a"),
        ev("u3", 5, "b"),  # three a's: 3
    ]
    result = both(make_source, rows, funnel("a", "a", "b"))
    assert counts(result) == [3, 2, 2]


# --- events at the same instant -----------------------------------------------------------


def test_identical_events_at_one_instant_are_taken_one_by_one(make_source) -> None:
    # [a, a, b]: two a's at the same instant (the same step vector): the 2nd is offered to
    # step 2 first and advances the attempt the 1st started, so b completes: 3 steps,
    # 0 s to step 2 (no time) and 300 s to step 3
    rows = [ev("u1", 0, "a"), ev("u1", 0, "a"), ev("u1", 5, "b")]
    result = both(make_source, rows, funnel("a", "a", "b"))
    assert counts(result) == [1, 1, 1]
    assert math.isnan(result.steps["mean_seconds_to_convert"].iloc[1])
    assert result.steps["mean_seconds_to_convert"].iloc[2] == 300.0


def test_different_events_at_one_instant_are_taken_in_step_order(make_source) -> None:
    # b is stored first (lower event id) but at the same instant as a: the instant is
    # taken step by step, a then b: converts in 0 s. A 0 s step counts in the step but has
    # no conversion time (PostHog keeps times > 0 only).
    rows = [ev("u1", 0, "b"), ev("u1", 0, "a")]
    result = both(make_source, rows, funnel("a", "b"))
    assert counts(result) == [1, 1]
    assert math.isnan(result.steps["median_seconds_to_convert"].iloc[1])
    assert counts(both(make_source, rows, funnel("a", "b", order="strict"))) == [1, 1]


def test_a_repeated_step_event_in_a_mixed_instant_restarts_instead_of_advancing(make_source) -> None:
    # [a, a, c]: a@-5 starts attempt A. At 0, a and c together: (a, step 1) starts attempt
    # B, (a, step 2) would use an event B already holds, so it is skipped, and c finds
    # nothing at step 2: [1, 0, 0]. (Taken one by one, a would advance A to step 2 first.)
    rows = [ev("u1", -5, "a"), ev("u1", 0, "a"), ev("u1", 0, "c")]
    assert counts(both(make_source, rows, funnel("a", "a", "c"))) == [1, 0, 0]


def test_exclusions_at_a_mixed_instant_are_ignored(make_source) -> None:
    f = funnel("a", "b", exclusions=(Exclusion("x", 1, 2),))
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 5, "x"),
        ev("u1", 5, "b"),  # x and b at one instant: the exclusion is ignored, converts
        ev("u2", 0, "a"),
        ev("u2", 5, "x"),
        ev("u2", 6, "b"),  # x alone voids the attempt; its one more step is excluded: left out
    ]
    assert counts(both(make_source, rows, f)) == [1, 1]


# --- exclusions -----------------------------------------------------------------------------


def test_exclusions_number_steps_from_one(make_source) -> None:
    f = funnel("a", "b", "c", exclusions=(Exclusion("x", 2, 3),))  # between step 2 and step 3
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 1, "x"),
        ev("u1", 2, "b"),
        ev("u1", 3, "c"),  # x before step 2: outside 2..3, converts
        ev("u2", 0, "a"),
        ev("u2", 1, "b"),
        ev("u2", 2, "c"),
        ev("u2", 3, "x"),  # x after step 3: converts
        ev("u3", 0, "a"),
        ev("u3", 1, "b"),
        ev("u3", 120, "x"),  # after the 1 h window: ignored, 2 steps
        ev("u4", 0, "a"),
        ev("u4", 1, "b"),
        ev("u4", 2, "x"),  # between 2 and 3 in the window: voided, left out
    ]
    assert counts(both(make_source, rows, f)) == [3, 3, 2]


def test_an_excluded_attempt_goes_no_further_than_one_more_step(make_source) -> None:
    # a@0 x@1 b@2 c@3 (x voids between 1 and 2): attempt A is excluded at step 1, still
    # makes step 2 (excluded) but never takes step 2's slot, so c cannot follow. A clean
    # attempt B (a@100 b@101) reaching step 2 replaces the excluded result: [1, 1, 0], 60 s.
    # (If A had reached step 3, B could not replace it and u1 would be left out.)
    f = funnel("a", "b", "c", exclusions=(Exclusion("x", 1, 2),))
    rows = [ev("u1", 0, "a"), ev("u1", 1, "x"), ev("u1", 2, "b"), ev("u1", 3, "c")]
    rows += [ev("u1", 100, "a"), ev("u1", 101, "b")]
    result = both(make_source, rows, f)
    assert counts(result) == [1, 1, 0]
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 60.0


def test_an_exclusion_of_a_later_attempt_also_excludes_the_result_in_its_window(make_source) -> None:
    # window 15 min, x voids between 2 and 3. A: a@0 b@5 (the result, at step 2); B: a@10
    # b@11 holds step 2. x@14 voids B and, being within A's window (14 <= 15) while A is
    # the result at the same step, excludes A too: left out of every step.
    f = funnel("a", "b", "c", window=timedelta(minutes=15), exclusions=(Exclusion("x", 2, 3),))
    rows = [ev("u1", 0, "a"), ev("u1", 5, "b"), ev("u1", 10, "a"), ev("u1", 11, "b"), ev("u1", 14, "x")]
    assert counts(both(make_source, rows, f)) == [0, 0, 0]
    # x@20 is outside A's window (20 > 15) but inside B's: only B is voided; A is the result
    late = [ev("u2", 0, "a"), ev("u2", 5, "b"), ev("u2", 10, "a"), ev("u2", 11, "b"), ev("u2", 20, "x")]
    result = both(make_source, late, f)
    assert counts(result) == [1, 1, 0]
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 300.0


def test_an_excluded_result_leaves_the_person_out_even_with_a_clean_shorter_attempt(make_source) -> None:
    # attempt 1: a b x c (x voids between 2 and 3, then c: an excluded 3rd step) is the
    # furthest; attempt 2 two hours later (a b) is clean but reaches only step 2, so it
    # cannot replace the excluded result: u1 is in no step. u2 converts cleanly.
    f = funnel("a", "b", "c", exclusions=(Exclusion("x", 2, 3),))
    rows = [ev("u1", 0, "a"), ev("u1", 5, "b"), ev("u1", 10, "x"), ev("u1", 15, "c")]
    rows += [ev("u1", 120, "a"), ev("u1", 125, "b")]
    rows += [ev("u2", 0, "a"), ev("u2", 5, "b"), ev("u2", 10, "c")]
    assert counts(both(make_source, rows, f)) == [1, 1, 1]
    # without the exclusion both complete
    assert counts(both(make_source, rows, funnel("a", "b", "c"))) == [2, 2, 2]


def test_neighbour_filter_can_change_an_ordered_result(make_source) -> None:
    # PostHog drops an event whose neighbours have the same step vector at strictly earlier
    # and later times (base.py _udf_event_array_filter). [a, c], e voids between 1 and 2:
    # a@0; a@5 and e@5 at one instant (the exclusion is ignored there, a starts attempt B);
    # e@7; e@9 and c@9 at one instant. e@7 sits between e@5 and e@9: dropped, so nothing
    # voids B and c@9 completes it: [1, 1], 240 s. (Kept, e@7 would void B and c would be
    # its excluded extra step: left out.)
    f = funnel("a", "c", exclusions=(Exclusion("e", 1, 2),))
    rows = [ev("u1", 0, "a"), ev("u1", 5, "a"), ev("u1", 5, "e"), ev("u1", 7, "e"), ev("u1", 9, "e")]
    rows.append(ev("u1", 9, "c"))
    result = both(make_source, rows, f)
    assert counts(result) == [1, 1]
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 240.0


# --- times, ranges, breakdowns ------------------------------------------------------------


def test_time_to_convert_mean_median_and_histogram(make_source) -> None:
    rows = []
    for user, seconds in (("u1", 60), ("u2", 120), ("u3", 180), ("u4", 600), ("u5", 0)):
        rows += [ev(user, 0, "a"), ev(user, seconds / 60, "b")]
    result = both(make_source, rows, funnel("a", "b", window=timedelta(days=1)), histogram_bins=2)
    assert counts(result) == [5, 5]  # u5 converts in 0 s: counted in step 2 ...
    # ... but not in its times: mean (60 + 120 + 180 + 600) / 4 = 240; median (120 + 180) / 2 = 150
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 240.0
    assert result.steps["median_seconds_to_convert"].iloc[1] == 150.0
    # histogram of first-to-last step times of the 5 converted: bins from 0 to 600 in two:
    # [0, 300) holds 0, 60, 120, 180; [300, 600] holds 600
    hist = result.time_to_convert
    assert hist["lower_seconds"].tolist() == [0.0, 300.0]
    assert hist["people"].tolist() == [4, 1]


def test_previous_period_and_entries_by_step_one_time(make_source) -> None:
    day = 24 * 60
    rows = [
        # previous period (Feb 22 .. Mar 1): u1 converts, u2 does not, u7 enters at
        # Feb 28 23:50 and converts at Mar 1 00:10 -> counted in the previous period.
        ev("u1", -5 * day, "a"),
        ev("u1", -5 * day + 5, "b"),
        ev("u2", -4 * day, "a"),
        ev("u7", -(day + 10 * 60) - 10, "a"),
        ev("u7", -(day + 10 * 60) + 10, "b"),
        # current period: u3 converts, u4 u5 u6 do not
        ev("u3", 0, "a"),
        ev("u3", 5, "b"),
        ev("u4", 0, "a"),
        ev("u5", 0, "a"),
        ev("u6", 0, "a"),
        # u8 enters Mar 7 23:50 and converts Mar 8 00:20, after the range end, within the
        # window: counts in the current period (PostHog would not read Mar 8 at all)
        ev("u8", 5 * day + 13 * 60 + 50, "a"),
        ev("u8", 5 * day + 14 * 60 + 20, "b"),
        # u9 enters after the end of the range (Mar 8 00:30): not counted
        ev("u9", 6 * day + 14 * 60 + 30, "a"),
        ev("u9", 6 * day + 14 * 60 + 35, "b"),
    ]
    result = both(make_source, rows, funnel("a", "b"))
    # current: 5 entered, 2 converted = 40 %; previous: 3 entered, 2 converted = 66.67 %
    assert (result.entered, result.converted) == (5, 2)
    assert (result.previous_entered, result.previous_converted) == (3, 2)
    assert result.conversion_rate_pct == 40.0
    assert result.previous_conversion_rate_pct == pytest.approx(200 / 3)
    # change in percentage points: 40 - 66.67 = -26.67
    assert result.conversion_rate_change_pp == pytest.approx(40 - 200 / 3)
    assert result.steps["previous_count"].tolist() == [3, 2]


def test_breakdown_is_the_first_funnel_event_of_the_period(make_source) -> None:
    rows = [
        # u1: first funnel event a (news); its later b says ads: news
        ev("u1", 0, "a", utm_source="news", properties='{"$browser": "Firefox"}'),
        ev("u1", 5, "b", utm_source="ads", properties='{"$browser": "Chrome"}'),
        # u2: a b (x) then a later attempt a (social) b c: the result is the later attempt,
        # but the first touch is u2's first funnel event, a@0 (ads), as PostHog's argMin
        ev("u2", 0, "a", utm_source="ads", properties='{"$browser": "Chrome"}'),
        ev("u2", 5, "b"),
        ev("u2", 180, "a", utm_source="social"),
        ev("u2", 185, "b"),
        ev("u2", 190, "c"),
        ev("u3", 0, "a", properties='{"seats": 3}'),  # no utm_source, no $browser
    ]
    f = funnel("a", "b", "c")
    by_column = both(make_source, rows, f, breakdown="utm_source").breakdown_steps
    table = by_column.pivot(index="breakdown_value", columns="step", values="count")
    # news: u1 [1, 1, 0]; ads: u2 [1, 1, 1]; (none): u3 [1, 0, 0]
    assert table.to_dict("index") == {
        "news": {1: 1, 2: 1, 3: 0},
        "ads": {1: 1, 2: 1, 3: 1},
        "(none)": {1: 1, 2: 0, 3: 0},
    }
    # PostHog's standard property names start with "$": read from the JSON properties
    by_browser = both(make_source, rows, f, breakdown="$browser").breakdown_steps
    table = by_browser.pivot(index="breakdown_value", columns="step", values="count")
    assert table.to_dict("index") == {
        "Chrome": {1: 1, 2: 1, 3: 1},
        "Firefox": {1: 1, 2: 1, 3: 0},
        "(none)": {1: 1, 2: 0, 3: 0},
    }
    # a numeric JSON value reads as its text
    by_number = both(make_source, rows, f, breakdown="seats").breakdown_steps
    assert set(by_number["breakdown_value"]) == {"3", "(none)"}


def test_conversion_times_per_breakdown_value(make_source) -> None:
    rows = [
        ev("u1", 0, "a", source="x"),
        ev("u1", 2, "b"),  # x: 120 s
        ev("u2", 0, "a", source="x"),
        ev("u2", 6, "b"),  # x: 360 s
        ev("u3", 0, "a", source="y"),
        ev("u3", 1, "b"),  # y: 60 s
        ev("u4", 0, "a", source="y"),  # y: stops at a
    ]
    result = both(make_source, rows, funnel("a", "b"), breakdown="source")
    step2 = result.breakdown_steps[result.breakdown_steps["step"] == 2].set_index("breakdown_value")
    # x: mean (120 + 360) / 2 = 240, median 240; y: 60 and 60
    assert step2.loc["x", "mean_seconds_to_convert"] == 240.0
    assert step2.loc["x", "median_seconds_to_convert"] == 240.0
    assert step2.loc["y", "mean_seconds_to_convert"] == 60.0
    assert step2.loc["y", "count"] == 1 and step2.loc["y", "conversion_from_previous_pct"] == 50.0


def test_empty_funnel_gives_zero_counts_and_no_rates(make_source) -> None:
    result = report(make_source, [ev("u1", 0, "x")], funnel("a", "b"))
    assert counts(result) == [0, 0]
    assert result.conversion_rate_pct is None
    assert result.time_to_convert.empty
    assert result.to_dict()["steps"][1]["conversion_from_start_pct"] is None


def test_result_is_json_ready_and_has_frames(make_source) -> None:
    result = report(make_source, [ev("u1", 0, "a"), ev("u1", 1, "b")], funnel("a", "b"), breakdown="source")
    data = result.to_dict()
    assert data["steps"][1]["count"] == 1 and data["window_seconds"] == 3600.0
    assert set(result.to_frames()) == {"steps", "time_to_convert", "breakdown_steps"}


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"histogram_bins": 0}, "histogram_bins"), ({"breakdown": "bad name!"}, "breakdown")]
)
def test_bad_parameters_name_the_parameter(make_source, kwargs: dict, name: str) -> None:
    with pytest.raises(ParameterError) as info:
        report(make_source, [ev("u1", 0, "a")], funnel("a", "b"), **kwargs)
    assert info.value.name == name


@pytest.mark.parametrize(
    ("f", "name"),
    [
        (funnel("a", "b", "c", exclusions=(Exclusion("b", 1, 3),)), "exclude"),  # b is a step it spans
        (funnel("a", "b", "c", order="unordered", exclusions=(Exclusion("x", 1, 2),)), "exclude"),  # partial
        (funnel("a", "b", "a", order="unordered"), "steps"),  # a repeated step in an unordered funnel
    ],
)
def test_funnels_posthog_refuses_are_refused(make_source, f: Funnel, name: str) -> None:
    with pytest.raises(ParameterError) as info:
        report(make_source, [ev("u1", 0, "a")], f)
    assert info.value.name == name


@pytest.mark.parametrize("numbering", ["from timestamps", "per-person sort"])
def test_both_event_numbering_paths_give_the_same_result(make_source, monkeypatch, numbering) -> None:
    """Without two events of a person in one microsecond, positions come from the time alone."""
    from fawkes_analytics.metrics import funnel_paths

    if numbering == "per-person sort":
        monkeypatch.setattr(funnel_paths, "_has_ties", lambda offers, plan: True)
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 1, "x"),
        ev("u1", 5, "b"),
        ev("u1", 6, "c"),  # x voids between 1 and 2: left out
        ev("u2", 0, "a"),
        ev("u2", 2, "b"),  # u2 reaches b
        ev("u3", 0, "a"),
        ev("u3", 3, "a"),
        ev("u3", 4, "b"),
        ev("u3", 7, "c"),  # the 2nd a takes step 1: converts, 60 s and 180 s
    ]
    result = both(make_source, rows, funnel("a", "b", "c", exclusions=(Exclusion("x", 1, 2),)))
    # step1 {u2,u3} = 2, step2 {u2,u3} = 2, step3 {u3} = 1
    assert counts(result) == [2, 2, 1]
    # step 2: (120 + 60) / 2 = 90; step 3: 180
    assert result.steps["mean_seconds_to_convert"].tolist()[1:] == [90.0, 180.0]
