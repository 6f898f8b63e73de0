"""The detector: known anomalies are flagged with the right expected value, clean seasonal
series are not, and too little history says so instead of guessing."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest

from fawkes_analytics.anomalies.changes import check_kpi
from fawkes_analytics.anomalies.detect import FLAGGED, NO_DATA, NOT_ENOUGH_HISTORY, NOT_FINAL, OK, Method, judge

from .conftest import BOUNCE, PAGEVIEWS, START, daily, weekly_counts

MEDIUM = 4.0


def test_a_drop_on_one_day_is_flagged_with_its_expected_value() -> None:
    # 84 days of pageviews: 40,000 x the weekly cycle x 2% noise, from Monday 1 June.
    values = weekly_counts(84)
    day = 78  # 78 = 11 weeks + 1 day: Tuesday 18 Aug, cycle 1.05 -> expected about 40,000 x 1.05 = 42,000
    clean_value = values[day]
    values[day] = 0.62 * 42_000  # 26,040: 38% below 42,000
    series = daily(PAGEVIEWS, values)
    check = check_kpi(series, "medium", START + timedelta(days=70), START + timedelta(days=83))
    assert check.status == FLAGGED
    assert [f.day for f in check.flags] == [START + timedelta(days=day)]
    flag = check.flags[0]
    # The expected value is the weekly cycle's Tuesday level: 42,000 within the 2% noise.
    assert flag.expected == pytest.approx(42_000, rel=0.03)
    assert flag.observed == pytest.approx(26_040)
    # change = 26,040 / expected - 1: -38% for an expected of 42,000 (within 2 points).
    assert flag.change == pytest.approx(-38.0, abs=2.0) and flag.change_unit == "percent"
    assert flag.direction == "down" and not flag.good and flag.z < -MEDIUM and flag.strength == -flag.z
    # "Pageviews on Tue 18 Aug were 38% below the expected 42,000" (expected to 3 figures).
    assert re.fullmatch(r"Pageviews on Tue 18 Aug were 3[6-9]% below the expected 4[12],\d00", flag.sentence)
    # The clean value of that day would not have been flagged.
    assert check.days.iloc[day - 70]["lower"] < clean_value < check.days.iloc[day - 70]["upper"]


def test_a_spike_in_a_rate_is_stated_in_points() -> None:
    # A bounce rate of 20% +-0.5 points (Gaussian), then 27% on day 70: 7 points above.
    rng = np.random.default_rng(3)
    values = 20.0 + rng.normal(0.0, 0.5, 84)
    values[70] = 27.0
    check = check_kpi(daily(BOUNCE, values), "medium", START + timedelta(days=56), START + timedelta(days=83))
    assert [f.day for f in check.flags] == [START + timedelta(days=70)]
    flag = check.flags[0]
    assert flag.expected == pytest.approx(20.0, abs=0.5) and flag.change == pytest.approx(7.0, abs=0.5)
    assert flag.change_unit == "points" and flag.direction == "up" and not flag.good  # a higher bounce rate is bad
    # Day 70 = 10 weeks: Monday 10 Aug. "..., 7.0 points above the expected 20.0%" (within 0.5).
    assert re.fullmatch(
        r"Bounce rate on Mon 10 Aug was 27\.0%, [67]\.\d points above the expected (19|20)\.\d%", flag.sentence
    )


def test_a_clean_seasonal_series_with_a_trend_is_not_flagged() -> None:
    # 26 weeks of counts growing 30% with the weekly cycle and 3% noise: judged from day 42.
    growth = np.linspace(1.0, 1.3, 182)
    series = daily(PAGEVIEWS, weekly_counts(182, noise=0.03, seed=7) * growth)
    verdicts = judge(series, MEDIUM)
    judged = verdicts[verdicts["status"].isin([OK, FLAGGED])]
    assert len(judged) == 182 - 42
    assert (judged["status"] == OK).all(), judged[judged["status"] == FLAGGED]
    # The weekend's lower level is expected, not flagged: Sunday's expected is about 0.4 / 1.0 of Monday's.
    sundays, mondays = (
        judged[judged["day"].map(lambda d: d.weekday() == 6)],
        judged[judged["day"].map(lambda d: d.weekday() == 0)],
    )
    assert (sundays["expected"].mean() / mondays["expected"].mean()) == pytest.approx(0.4 / 1.0, rel=0.05)


def test_a_level_shift_is_flagged_from_its_first_day() -> None:
    values = weekly_counts(112)
    values[84:] *= 0.7  # 30% lower from day 84 (a Monday) on
    verdicts = judge(daily(PAGEVIEWS, values), MEDIUM)
    assert verdicts.loc[84, "status"] == FLAGGED and verdicts.loc[84, "z"] < -MEDIUM
    assert (verdicts.loc[42:83, "status"] == OK).all()


def test_too_little_history_is_said_never_flagged() -> None:
    # A day is judged once 28 days came before it (to fit the weekly cycle) and 14 of those
    # were judged one step ahead (to measure the noise): the first judged day is day 42.
    values = weekly_counts(60)
    values[20] *= 3  # a tripling on day 20 is not judged: too early
    verdicts = judge(daily(PAGEVIEWS, values), MEDIUM)
    assert (verdicts.loc[:41, "status"] == NOT_ENOUGH_HISTORY).all()
    assert verdicts.loc[42:, "status"].isin([OK, FLAGGED]).all()
    assert verdicts.loc[:41, "z"].isna().all()

    short = check_kpi(
        daily(PAGEVIEWS, weekly_counts(30)), "medium", START + timedelta(days=23), START + timedelta(days=29)
    )
    assert short.status == NOT_ENOUGH_HISTORY and short.flags == [] and short.smallest_change is None
    assert "42 days of data" in short.message


def test_missing_and_unfinished_days_are_not_judged() -> None:
    values = weekly_counts(70)
    series = daily(PAGEVIEWS, values)
    series.frame.loc[50, "value"] = np.nan  # no data that day
    series.frame.loc[66:, "final"] = False  # the last days may still change (a funnel window)
    series.frame.loc[67, "value"] = 1.0  # an absurd provisional value: never flagged
    verdicts = judge(series, MEDIUM)
    assert verdicts.loc[50, "status"] == NO_DATA
    assert (verdicts.loc[66:, "status"] == NOT_FINAL).all()
    assert verdicts.loc[51:65, "status"].isin([OK, FLAGGED]).all()  # one missing day inside the history is filled


def test_a_quiet_day_is_held_to_its_own_noise() -> None:
    # A rate from 1,000 people a day, except one day with 4x fewer (twice the noise): a move
    # of 3 sigma of a normal day is 1.5 sigma of that quiet day, so it is not flagged there,
    # but the same move on a normal day with 16x more people (4x less noise) is.
    rng = np.random.default_rng(11)
    base = np.full(84, 1000.0)
    values = 20.0 + rng.normal(0.0, 1.0, 84)
    base[70], values[70] = 250.0, 20.0 + 4.5  # 4.5 points: 4.5 sigma normally, 2.25 sigma on 250 people
    base[77], values[77] = 16_000.0, 20.0 + 1.5  # 1.5 points: 1.5 sigma normally, 6 sigma on 16,000 people
    verdicts = judge(daily(BOUNCE, values, base), MEDIUM)
    assert verdicts.loc[70, "status"] == OK and verdicts.loc[77, "status"] == FLAGGED


def test_the_verdict_of_a_day_does_not_depend_on_later_days() -> None:
    values = weekly_counts(100)
    early = judge(daily(PAGEVIEWS, values[:80]), MEDIUM)
    later = judge(daily(PAGEVIEWS, values), MEDIUM)
    assert np.allclose(early["z"].to_numpy()[42:80], later["z"].to_numpy()[42:80])


def test_sensitivity_sets_the_threshold() -> None:
    # Day 70 is judged one step ahead, so its expected value and noise scale do not depend
    # on its own value: read them from the clean series (upper = expected x e^(4 x scale)),
    # then put day 70 at 4.5 scales below expected: flagged at high (3.5) and medium (4),
    # not at low (5).
    values = weekly_counts(84)
    clean = judge(daily(PAGEVIEWS, values), MEDIUM).loc[70]
    scale = np.log(clean["upper"] / clean["expected"]) / MEDIUM
    values[70] = clean["expected"] * np.exp(-4.5 * scale)
    series = daily(PAGEVIEWS, values)
    checks = {
        level: check_kpi(series, level, START + timedelta(days=70), START + timedelta(days=70))
        for level in ("low", "medium", "high")
    }
    assert {level: c.threshold for level, c in checks.items()} == {"low": 5.0, "medium": 4.0, "high": 3.5}
    assert checks["high"].days.loc[0, "z"] == pytest.approx(-4.5)
    assert {level: c.status for level, c in checks.items()} == {"low": OK, "medium": FLAGGED, "high": FLAGGED}
    assert check_kpi(series, 4.6, START + timedelta(days=70), START + timedelta(days=70)).status == OK
    assert Method().warm_up_days == 42
