"""Usage trends and sessions pinned to Plausible's rules (SEMANTICS.md, "Web usage")."""

from __future__ import annotations

import pandas as pd
import pytest

from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics import sessions_in, usage_trends

from .conftest import event, span

# Scenario on 2026-03-01 (UTC), previous period 2026-02-28:
#   a: pageviews 10:00:00, 10:30:00 (gap exactly 30 min: same session), 11:00:01 (gap 30 min
#      1 s: new session)             -> sessions a1 (2 pv, 1800 s), a2 (1 pv, bounce, 0 s)
#   b: pageview 12:00:00 + custom 'click' 12:00:05 -> one session, NOT a bounce, 5 s
#   c: pageview 13:00:00              -> bounce, 0 s; c also had a bounce on 02-28 12:00
SCENARIO = [
    event("a", "2026-03-01 10:00:00", page="/home", source="google"),
    event("a", "2026-03-01 10:30:00", page="/docs"),
    event("a", "2026-03-01 11:00:01", page="/docs", referrer="news.example"),
    event("b", "2026-03-01 12:00:00", page="/pricing", utm_source="mail", utm_campaign="spring"),
    event("b", "2026-03-01 12:00:05", "click", page="/pricing"),
    event("c", "2026-03-01 13:00:00", page="/home"),
    event("c", "2026-02-28 12:00:00", page="/home"),
]
DAY = span("2026-03-01", "2026-03-02")


def test_session_gap_boundary_and_bounces(events_source):
    source = events_source(SCENARIO)
    table = sessions_in(source, DAY).execute().sort_values(["user_id", "session_no"]).reset_index(drop=True)
    # a: 2 sessions (30:00 joins, 30:01 splits); b: 1; c: 1 (in range) -> 4 sessions.
    assert table["user_id"].tolist() == ["a", "a", "b", "c"]
    assert table["pageviews"].tolist() == [2, 1, 1, 1]
    assert table["events"].tolist() == [2, 1, 2, 1]
    assert table["duration"].tolist() == [1800.0, 0.0, 5.0, 0.0]
    # Bounce = exactly one pageview and nothing else; b's pageview + click is not a bounce.
    assert table["is_bounce"].tolist() == [False, True, False, True]
    # Entry page / source come from the session's first event.
    assert table["entry_page"].tolist() == ["/home", "/docs", "/pricing", "/home"]
    assert table["source"].tolist()[0] == "google"
    assert table["referrer"].tolist()[1] == "news.example"


def test_usage_kpis_and_comparison(events_source):
    result = usage_trends(events_source(SCENARIO), DAY, "day")
    # visits 4; pageviews a3 + b1 + c1 = 5; views/visit 5/4 = 1.25; bounces a2, c = 2 -> 50 %;
    # duration (1800 + 0 + 5 + 0) / 4 = 451.25 s; visitors/active a, b, c = 3; total 3.
    assert (result.visits, result.pageviews, result.visitors, result.active_users, result.total_users) == (
        4,
        5,
        3,
        3,
        3,
    )
    assert result.views_per_visit == pytest.approx(1.25)
    assert result.bounce_rate == pytest.approx(50.0)
    assert result.visit_duration == pytest.approx(451.25)
    # Previous day: c's one bounce -> visits 1, bounce rate 100, duration 0, total users 1.
    assert result.previous["visits"] == 1 and result.previous["bounce_rate"] == 100.0
    assert result.previous["total_users"] == 1
    # visits 1 -> 4: +300 %; bounce rate 100 -> 50: -50 points (not -50 %... also -50, so
    # check duration too): 0 -> 451.25 is +100 by Plausible's rule; total users 1 -> 3 +200 %.
    assert result.change["visits"] == pytest.approx(300.0)
    assert result.change["bounce_rate"] == pytest.approx(-50.0)
    assert result.change["visit_duration"] == 100.0
    assert result.change["total_users"] == pytest.approx(200.0)
    kpis = {k.name: k for k in result.kpis}
    assert kpis["bounce_rate"].change_unit == "points" and kpis["visits"].change_unit == "percent"
    # Breakdown tables.
    pages = result.top_pages.set_index("page")
    # /home: a and c (2 visitors, 2 views); /docs: a (1, 2); /pricing: b (1, 1).
    assert pages.loc["/home", "visitors"] == 2 and pages.loc["/docs", "pageviews"] == 2
    assert result.top_pages["page"].tolist() == ["/home", "/docs", "/pricing"]
    entry = result.entry_pages.set_index("page")
    # Entries: /home (a1, c: 2 visits, 1 bounce -> 50 %), /docs (a2, bounce), /pricing (b).
    assert entry.loc["/home", "visits"] == 2 and entry.loc["/home", "bounce_rate"] == 50.0
    sources = result.sources.set_index("source")
    # a1 google, a2 referrer news.example, b utm_source mail, c direct.
    assert set(sources.index) == {"google", "news.example", "mail", "Direct / None"}
    assert result.utm_campaigns["utm_campaign"].tolist() == ["spring"]
    # One daily bucket equal to the headline numbers.
    assert result.timeseries[["visits", "pageviews", "visitors"]].iloc[0].tolist() == [4, 5, 3]
    frames = result.to_frames()
    assert {"kpis", "timeseries", "top_pages"} <= set(frames)
    assert result.to_dict()["kpis"][0]["name"] == "total_users"


def test_bounce_rate_change_is_in_points(events_source):
    # Previous day: 2 visits, 1 bounce (50 %); this day: 4 visits, 1 bounce (25 %).
    # Points: 25 - 50 = -25 (a percent change would be -50).
    rows = [
        event("p", "2026-02-28 08:00:00"),
        event("p", "2026-02-28 08:01:00"),
        event("q", "2026-02-28 09:00:00"),
        event("p", "2026-03-01 08:00:00"),
        event("p", "2026-03-01 08:01:00"),
        event("q", "2026-03-01 09:00:00"),
        event("q", "2026-03-01 09:01:00"),
        event("r", "2026-03-01 10:00:00"),
        event("r", "2026-03-01 10:00:30", "signup"),
        event("s", "2026-03-01 11:00:00"),
    ]
    result = usage_trends(events_source(rows), DAY)
    assert result.bounce_rate == 25.0 and result.previous["bounce_rate"] == 50.0
    assert result.change["bounce_rate"] == -25.0


def test_session_crossing_range_start_belongs_to_where_it_starts(events_source):
    # d: 23:50 on 02-28 and 00:10 on 03-01 (20 min gap): one session starting on 02-28.
    rows = [event("d", "2026-02-28 23:50:00"), event("d", "2026-03-01 00:10:00", page="/x")]
    result = usage_trends(events_source(rows), DAY)
    # The visit is the previous day's; the 00:10 pageview still counts on 03-01.
    assert result.visits == 0 and result.previous["visits"] == 1
    assert result.pageviews == 1 and result.previous["pageviews"] == 1
    assert result.previous["visit_duration"] == 1200.0


def test_empty_range_gives_zeros(events_source):
    result = usage_trends(events_source([event("z", "2025-01-01 00:00:00")]), DAY)
    assert (result.visits, result.pageviews, result.visitors, result.bounce_rate, result.visit_duration) == (
        0,
        0,
        0,
        0.0,
        0.0,
    )
    # Both periods 0 -> change 0; total users counts z (seen before the end): 1 -> 1 = 0 %.
    assert result.change["visits"] == 0.0 and result.change["total_users"] == 0.0
    assert result.total_users == 1
    assert result.top_pages.empty and result.timeseries["visits"].sum() == 0


def test_day_buckets_follow_the_time_zone_across_dst(events_source):
    # Europe/Berlin switches to summer time on 2026-03-29 at 02:00 (UTC+1 -> UTC+2).
    # a 2026-03-28 23:30 UTC = 03-29 00:30 CET   -> local day 03-29
    # a 2026-03-29 21:30 UTC = 03-29 23:30 CEST  -> local day 03-29 (same user: 1 visitor)
    # b 2026-03-29 22:30 UTC = 03-30 00:30 CEST  -> local day 03-30
    rows = [event("a", "2026-03-28 23:30:00"), event("a", "2026-03-29 21:30:00"), event("b", "2026-03-29 22:30:00")]
    source = events_source(rows)
    result = usage_trends(source, span("2026-03-28", "2026-03-31", tz="Europe/Berlin"), "day")
    series = result.timeseries
    assert [str(s.date()) for s in series["start"]] == ["2026-03-28", "2026-03-29", "2026-03-30"]
    assert series["visitors"].tolist() == [0, 1, 1] and series["pageviews"].tolist() == [0, 2, 1]
    assert series["start"].iloc[1] == pd.Timestamp("2026-03-29 00:00", tz="Europe/Berlin")
    assert series["start"].iloc[2].utcoffset() == pd.Timedelta(hours=2)
    # The local day of the change has 23 hourly buckets; the autumn change day has 25.
    spring = usage_trends(source, span("2026-03-29", "2026-03-30", tz="Europe/Berlin"), "hour")
    assert len(spring.timeseries) == 23
    autumn = usage_trends(source, span("2026-10-25", "2026-10-26", tz="Europe/Berlin"), "hour")
    assert len(autumn.timeseries) == 25
    # Weekly bucket (Mon 03-23 .. Sun 03-29 local): a counted once though active twice.
    week = usage_trends(source, span("2026-03-23", "2026-03-30", tz="Europe/Berlin"), "week")
    assert week.timeseries["visitors"].tolist() == [1] and week.timeseries["pageviews"].tolist() == [2]


def test_unknown_granularity_is_a_parameter_error(events_source):
    with pytest.raises(ParameterError, match="granularity"):
        usage_trends(events_source(SCENARIO), DAY, "month")


def test_sessions_since_a_moment_are_exact(events_source):
    from fawkes_analytics.metrics.sessions import sessions

    # e: every 20 min from 21:00 to 01:00 (one session starting 21:00, before `since`),
    # then 02:00 and 02:29 (new session at 02:00: gap 60 min). f: 23:59 and 00:20.
    times = [
        "2026-02-28 21:00:00",
        "2026-02-28 21:20:00",
        "2026-02-28 21:40:00",
        "2026-02-28 22:00:00",
        "2026-02-28 22:20:00",
        "2026-02-28 22:40:00",
        "2026-02-28 23:00:00",
        "2026-02-28 23:20:00",
        "2026-02-28 23:40:00",
        "2026-03-01 00:00:00",
        "2026-03-01 00:20:00",
        "2026-03-01 00:40:00",
        "2026-03-01 01:00:00",
        "2026-03-01 02:00:00",
        "2026-03-01 02:29:00",
    ]
    rows = [event("e", t) for t in times] + [event("f", "2026-02-28 23:59:00"), event("f", "2026-03-01 00:20:00")]
    source = events_source(rows)
    since = pd.Timestamp("2026-03-01", tz="UTC").to_pydatetime()
    windowed = sessions(source, since).execute()
    full = sessions(source, materialise=False).execute()
    full = full[full["start"] >= pd.Timestamp("2026-03-01")]
    # Only e's 02:00 session starts after `since` (the 21:00 chain and f's 23:59 do not).
    assert windowed[["user_id", "start", "events"]].values.tolist() == [["e", pd.Timestamp("2026-03-01 02:00"), 2]]
    assert (
        full[["user_id", "start", "events"]].values.tolist() == windowed[["user_id", "start", "events"]].values.tolist()
    )
