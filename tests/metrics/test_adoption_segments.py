"""Feature adoption and engagement segments on hand-built scenarios."""

from __future__ import annotations

import math

import pytest

from fawkes_analytics.catalog import Catalog, Feature
from fawkes_analytics.errors import ConfigError, ParameterError
from fawkes_analytics.metrics import feature_adoption, user_segments, users_in_segment
from fawkes_analytics.metrics.adoption import trend_label
from fawkes_analytics.metrics.segments import parse_rules

from .conftest import event, span


def catalog(segments: dict | None = None) -> Catalog:
    features = {
        "deploy": Feature("deploy", "Deploy", ("deploy_start",)),
        "pipelines": Feature("pipelines", "Pipelines", ("run_pipeline",)),
        "docs": Feature("docs", "Docs", ("view_documentation",)),
    }
    return Catalog("test.yaml", features, {}, 10.0, segments or {})


WEEK = span("2026-03-08", "2026-03-15")  # previous period 03-01 .. 03-08


def test_feature_adoption_rates_and_trends(events_source):
    rows = [
        # Previous week: active x, y (2). deploy: x (50 %). docs: y (50 %).
        event("x", "2026-03-02 10:00:00", "deploy_start"),
        event("y", "2026-03-03 10:00:00", "view_documentation"),
        # This week: active a, b, c, d (4). deploy: a twice, b once -> 2 users, 3 uses, 50 %
        # (stable); pipelines: c -> 25 % (0 -> 25: +100 %, up); docs: nobody -> 0 (down).
        event("a", "2026-03-09 10:00:00", "deploy_start"),
        event("a", "2026-03-10 10:00:00", "deploy_start"),
        event("b", "2026-03-09 11:00:00", "deploy_start"),
        event("c", "2026-03-11 10:00:00", "run_pipeline"),
        event("d", "2026-03-12 10:00:00"),
    ]
    result = feature_adoption(events_source(rows), catalog(), WEEK, "day")
    assert (result.active_users, result.active_users_previous) == (4, 2)
    table = result.features.set_index("feature")
    assert table.loc["deploy", ["unique_users", "usage_count"]].tolist() == [2, 3]
    assert table.loc["deploy", "adoption_rate"] == 50.0 and table.loc["deploy", "trend"] == "stable"
    assert table.loc["pipelines", "adoption_rate"] == 25.0 and table.loc["pipelines", "trend"] == "up"
    assert table.loc["docs", "adoption_rate_previous"] == 50.0 and table.loc["docs", "trend"] == "down"
    assert table.loc["docs", "adoption_rate_change"] == -50.0  # percentage points (column renamed in issue 15)
    # Time series: 7 days x 3 features; on 03-09 deploy has a and b of 2 active users.
    series = result.timeseries
    assert len(series) == 21
    day = series[(series["feature"] == "deploy") & (series["start"].dt.day == 9)].iloc[0]
    assert (day["unique_users"], day["active_users"], day["adoption_rate"]) == (2, 2, 100.0)


def test_trend_threshold_is_strict():
    # Threshold 10 %: exactly +10 is stable, above is up, below -10 is down.
    assert trend_label(10.0, 10.0) == "stable"
    assert trend_label(10.01, 10.0) == "up"
    assert trend_label(-10.01, 10.0) == "down"
    assert trend_label(None, 10.0) == "stable"


def test_adoption_without_events_gives_zeros(events_source):
    result = feature_adoption(events_source([event("z", "2020-01-01 00:00:00")]), catalog(), WEEK)
    assert result.active_users == 0
    assert result.features["adoption_rate"].tolist() == [0.0, 0.0, 0.0]
    assert result.features["trend"].tolist() == ["stable"] * 3


# Segments: range ends 2026-03-29 00:00 UTC; horizon 28 days = [03-01, 03-29).
SEGMENT_ROWS = (
    # n: first seen 03-25 (within 7 days) -> new (although active on 4 of the last 7 days).
    [event("n", f"2026-03-{d} 12:00:00") for d in (25, 26, 27, 28)]
    # r: active 03-01 and 03-10, nothing in the last 14 days (from 03-15) -> at_risk.
    + [event("r", "2026-03-01 00:00:00"), event("r", "2026-03-10 12:00:00")]
    # p: seen since February; active 03-23..03-26 = 4 of the last 7 days -> power.
    + [event("p", "2026-02-01 12:00:00")]
    + [event("p", f"2026-03-{d} 12:00:00") for d in (23, 24, 25, 26)]
    # g: seen since February; active 03-20 and 03-27 (1 of last 7 days) -> regular.
    + [event("g", "2026-02-01 12:00:00"), event("g", "2026-03-20 12:00:00"), event("g", "2026-03-27 12:00:00")]
    # old: last seen in January -> not in the population.
    + [event("old", "2026-01-01 12:00:00")]
)
SEG_RANGE = span("2026-03-22", "2026-03-29")


def test_default_segments_each_user_in_exactly_one(events_source):
    source = events_source(SEGMENT_ROWS)
    cat = catalog()
    result = user_segments(source, cat, SEG_RANGE)
    sizes = dict(zip(result.segments["segment"], result.segments["users"], strict=True))
    assert sizes == {"new": 1, "at_risk": 1, "power": 1, "regular": 1}
    assert result.population == 4 and result.segments["share"].tolist() == [25.0] * 4
    members = {s: set(users_in_segment(source, cat, SEG_RANGE, s).execute()["user_id"]) for s in sizes}
    assert members == {"new": {"n"}, "at_risk": {"r"}, "power": {"p"}, "regular": {"g"}}
    # p: 4 active days of 28, 4 events, no features:
    # 10 * (0.5 * 4/28 + 0.3 * ln(5)/ln(1001)) = 1.4131...
    expected = 10 * (0.5 * 4 / 28 + 0.3 * math.log(5) / math.log(1001))
    power = result.segments.set_index("segment").loc["power"]
    assert power["mean_engagement"] == pytest.approx(expected)
    # L7 curve: g 1 day; n and p 4 days each; r is not active in the last 7 days.
    l7 = result.power_curve[result.power_curve["window"] == 7].set_index("days")["users"]
    assert l7[1] == 1 and l7[4] == 2 and l7.sum() == 3
    l28 = result.power_curve[result.power_curve["window"] == 28].set_index("days")["users"]
    assert l28[2] == 2 and l28[4] == 2  # r, g: 2 days; n, p: 4 days


def test_rule_order_decides_and_custom_rules(events_source):
    # Put power first: n (4 of the last 7 days) now lands in power, not new.
    rules = {
        "rules": [
            {"name": "power", "active_days_in_last_7_at_least": 4},
            {"name": "new", "first_seen_within_days": 7},
            {"name": "everyone"},
        ]
    }
    result = user_segments(events_source(SEGMENT_ROWS), catalog(rules), SEG_RANGE)
    sizes = dict(zip(result.segments["segment"], result.segments["users"], strict=True))
    # power: n, p; new: nobody left; everyone: r, g.
    assert sizes == {"power": 2, "new": 0, "everyone": 2}


def test_segment_filter_restricts_usage(events_source):
    from fawkes_analytics.metrics import usage_trends

    result = usage_trends(events_source(SEGMENT_ROWS), SEG_RANGE, segment="power", catalog=catalog())
    # Only p's 4 pageviews (03-23..03-26) in the range.
    assert result.pageviews == 4 and result.visitors == 1
    with pytest.raises(ParameterError, match="segment"):
        usage_trends(events_source(SEGMENT_ROWS), SEG_RANGE, segment="nope", catalog=catalog())


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ({"rules": [{"name": "x", "bogus": 1}]}, "segments.rules[0].bogus"),
        ({"rules": [{"name": "x", "active_within_days": 0}]}, "segments.rules[0].active_within_days"),
        (
            {"rules": [{"name": "x", "any": [{"active_days_in_last_7_at_least": 9}]}]},
            "segments.rules[0].any[0].active_days_in_last_7_at_least",
        ),
        ({"rules": [{"active_within_days": 3}]}, "segments.rules[0].name"),
        ({"rules": [{"name": "x"}, {"name": "x"}]}, "segments.rules[1].name"),
    ],
)
def test_bad_rules_name_the_key(rules, key):
    with pytest.raises(ConfigError) as info:
        parse_rules(catalog(rules))
    assert info.value.key == key


def test_project_catalog_rules_parse():
    from fawkes_analytics import catalog as catalog_module

    names = [r.name for r in parse_rules(catalog_module.load())]
    assert names == ["new", "at_risk", "power", "regular"]
