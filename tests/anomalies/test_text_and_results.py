"""Flag sentences read as issue 21 writes them, and every result survives a JSON round trip."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from fawkes_analytics.anomalies.changes import check_kpi, ranked
from fawkes_analytics.anomalies.forecast import forecast_series
from fawkes_analytics.anomalies.kpis import KpiSpec
from fawkes_analytics.anomalies.results import AnomalyReport, Flag, ForecastReport, KpiCheck
from fawkes_analytics.anomalies.text import flag_sentence, significant

from .conftest import BOUNCE, PAGEVIEWS, START, daily, weekly_counts

DURATION = KpiSpec("visit_duration", "Visit duration", "duration", "s")
NPS = KpiSpec("nps", "NPS", "score", "points")
ONBOARDING = KpiSpec("conversion.onboarding", "Onboarding conversion", "rate", "%", settle_days=14)
TUESDAY = date(2026, 11, 24)


def test_sentences_per_kind_of_kpi() -> None:
    # 25,544 / 41,213 - 1 = -38.02% -> "38%"; 41,213 to three figures -> "41,200" (issue 21's example).
    assert (
        flag_sentence(PAGEVIEWS, TUESDAY, 25_544, 41_213, -38.02)
        == "Pageviews on Tue 24 Nov were 38% below the expected 41,200"
    )
    # 26.1 - 19.9 = 6.2 points.
    assert (
        flag_sentence(BOUNCE, TUESDAY, 26.1, 19.9, 6.2)
        == "Bounce rate on Tue 24 Nov was 26.1%, 6.2 points above the expected 19.9%"
    )
    # 330 s / 252 s - 1 = +31%; 252 s = 4 min 12 s.
    assert (
        flag_sentence(DURATION, TUESDAY, 330.0, 252.0, 30.95)
        == "Visit duration on Tue 24 Nov was 31% above the expected 4 min 12 s"
    )
    assert flag_sentence(NPS, TUESDAY, 12.0, 37.0, -25.0) == "NPS on Tue 24 Nov was 12, 25 points below the expected 37"
    assert (
        flag_sentence(ONBOARDING, date(2026, 11, 1), 18.0, 24.1, -6.1)
        == "Onboarding conversion on Sun 1 Nov was 18.0%, 6.1 points below the expected 24.1%"
    )
    assert [significant(v) for v in (41_213, 587.4, 1_131, 0.04567, 42_000)] == [
        "41,200",
        "587",
        "1,130",
        "0.0457",
        "42,000",
    ]


def _flag(kpi: str, day: date, z: float) -> Flag:
    return Flag(kpi, kpi, day, 1.0, 2.0, -50.0, "percent", z, "down" if z < 0 else "up", z > 0, "s")


def test_flags_rank_by_strength_then_newest() -> None:
    a, b, c = (
        _flag("visits", TUESDAY, -6.0),
        _flag("pageviews", TUESDAY, 9.0),
        _flag("visitors", TUESDAY - timedelta(days=1), 6.0),
    )
    d = _flag("bounce_rate", TUESDAY, 6.0)
    # strengths 9 > 6 = 6 = 6; among the 6s the newest day first, then by name.
    assert ranked([a, b, c, d]) == [b, d, a, c]


def _roundtrip(obj: object, cls: type) -> object:
    return cls.from_dict(json.loads(json.dumps(obj.to_dict())))  # type: ignore[attr-defined]


def test_anomaly_report_round_trips_through_json() -> None:
    values = weekly_counts(84)
    values[80] *= 0.5
    flagged = check_kpi(daily(PAGEVIEWS, values), "medium", START + timedelta(days=77), START + timedelta(days=83))
    short = check_kpi(daily(BOUNCE, np.full(20, 20.0)), 3.0, START + timedelta(days=14), START + timedelta(days=19))
    report = AnomalyReport(
        datetime(2026, 8, 24, 6, tzinfo=timezone.utc),
        "Europe/Berlin",
        START + timedelta(days=77),
        START + timedelta(days=83),
        [flagged, short],
        ranked(flagged.flags + short.flags),
        {"detector": {"history_days": 84}},
    )
    assert len(report.flags) == 1 and short.status == "not_enough_history"
    back = _roundtrip(report, AnomalyReport)
    assert back.to_dict() == report.to_dict()
    assert back.flags == report.flags and back.check("pageviews").kpi == PAGEVIEWS
    assert back.check("bounce_rate").sensitivity == 3.0 and back.check("bounce_rate").smallest_change is None
    pd.testing.assert_frame_equal(back.check("pageviews").days, flagged.days, check_dtype=False)
    assert isinstance(back.check("pageviews").days.loc[0, "day"], date)
    assert back.to_frames()["unusual_changes"].loc[0, "sentence"] == report.flags[0].sentence
    # A single check and a single flag round-trip on their own too.
    assert _roundtrip(flagged, KpiCheck).to_dict() == flagged.to_dict()
    assert _roundtrip(report.flags[0], Flag) == report.flags[0]


def test_forecast_report_round_trips_through_json() -> None:
    ok = forecast_series(daily(PAGEVIEWS, weekly_counts(70)))
    short = forecast_series(daily(BOUNCE, np.full(10, 20.0)))
    report = ForecastReport(datetime(2026, 8, 10, tzinfo=timezone.utc), "UTC", 14, 0.8, [ok, short])
    back = _roundtrip(report, ForecastReport)
    assert back.to_dict() == report.to_dict()
    pd.testing.assert_frame_equal(back.forecast("pageviews").points, ok.points, check_dtype=False)
    assert back.forecast("bounce_rate").status == "not_enough_history" and back.forecast("bounce_rate").points.empty
    assert list(report.to_frames()["forecast"]["kpi"].unique()) == ["pageviews"]
