"""Forecasts continue the weekly cycle and the trend with an honest interval; the backtest and
the detection scores count what they say."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from fawkes_analytics.anomalies.backtest import InjectedChange, backtest_forecast, moved_days, score_detection
from fawkes_analytics.anomalies.forecast import ForecastSettings, forecast_series, seasonal_naive
from fawkes_analytics.anomalies.kpis import KpiSpec

from .conftest import BOUNCE, PAGEVIEWS, START, daily, weekly_counts

NPS = KpiSpec("nps", "NPS", "score", "points")


def test_forecast_continues_the_weekly_cycle() -> None:
    # 14 weeks of 40,000 x the weekly cycle x 2% noise; day 98 is a Monday (cycle 1.0),
    # day 103 a Saturday (0.45): expected about 40,000 and 18,000.
    result = forecast_series(daily(PAGEVIEWS, weekly_counts(98)))
    points = result.points
    assert result.status == "ok" and result.level == 0.8 and len(points) == 14
    assert result.last_day == START + timedelta(days=97)
    assert list(points["day"]) == [START + timedelta(days=98 + i) for i in range(14)]
    assert points.loc[0, "forecast"] == pytest.approx(40_000, rel=0.04)
    assert points.loc[5, "forecast"] == pytest.approx(18_000, rel=0.04)
    # An 80% interval for 2% noise: about +-1.28 x 2% = +-2.6% the first day, never narrower.
    assert (points["lower"] < points["forecast"]).all() and (points["forecast"] < points["upper"]).all()
    width = (points["upper"] - points["lower"]) / points["forecast"]
    assert 0.04 < width.iloc[0] < 0.10 and (width.diff().dropna() > -1e-9).all()


def test_forecast_follows_a_trend() -> None:
    # Growing 0.5% a day: a week later the same weekday is about 1.005^7 = +3.6% higher.
    values = weekly_counts(98, noise=0.01) * 1.005 ** np.arange(98)
    points = forecast_series(daily(PAGEVIEWS, values)).points
    assert points.loc[0, "forecast"] / values[91] == pytest.approx(1.036, abs=0.02)


def test_one_odd_day_does_not_bend_the_forecast_but_a_new_level_does() -> None:
    # An outage (a tenth of the traffic) 10 days before the end is an isolated outlier: the
    # forecast is the same as without it (within 1%). The same drop on the last 7 days is a
    # new level: the forecast follows it (about 10% of the old level, within a third).
    values = weekly_counts(98)
    normal = forecast_series(daily(PAGEVIEWS, values)).points["forecast"]
    outage = values.copy()
    outage[88] *= 0.1
    assert np.allclose(forecast_series(daily(PAGEVIEWS, outage)).points["forecast"], normal, rtol=0.01)
    shifted = values.copy()
    shifted[91:] *= 0.1
    ratio = forecast_series(daily(PAGEVIEWS, shifted)).points["forecast"] / normal
    assert ratio.between(0.1 / 1.33, 0.1 * 1.33).all(), ratio


def test_rates_stay_between_0_and_100() -> None:
    rng = np.random.default_rng(2)
    values = np.clip(1.0 + rng.normal(0.0, 0.8, 70), 0.0, None)  # a 1% rate with 0.8 points of noise
    points = forecast_series(daily(BOUNCE, values)).points
    assert (points["lower"] >= 0).all() and (points["upper"] <= 100).all() and (points["lower"] == 0).any()


def test_too_little_history_is_said() -> None:
    result = forecast_series(daily(PAGEVIEWS, weekly_counts(27)))
    assert result.status == "not_enough_history" and result.points.empty
    assert "27 days of history, 28 needed" in result.message


def test_a_funnel_forecast_starts_after_its_last_final_day() -> None:
    series = daily(BOUNCE, 20.0 + np.random.default_rng(4).normal(0.0, 1.0, 70))
    series.frame.loc[60:, "final"] = False  # conversion window still open for the last 10 days
    result = forecast_series(series, ForecastSettings(horizon=7))
    assert result.last_day == START + timedelta(days=59) and result.points.loc[0, "day"] == START + timedelta(days=60)


def test_seasonal_naive_repeats_the_last_week() -> None:
    assert list(seasonal_naive(np.arange(1.0, 15.0), 9)) == [8, 9, 10, 11, 12, 13, 14, 8, 9]


def test_backtest_scores_against_the_seasonal_naive_forecast() -> None:
    # Gaussian noise around a fixed weekly cycle: the seasonal-naive error is the difference
    # of two noise draws, like its in-sample scale, so its MASE is about 1; a model that
    # averages the level errs by about one draw: MASE about 1/sqrt(2) = 0.71. The 80% interval
    # holds about 80% of the actual values.
    rng = np.random.default_rng(8)
    values = 1000.0 * (1 + 0.2 * np.sin(np.arange(182) * 2 * np.pi / 7)) + rng.normal(0.0, 30.0, 182)
    score = backtest_forecast(daily(NPS, values), origins=8)
    assert score.origins == 8 and score.points == 8 * 14
    assert score.mase_seasonal_naive == pytest.approx(1.0, abs=0.2)
    assert score.mase == pytest.approx(0.71, abs=0.15) and score.mase < score.mase_seasonal_naive
    assert 0.65 <= score.coverage <= 0.95


def test_detection_scores() -> None:
    d1, d2, d3, d4 = (START + timedelta(days=i) for i in (1, 2, 3, 4))
    flags = {("visits", d1), ("visits", d2), ("pageviews", d1), ("nps", d3)}
    injected = [InjectedChange("visits", "spike", 0.3, (d1,)), InjectedChange("bounce_rate", "drop", 0.3, (d4,))]
    moved = {("visits", d1), ("pageviews", d1), ("visitors", d1)}
    score = score_detection(flags, injected, moved)
    # True flags: visits d1 (injected) and pageviews d1 (moved by it): 2 of 4 flags.
    # Detected: the visits spike on d1; the bounce drop on d4 was missed: 1 of 2.
    assert (score.flags, score.true_flags, score.precision) == (4, 2, 0.5)
    assert (score.injected, score.detected, score.recall) == (2, 1, 0.5)


def test_moved_days_use_share_or_points() -> None:
    clean = {
        "visits": daily(PAGEVIEWS, np.array([100.0, 100.0, 100.0])),
        "nps": daily(NPS, np.array([10.0, 10.0, np.nan])),
    }
    injected = {
        "visits": daily(PAGEVIEWS, np.array([100.0, 109.0, 111.0])),
        "nps": daily(NPS, np.array([19.0, 21.0, 5.0])),
    }
    # visits: +9% is under 10%, +11% is over; NPS: 9 points under 10, 11 over; a value where
    # the clean day had none counts as moved.
    assert moved_days(clean, injected) == {
        ("visits", START + timedelta(days=2)),
        ("nps", START + timedelta(days=1)),
        ("nps", START + timedelta(days=2)),
    }


def test_the_sampling_floor_is_the_days_own_noise() -> None:
    from fawkes_analytics.anomalies.backtest import BUDGET_Z, nps_response_sd, oracle_detection, sampling_floor

    # A 24% conversion on 128 entrants: binomial SD sqrt(0.24 * 0.76 / 128) = 0.0377, i.e. 15.7%
    # of the rate; at |z| 2.54 the smallest flaggable change is 2.54 * 15.7% = 39.9%.
    assert sampling_floor("rate", 24.0, 128) == pytest.approx(0.399, abs=0.001)
    # 6,400 visits (Poisson): 2.54 / 80 = 3.2%.
    assert sampling_floor("count", 6400.0, 6400) == pytest.approx(0.0318, abs=0.0001)
    # NPS from 30% promoters and 20% detractors: one answer's SD 100 * sqrt(0.5 - 0.1^2) = 70;
    # on 12 answers 70 / sqrt(12) = 20.2 points, at |z| 2.54: 51.3 points.
    sd = nps_response_sd(30, 20, 100)
    assert sd == pytest.approx(70.0)
    assert sampling_floor("score", 10.0, 12, response_sd=sd) == pytest.approx(51.3, abs=0.1)
    assert BUDGET_Z == pytest.approx(2.54, abs=0.005)  # two-sided normal tail of 1/90
    assert sampling_floor("rate", 24.0, 0) == float("inf") and np.isnan(sampling_floor("duration", 250.0, 100))
    # An oracle flags a 40% change on a day whose floor is 41% when the noise adds at least
    # 1 of the 41 points: Phi(2.54 * 40 / 41 - 2.54) = Phi(-0.062) = 0.475; 25% on a 50% floor:
    # Phi(-1.27) = 0.102; a change of twice the floor: Phi(2.54) = 0.994.
    assert oracle_detection(40.0, 41.0) == pytest.approx(0.475, abs=0.001)
    assert oracle_detection(-25.0, 50.0) == pytest.approx(0.102, abs=0.001)
    assert oracle_detection(80.0, 40.0) == pytest.approx(0.994, abs=0.001)
    assert (oracle_detection(30.0, float("nan")), oracle_detection(30.0, float("inf"))) == (1.0, 0.0)
