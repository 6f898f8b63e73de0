"""Funnel scenarios pinning every rule of SEMANTICS.md "Funnels" (PostHog), on DuckDB.

Every scenario builds a few people's events by hand; the expected numbers are worked out
in the comment next to each assertion. Times are UTC; T is 2026-03-02 10:00. The report
range is 2026-03-01 .. 2026-03-08 (previous period 2026-02-22 .. 2026-03-01).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pandas as pd
import pytest

from fawkes_analytics.catalog import Exclusion, Funnel, FunnelStep
from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics.funnels import FunnelResult, funnel_report
from fawkes_analytics.timerange import resolve

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
    result = report(make_source, rows, funnel("a", "b", "c"))
    # step1 {u1,u2} = 2, step2 {u1,u2} = 2, step3 {u1} = 1
    assert counts(result) == [2, 2, 1]
    # from start: 100, 100, 50; from previous: 100, 100, 50; drop-off 0, 0, 1 (50 %)
    assert result.steps["conversion_from_start_pct"].tolist() == [100.0, 100.0, 50.0]
    assert result.steps["conversion_from_previous_pct"].tolist() == [100.0, 100.0, 50.0]
    assert result.steps["drop_off"].tolist() == [0, 0, 1]
    assert result.steps["drop_off_pct"].tolist()[1:] == [0.0, 50.0]
    assert (result.entered, result.converted, result.conversion_rate_pct) == (2, 1, 50.0)


def test_strict_order_breaks_on_any_other_event(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 1, "x"),
        ev("u1", 2, "b"),
        ev("u1", 3, "c"),  # x between a and b: 1 step
        ev("u2", 0, "a"),
        ev("u2", 1, "b"),
        ev("u2", 2, "c"),  # consecutive: 3 steps
        ev("u3", 0, "a"),
        ev("u3", 1, "a"),
        ev("u3", 2, "b"),
        ev("u3", 3, "c"),  # 2nd a restarts: 3 steps
        ev("u4", 0, "a"),
        ev("u4", 1, "b"),
        ev("u4", 2, "b"),
        ev("u4", 3, "c"),  # 2nd b breaks: 2 steps
    ]
    result = report(make_source, rows, funnel("a", "b", "c", order="strict"))
    # step1 = 4, step2 {u2,u3,u4} = 3, step3 {u2,u3} = 2
    assert counts(result) == [4, 3, 2]
    # the same events in an ordered funnel: everybody completes (x and repeats are allowed)
    assert counts(report(make_source, rows, funnel("a", "b", "c"))) == [4, 4, 4]


def test_unordered_counts_steps_done_in_any_order(make_source) -> None:
    rows = [
        ev("u1", 0, "c"),
        ev("u1", 10, "a"),
        ev("u1", 20, "b"),  # all three within 1 h: 3
        ev("u2", 0, "b"),
        ev("u2", 5, "a"),  # two of three: 2
        ev("u3", 0, "c"),
        ev("u3", 120, "a"),  # two hours apart (window 1 h): 1
    ]
    result = report(make_source, rows, funnel("a", "b", "c", order="unordered"))
    # "k steps done": >=1 {u1,u2,u3} = 3, >=2 {u1,u2} = 2, >=3 {u1} = 1
    assert counts(result) == [3, 2, 1]
    # u1: 600 s to the 2nd step, 600 s to the 3rd; u2: 300 s to the 2nd step
    assert result.steps["mean_seconds_to_convert"].tolist()[1:] == [450.0, 600.0]


def test_window_is_inclusive_at_the_exact_boundary(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 60, "b"),  # exactly the 1 h window: converts
        ev("u2", 0, "a"),
        ev("u2", 60 + 1 / 60, "b"),  # window + 1 s: does not
    ]
    result = report(make_source, rows, funnel("a", "b"))
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
    assert counts(report(make_source, rows, funnel("a", "b", "c"))) == [2, 2, 1]


def test_repeated_step_one_restarts_the_attempt_and_the_window(make_source) -> None:
    rows = [
        # a at 0, a again at 30, b at 70: from the latest a b is 40 min in (window 1 h): converts,
        # and the time to convert is measured from the latest a: 2400 s.
        ev("u1", 0, "a"),
        ev("u1", 30, "a"),
        ev("u1", 70, "b"),
        # a at 0, a at 30, b at 40: the first attempt was restarted, so b belongs to the
        # second one: 600 s (independent attempts with "ties: the first" would give 2400 s)
        ev("u2", 0, "a"),
        ev("u2", 30, "a"),
        ev("u2", 40, "b"),
    ]
    result = report(make_source, rows, funnel("a", "b"))
    assert counts(result) == [2, 2]
    # mean (2400 + 600) / 2 = 1500; median of two = 1500
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 1500.0
    assert result.steps["median_seconds_to_convert"].iloc[1] == 1500.0


def test_every_step_one_starts_an_attempt_and_a_further_one_is_kept(make_source) -> None:
    rows = [
        # attempt 1: a 0, b 10; a at 20 starts attempt 2 (only step 1); c at 30 continues
        # attempt 1 (its step 2 was already reached, within 1 h of its a): 3 steps, with
        # b - a = 600 s and c - b = 1200 s.
        ev("u1", 0, "a"),
        ev("u1", 10, "b"),
        ev("u1", 20, "a"),
        ev("u1", 30, "c"),
        # a 0, a 10 (restart), b 20, c 65: attempt 2 reaches b, then c is 55 min after its a:
        # converts with b - a = 600 s, c - b = 2700 s (attempt 1 was overtaken at step 1)
        ev("u2", 0, "a"),
        ev("u2", 10, "a"),
        ev("u2", 20, "b"),
        ev("u2", 65, "c"),
    ]
    result = report(make_source, rows, funnel("a", "b", "c"))
    assert counts(result) == [2, 2, 2]
    # step 2: (600 + 600) / 2 = 600; step 3: (1200 + 2700) / 2 = 1950
    assert result.steps["mean_seconds_to_convert"].tolist()[1:] == [600.0, 1950.0]


def test_best_attempt_is_the_furthest_and_ties_go_to_the_first(make_source) -> None:
    rows = [
        # u1: attempt 1 (source x) reaches b after 10 min; attempt 2 (source y, 3 h later)
        # reaches b after 20 min; a tie at step 2 -> the first: source x, 600 s.
        ev("u1", 0, "a", source="x"),
        ev("u1", 10, "b"),
        ev("u1", 180, "a", source="y"),
        ev("u1", 200, "b"),
        # u2: attempt 1 (x) stops at a; attempt 2 (y) completes -> the furthest: source y
        ev("u2", 0, "a", source="x"),
        ev("u2", 180, "a", source="y"),
        ev("u2", 185, "b"),
        ev("u2", 190, "c"),
    ]
    result = report(make_source, rows, funnel("a", "b", "c"), breakdown="source")
    assert counts(result) == [2, 2, 1]
    # u1 600 s, u2 300 s -> mean 450
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 450.0
    by = result.breakdown_steps.pivot(index="breakdown_value", columns="step", values="count")
    # x: u1 reached b; y: u2 completed
    assert by.loc["x"].tolist() == [1, 1, 0]
    assert by.loc["y"].tolist() == [1, 1, 1]


def test_one_event_fills_at_most_one_step(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 5, "b"),  # one a cannot be steps 1 and 2: 1 step
        ev("u2", 0, "a"),
        ev("u2", 1, "a"),
        ev("u2", 5, "b"),  # two a's: all 3 steps
        ev("u3", 0, "a"),
        ev("u3", 1, "a"),
        ev("u3", 2, "a"),
        ev("u3", 5, "b"),  # three a's: 3
    ]
    result = report(make_source, rows, funnel("a", "a", "b"))
    assert counts(result) == [3, 2, 2]


def test_equal_timestamps_are_taken_in_step_order(make_source) -> None:
    rows = [
        # b is stored first (lower event id) but at the same time as a: a, then b -> converts in 0 s
        ev("u1", 0, "b"),
        ev("u1", 0, "a"),
    ]
    result = report(make_source, rows, funnel("a", "b"))
    assert counts(result) == [1, 1]
    assert result.steps["median_seconds_to_convert"].iloc[1] == 0.0
    # strict: nothing else in between, so it converts too
    assert counts(report(make_source, rows, funnel("a", "b", order="strict"))) == [1, 1]


def test_exclusions_remove_the_attempt_but_a_clean_one_still_counts(make_source) -> None:
    rows = [
        # u1: attempt 1 a b x c -> x between steps 2 and 3: removed (even from step 1);
        #     attempt 2 (2 h later) a b is clean -> counts to step 2
        ev("u1", 0, "a"),
        ev("u1", 5, "b"),
        ev("u1", 10, "x"),
        ev("u1", 15, "c"),
        ev("u1", 120, "a"),
        ev("u1", 125, "b"),
        ev("u2", 0, "a"),
        ev("u2", 5, "b"),
        ev("u2", 10, "c"),
        ev("u2", 15, "x"),  # x after c: kept, 3
        ev("u3", 0, "a"),
        ev("u3", 5, "b"),
        ev("u3", 10, "x"),  # x after b in the window, no c: removed
        ev("u4", 0, "a"),
        ev("u4", 5, "b"),
        ev("u4", 120, "x"),  # x after the window: kept, 2
        ev("u5", 0, "a"),
        ev("u5", 0, "x"),
        ev("u5", 5, "b"),  # x before step 2 (exclusion is 2..3): kept
    ]
    f = funnel("a", "b", "c", exclusions=(Exclusion("x", 2, 3),))
    result = report(make_source, rows, f)
    # step1 {u1,u2,u4,u5} = 4; step2 = 4; step3 {u2} = 1
    assert counts(result) == [4, 4, 1]
    # without the exclusion u1, u3 complete/enter: step1 5, step2 5, step3 {u1,u2} 2
    assert counts(report(make_source, rows, funnel("a", "b", "c"))) == [5, 5, 2]


def test_exclusion_from_step_one_is_strictly_after_step_one(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 1, "x"),
        ev("u1", 2, "b"),  # x strictly between 1 and 2: removed
        ev("u2", 0, "a"),
        ev("u2", 0, "x"),
        ev("u2", 2, "b"),  # x at the same time as a: not strictly after
    ]
    result = report(make_source, rows, funnel("a", "b", exclusions=(Exclusion("x", 1, 2),)))
    assert counts(result) == [1, 1]


def test_time_to_convert_mean_median_and_histogram(make_source) -> None:
    rows = []
    for user, seconds in (("u1", 60), ("u2", 120), ("u3", 180), ("u4", 600)):
        rows += [ev(user, 0, "a"), ev(user, seconds / 60, "b")]
    result = report(make_source, rows, funnel("a", "b", window=timedelta(days=1)), histogram_bins=2)
    # mean (60 + 120 + 180 + 600) / 4 = 240; median of 4 = (120 + 180) / 2 = 150
    assert result.steps["mean_seconds_to_convert"].iloc[1] == 240.0
    assert result.steps["median_seconds_to_convert"].iloc[1] == 150.0
    # bins from 60 to 600 in two: [60, 330) holds 60, 120, 180; [330, 600] holds 600
    hist = result.time_to_convert
    assert hist["lower_seconds"].tolist() == [60.0, 330.0]
    assert hist["upper_seconds"].tolist() == [330.0, 600.0]
    assert hist["people"].tolist() == [3, 1]


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
        # u8 enters after the end of the range (Mar 8 00:30): not counted
        ev("u8", 6 * day + 14 * 60 + 30, "a"),
        ev("u8", 6 * day + 14 * 60 + 35, "b"),
    ]
    result = report(make_source, rows, funnel("a", "b"))
    # current: 4 entered, 1 converted = 25 %; previous: 3 entered, 2 converted = 66.67 %
    assert (result.entered, result.converted) == (4, 1)
    assert (result.previous_entered, result.previous_converted) == (3, 2)
    assert result.conversion_rate_pct == 25.0
    assert result.previous_conversion_rate_pct == pytest.approx(200 / 3)
    # change in percentage points: 25 - 66.67 = -41.67
    assert result.conversion_rate_change_pp == pytest.approx(25 - 200 / 3)
    assert result.steps["previous_count"].tolist() == [3, 2]
    assert result.steps["conversion_from_start_change_pp"].iloc[1] == pytest.approx(25 - 200 / 3)


def test_breakdown_is_first_touch_from_a_column_or_a_json_property(make_source) -> None:
    rows = [
        ev("u1", 0, "a", utm_source="news", properties='{"plan": "free"}'),
        ev("u1", 5, "b", utm_source="ads", properties='{"plan": "pro"}'),  # later value ignored
        ev("u2", 0, "a", utm_source="ads", properties='{"plan": "pro"}'),
        ev("u3", 0, "a", properties='{"seats": 3}'),  # no utm_source, no plan
    ]
    f = funnel("a", "b")
    by_column = report(make_source, rows, f, breakdown="utm_source").breakdown_steps
    # news: u1 [1, 1]; ads: u2 [1, 0]; (none): u3 [1, 0]
    table = by_column.pivot(index="breakdown_value", columns="step", values="count")
    assert table.to_dict("index") == {"news": {1: 1, 2: 1}, "ads": {1: 1, 2: 0}, "(none)": {1: 1, 2: 0}}
    by_json = report(make_source, rows, f, breakdown="plan").breakdown_steps
    table = by_json.pivot(index="breakdown_value", columns="step", values="count")
    assert table.to_dict("index") == {"free": {1: 1, 2: 1}, "pro": {1: 1, 2: 0}, "(none)": {1: 1, 2: 0}}
    # a numeric JSON value reads as its text
    by_number = report(make_source, rows, f, breakdown="seats").breakdown_steps
    assert set(by_number["breakdown_value"]) == {"3", "(none)"}


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


@pytest.mark.parametrize("numbering", ["from timestamps", "per-person sort"])
def test_both_event_numbering_paths_give_the_same_counts(make_source, monkeypatch, numbering) -> None:
    """The fast path numbers events from their timestamps; with same-step ties it sorts per person."""
    from fawkes_analytics.metrics import funnel_paths

    if numbering == "per-person sort":
        monkeypatch.setattr(funnel_paths, "_has_ties", lambda matches: True)
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 0, "a"),  # two a at the same instant: a same-step tie
        ev("u1", 5, "b"),
        ev("u1", 6, "c"),  # u1 converts
        ev("u2", 0, "a"),
        ev("u2", 2, "b"),  # u2 reaches b
        ev("u3", 0, "c"),
        ev("u3", 0, "b"),
        ev("u3", 0, "a"),  # equal timestamps are taken in step order: u3 converts
    ]
    result = report(make_source, rows, funnel("a", "b", "c"))
    # step1 {u1,u2,u3} = 3, step2 {u1,u2,u3} = 3, step3 {u1,u3} = 2
    assert counts(result) == [3, 3, 2]
