"""Retention cohorts, lifecycle and NPS on hand-built scenarios."""

from __future__ import annotations

import pandas as pd
import pytest

from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics import feedback_summary, lifecycle, retention

from .conftest import event, span

RETENTION_ROWS = [
    # u1: sign_up 03-01, login 03-02 and 03-04 -> cohort 03-01, periods 1 and 3.
    event("u1", "2026-03-01 09:00:00", "sign_up"),
    event("u1", "2026-03-02 09:00:00", "login"),
    event("u1", "2026-03-04 09:00:00", "login"),
    # u2: sign_up 03-01, login 03-03 -> period 2.
    event("u2", "2026-03-01 10:00:00", "sign_up"),
    event("u2", "2026-03-03 10:00:00", "login"),
    # u3: sign_up and login on 03-02 -> cohort 03-02, period 0 only.
    event("u3", "2026-03-02 08:00:00", "sign_up"),
    event("u3", "2026-03-02 09:00:00", "login"),
    # u4: first sign_up before the range -> in no cohort.
    event("u4", "2026-02-20 08:00:00", "sign_up"),
    event("u4", "2026-03-02 08:00:00", "login"),
    # u5: sign_up 03-01 and again 03-03 (cohort by first occurrence: 03-01), never returns.
    event("u5", "2026-03-01 11:00:00", "sign_up"),
    event("u5", "2026-03-03 11:00:00", "sign_up"),
]


def test_retention_on_and_on_or_after(events_source):
    result = retention(events_source(RETENTION_ROWS), span("2026-03-01", "2026-03-05"), "sign_up", "login", "day")
    table = result.cohorts.set_index(["cohort", "period"])
    # Cohort 03-01: u1, u2, u5 -> size 3. On period: p1 u1, p2 u2, p3 u1 -> 1, 1, 1.
    # On or after: p1 {u1 (max 3), u2 (max 2)} = 2, p2 = 2, p3 = {u1} = 1.
    assert table.loc[(0, 0), "size"] == 3
    assert [table.loc[(0, n), "on"] for n in range(4)] == [3, 1, 1, 1]
    assert [table.loc[(0, n), "on_or_after"] for n in range(4)] == [3, 2, 2, 1]
    assert table.loc[(0, 1), "rate_on_or_after"] == pytest.approx(200 / 3)
    # Cohort 03-02: u3 only; periods 0..2 observable (range ends 03-05); nothing retained.
    assert table.loc[(1, 0), "size"] == 1 and [table.loc[(1, n), "on"] for n in range(3)] == [1, 0, 0]
    assert len(result.cohorts) == 4 + 3  # cohort 0: periods 0-3; cohort 1: periods 0-2
    assert result.matrix_on.columns.tolist() == ["cohort_start", "size", "period_0", "period_1", "period_2", "period_3"]


def test_retention_rejects_unknown_period(events_source):
    with pytest.raises(ParameterError, match="period"):
        retention(events_source(RETENTION_ROWS), span("2026-03-01", "2026-03-05"), period="month")


def test_lifecycle(events_source):
    rows = [
        # u1: first ever 03-02, active 03-03 -> new, returning, then dormant on 03-04.
        event("u1", "2026-03-02 10:00:00"),
        event("u1", "2026-03-03 10:00:00"),
        # u2: old user, active 03-01, absent 03-02 (dormant), back 03-03 (resurrecting),
        # absent 03-04 (dormant again).
        event("u2", "2026-02-20 10:00:00"),
        event("u2", "2026-03-01 10:00:00"),
        event("u2", "2026-03-03 10:00:00"),
        # u3: first 03-01, active 03-02 (returning), absent 03-03 (dormant).
        event("u3", "2026-03-01 10:00:00"),
        event("u3", "2026-03-02 10:00:00"),
        # u4: first ever 03-04 -> new.
        event("u4", "2026-03-04 23:59:59"),
    ]
    result = lifecycle(events_source(rows), span("2026-03-02", "2026-03-05"), "day")
    frame = result.periods
    assert [str(s.date()) for s in frame["start"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert frame["new"].tolist() == [1, 0, 1]
    assert frame["returning"].tolist() == [1, 1, 0]
    assert frame["resurrecting"].tolist() == [0, 1, 0]
    assert frame["dormant"].tolist() == [1, 1, 2]


def feedback_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "score", "kind", "category"])


def test_nps_and_ratings(make_source):
    fb = feedback_frame(
        [
            # This week (NPS): 10, 9 promoters; 8, 7 passives; 6, 0 detractors -> (2 - 2) / 6 = 0.
            ("a", "2026-03-09T10:00:00Z", 10, "nps", "ui"),
            ("b", "2026-03-09T11:00:00Z", 9, "nps", "ui"),
            ("c", "2026-03-10T10:00:00Z", 8, "nps", "ui"),
            ("d", "2026-03-10T11:00:00Z", 7, None, None),
            ("e", "2026-03-11T10:00:00Z", 6, "nps", None),
            ("f", "2026-03-11T11:00:00Z", 0, "nps", None),
            # Previous week: 10, 10, 3 -> (2 - 1) / 3 = 33.3; change -33.3 points.
            ("g", "2026-03-02T10:00:00Z", 10, "nps", "ui"),
            ("h", "2026-03-03T10:00:00Z", 10, "nps", "ui"),
            ("i", "2026-03-04T10:00:00Z", 3, "nps", "ui"),
            # Ratings this week: 4, 5, 5 -> mean 14 / 3.
            ("a", "2026-03-09T12:00:00Z", 4, "rating", "docs"),
            ("b", "2026-03-10T12:00:00Z", 5, "rating", "docs"),
            ("c", "2026-03-10T13:00:00Z", 5, "rating", "docs"),
        ]
    )
    source = make_source(events=pd.DataFrame([event("a", "2026-03-09 10:00:00")]), feedback=fb)
    result = feedback_summary(source, span("2026-03-08", "2026-03-15"), "day")
    assert (result.responses, result.promoters, result.passives, result.detractors) == (6, 2, 2, 2)
    assert result.nps == 0.0
    assert result.nps_previous == pytest.approx(100 / 3)
    assert result.nps_change == pytest.approx(-100 / 3)
    # By category: ui = 10, 9, 8 -> 2/3 promoters = +66.7; (none) = 7, 6, 0 -> -66.7.
    cats = result.nps_by_category.set_index("category")["nps"]
    assert cats["ui"] == pytest.approx(200 / 3) and cats["(none)"] == pytest.approx(-200 / 3)
    assert result.rating_distribution["responses"].tolist() == [1, 2]
    assert result.rating_mean == pytest.approx(14 / 3)
    # Daily NPS: 03-09 has 10 and 9 -> 100; days without answers have no NPS (not 0).
    series = result.nps_timeseries.set_index(result.nps_timeseries["start"].dt.day)
    assert series.loc[9, "nps"] == 100.0 and pd.isna(series.loc[12, "nps"])
    assert result.to_dict()["nps_timeseries"][4]["nps"] is None  # 03-12 in JSON


def test_feedback_without_responses(make_source):
    # The only answer is a year older than both periods.
    fb = feedback_frame([("a", "2025-03-09T10:00:00Z", 9, "nps", None)])
    source = make_source(events=pd.DataFrame([event("a", "2026-03-09 10:00:00")]), feedback=fb)
    result = feedback_summary(source, span("2026-03-08", "2026-03-15"))
    assert result.responses == 0 and result.nps is None and result.nps_change is None
    assert result.rating_mean is None and result.to_dict()["nps"] is None


def test_every_family_survives_a_range_without_data(events_source):
    from fawkes_analytics.catalog import Catalog, Feature
    from fawkes_analytics.metrics import feature_adoption, usage_trends, user_segments

    # One event years before the range: every family returns zeros/None, no exception.
    source = events_source([event("z", "2020-01-01 00:00:00", "sign_up")])
    tr = span("2026-03-01", "2026-03-08")
    cat = Catalog("t.yaml", {"f": Feature("f", "F", ("x",))}, {}, 10.0, {})
    assert retention(source, tr, "sign_up").cohorts.empty
    assert lifecycle(source, tr, "day").periods[["new", "returning", "resurrecting", "dormant"]].sum().sum() == 0
    assert usage_trends(source, tr).visits == 0
    assert feature_adoption(source, cat, tr).features["unique_users"].tolist() == [0]
    segments = user_segments(source, cat, tr)
    assert segments.population == 0 and segments.segments["share"].tolist() == [0.0] * 4
    assert segments.to_dict()["population"] == 0
