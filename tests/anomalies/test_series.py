"""Daily series: a funnel's daily conversion is funnel_report over that one day, computed in
one pass; days before the data begins have no value."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from fawkes_analytics import catalog as catalog_module
from fawkes_analytics import sources
from fawkes_analytics.anomalies.kpis import all_kpis
from fawkes_analytics.anomalies.series import daily_series, day_range, funnel_series, last_complete_day
from fawkes_analytics.catalog import Funnel, FunnelStep
from fawkes_analytics.metrics.funnels import funnel_report
from fawkes_analytics.metrics.usage import usage_timeseries, usage_trends

from .conftest import event

SIGN_UP = Funnel("signup", "Sign-up", (FunnelStep("a", "A"), FunnelStep("b", "B")), window=timedelta(hours=1))


def test_daily_conversion_counts_each_entrant_once_per_day(make_source, engine: str) -> None:  # noqa: ANN001
    events = pd.DataFrame(
        [
            # Mon 2 Mar: u1 converts in 30 min; u2 never does; u3's b comes after the 1 h window;
            # u5 fails at 10:00 and converts from a second start at 15:00 (once, converted).
            event("u1", "2026-03-02 10:00:00", "a"),
            event("u1", "2026-03-02 10:30:00", "b"),
            event("u2", "2026-03-02 11:00:00", "a"),
            event("u3", "2026-03-02 12:00:00", "a"),
            event("u3", "2026-03-02 14:00:00", "b"),
            event("u5", "2026-03-02 10:00:00", "a"),
            event("u5", "2026-03-02 15:00:00", "a"),
            event("u5", "2026-03-02 15:05:00", "b"),
            # Tue 3 Mar: u1 again (a new day, a new entry); u4 enters at 23:50 and converts
            # 30 min later, after midnight: the conversion belongs to the day of entry.
            event("u1", "2026-03-03 09:00:00", "a"),
            event("u1", "2026-03-03 09:10:00", "b"),
            event("u4", "2026-03-03 23:50:00", "a"),
            event("u4", "2026-03-04 00:20:00", "b"),
            # Wed 4 Mar: only a step-2 event: nobody entered.
            event("u2", "2026-03-04 12:00:00", "b"),
        ]
    )
    source = make_source(engine, events=events)
    span = day_range(date(2026, 3, 2), date(2026, 3, 4), "UTC")
    series = funnel_series(source, SIGN_UP, span, final_until=date(2026, 3, 3))
    # Mon: 4 entrants (u1, u2, u3, u5), 2 converted (u1, u5) -> 50%; Tue: 2 of 2 -> 100%;
    # Wed: no entrant -> no value; Wed is also after final_until.
    assert list(series["base"]) == [4, 2, 0]
    assert series["value"].iloc[0] == pytest.approx(50.0) and series["value"].iloc[1] == pytest.approx(100.0)
    assert np.isnan(series["value"].iloc[2])
    assert list(series["final"]) == [True, True, False]
    # The same numbers as the funnel report over each single day.
    for i, day in enumerate((date(2026, 3, 2), date(2026, 3, 3))):
        report = funnel_report(source, SIGN_UP, day_range(day, day, "UTC"))
        assert (report.entered, report.conversion_rate_pct) == (series["base"].iloc[i], series["value"].iloc[i])


def test_demo_conversion_series_match_one_day_funnel_reports(demo_db) -> None:  # noqa: ANN001
    source = sources.connect(f"duckdb://{demo_db.path}")
    catalog = catalog_module.load()
    end = source.default_as_of()
    last = last_complete_day(end, "UTC")
    days = [last - timedelta(days=k) for k in (20, 9, 3)]
    for funnel in catalog.funnels.values():
        series = funnel_series(source, funnel, day_range(days[0], last, "UTC"), final_until=last).set_index("day")
        for day in days:
            report = funnel_report(source, funnel, day_range(day, day, "UTC"))
            assert series.loc[day, "base"] == report.entered, (funnel.name, day)
            expected = report.conversion_rate_pct
            assert (np.isnan(series.loc[day, "value"]) and expected is None) or series.loc[
                day, "value"
            ] == pytest.approx(expected), (funnel.name, day)


def test_every_kpi_has_a_series_that_starts_with_the_data(demo_db) -> None:  # noqa: ANN001
    source = sources.connect(f"duckdb://{demo_db.path}")
    catalog = catalog_module.load()
    as_of = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)  # the fixture's end: 60 days from 16 Sep 12:00
    first, last = date(2026, 9, 10), last_complete_day(as_of, "UTC")
    series = daily_series(source, catalog, first, last, as_of=as_of)
    assert list(series) == [k.name for k in all_kpis(catalog)]
    visits = series["visits"].frame.set_index("day")
    # Data from 16 Sep 12:00: days before it have no value, nor has 16 Sep (half a day).
    assert visits.loc[date(2026, 9, 10) : date(2026, 9, 16), "value"].isna().all()
    assert (visits.loc[date(2026, 9, 17) :, "value"] > 0).all() and last == date(2026, 11, 14)
    # Funnel days are final once their window has passed: onboarding's 14 days, deployment's 1.
    onboarding = series["conversion.onboarding"].frame.set_index("day")["final"]
    assert onboarding[date(2026, 10, 31)] and not onboarding[date(2026, 11, 1)]
    deployment = series["conversion.deployment"].frame.set_index("day")["final"]
    assert deployment[date(2026, 11, 13)] and not deployment[date(2026, 11, 14)]


def test_usage_timeseries_is_the_usage_reports_series(demo_db) -> None:  # noqa: ANN001
    source = sources.connect(f"duckdb://{demo_db.path}")
    span = day_range(date(2026, 10, 1), date(2026, 11, 14), "Europe/Berlin")
    pd.testing.assert_frame_equal(usage_timeseries(source, span), usage_trends(source, span, "day").timeseries)
