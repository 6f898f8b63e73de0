"""The notebook API of funnels: ``Funnel.of``, ``people()`` with real timestamps, and the
attempt rows (``funnel_attempts``) that a rollup materialises once and reports read back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from fawkes_analytics.catalog import Exclusion, Funnel, FunnelStep
from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics.funnels import funnel_attempts, funnel_report, people

from .funnel_oracle_harness import oracle_summary
from .test_funnels import RANGE, T, ev, funnel


def test_funnel_of_builds_a_funnel_in_one_line() -> None:
    f = Funnel.of(
        "sign_up",
        "profile_setup",
        ("first_deployment", "First deploy"),
        window="14d",
        order="strict",
        exclude={"account_deleted": (1, 3)},
        breakdown="$browser",
    )
    assert f.steps == (
        FunnelStep("sign_up", "Sign up"),
        FunnelStep("profile_setup", "Profile setup"),
        FunnelStep("first_deployment", "First deploy"),
    )
    assert (f.order, f.window, f.breakdown) == ("strict", timedelta(days=14), "$browser")
    assert f.exclusions == (Exclusion("account_deleted", 1, 3),)
    assert f.title == "Sign up → Profile setup → First deploy"
    # defaults: ordered, 14 days, no exclusions; a timedelta or seconds work as windows too
    plain = Funnel.of("a", "b", window=timedelta(hours=2))
    assert (plain.order, plain.window, plain.exclusions, plain.name) == ("ordered", timedelta(hours=2), (), "funnel")
    assert Funnel.of("a", "b", window=90).window == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        (("a",), {}, "steps"),
        (("a", 3), {}, "steps[1]"),
        (("a", "b"), {"window": "14x"}, "window"),
        (("a", "b"), {"window": timedelta(0)}, "window"),
        (("a", "b"), {"order": "random"}, "order"),
        (("a", "b"), {"exclude": {"x": (2, 1)}}, "exclude"),
        (("a", "b"), {"exclude": {"x": (1, 3)}}, "exclude"),
        (("a", "b"), {"exclude": {"x": 1}}, "exclude"),
        (("a", "b"), {"breakdown": "bad name!"}, "breakdown"),
    ],
)
def test_funnel_of_names_the_bad_argument(args: tuple, kwargs: dict, name: str) -> None:
    with pytest.raises(ParameterError) as info:
        Funnel.of(*args, **kwargs)
    assert info.value.name == name


def test_people_lists_each_result_with_utc_timestamps(make_source) -> None:
    rows = [
        ev("u1", 0, "a"),
        ev("u1", 7.5, "b"),  # converts: step times T and T + 7 min 30 s
        ev("u2", 0, "a"),
        ev("u2", 1, "x"),
        ev("u2", 2, "b"),  # voided between 1 and 2: left out
        ev("u3", -3 * 24 * 60, "a"),  # previous period, step 1 only
    ]
    f = funnel("a", "b", exclusions=(Exclusion("x", 1, 2),))
    found = people(make_source(events=pd.DataFrame(rows)), f, RANGE)
    assert found[["user_id", "period", "steps_reached"]].values.tolist() == [
        ["u1", "current", 2],
        ["u3", "previous", 1],
    ]
    first = found.iloc[0]
    assert first["step_1_at"] == T and first["step_2_at"] == T + pd.Timedelta(minutes=7.5)
    assert str(found["step_1_at"].dt.tz) == "UTC"
    assert pd.isna(found.iloc[1]["step_2_at"])
    assert found["breakdown_value"].tolist() == ["(none)", "(none)"]


def test_attempt_rows_from_an_earlier_since_give_the_same_report(make_source) -> None:
    day = 24 * 60
    rows = [
        # u1 has three step-1 events alone at their times: Feb 28 23:50, Mar 1 00:01 (the first
        # of the range), Mar 8 00:30 (after it). Over all of u1's events PostHog's neighbour
        # filter drops the middle one (same vector before and after); the range's own run
        # has no earlier neighbour, so it keeps it and u1 enters the range: current [1, 0].
        ev("u1", -(day + 10 * 60) - 10, "a"),
        ev("u1", -(day + 10 * 60) + 1, "a"),
        ev("u1", 6 * day + 14 * 60 + 30, "a"),
        # u2: a and b at one instant (so the rows come from the per-person numbering), converts
        ev("u2", 0, "a"),
        ev("u2", 0, "b"),
        ev("u2", 3, "b"),
    ]
    source = make_source(events=pd.DataFrame(rows))
    f = funnel("a", "b")
    direct = funnel_report(source, f, RANGE)
    assert direct.steps["count"].tolist() == [2, 1]  # u1 (step 1), u2
    assert direct.steps["previous_count"].tolist() == [1, 0]  # u1's Feb 28 attempt
    current, previous = oracle_summary(rows, f, RANGE)
    assert (current.counts, previous.counts) == ([2, 1], [1, 0])
    attempts = funnel_attempts(source.events(), f, since=datetime(2026, 2, 1))
    frame = attempts.execute()
    kept_by_filter = frame[frame["phantom_before"].notna()]
    assert kept_by_filter["user_id"].tolist() == ["u1"]  # the dropped step-1 event, kept aside
    rolled = funnel_report(source, f, RANGE, attempts=attempts)
    assert rolled.to_dict() == direct.to_dict()


def test_unordered_funnels_have_no_range_independent_attempt_rows(make_source) -> None:
    source = make_source(events=pd.DataFrame([ev("u1", 0, "a")]))
    with pytest.raises(ParameterError) as info:
        funnel_attempts(source.events(), funnel("a", "b", order="unordered"))
    assert info.value.name == "funnel"
