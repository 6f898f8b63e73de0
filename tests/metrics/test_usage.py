"""Usage trends and sessions pinned to Plausible's rules (SEMANTICS.md, "Web usage").

Every expected number is worked out by hand in the comment above it.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics import sessions_in, usage_trends

from .conftest import event, span

# Scenario on 2026-03-01 (UTC); the previous period is 2026-02-28.
#   a: pageviews 10:00:00 /home, 10:30:00 /docs (a gap of exactly 30 min joins),
#      11:00:00.001 /docs (30 min + 1 ms: a new session)
#        -> a1 (2 pv, 1800 s, /home -> /docs), a2 (1 pv, bounce, 0 s)
#   b: pageview 12:00:00 /pricing + custom 'click' 12:00:05 -> not a bounce, 5 s
#   c: pageview 13:00:00 /home + engagement 13:00:03 -> engagement changes nothing:
#        a bounce, 0 s, 1 event
#   d: engagement 14:00:00 alone -> no open session: dropped, counts nowhere
#   e: custom 'signup' 15:00:00 only -> a visitor and a visit; no pageview, so no entry or
#        exit page and not a bounce (a bounce has exactly one pageview)
#   f: engagement 16:00:00 (dropped) then pageview 16:10:00 /x -> a session from 16:10, bounce
#   g: pageview 17:00 /a, engagement 17:25, pageview 17:50 /b -> the engagement keeps the
#        session open (25 min gaps): one session, 3000 s, 2 pv, not a bounce
#   h: custom 'click' 18:00 (referrer news.example), pageviews 18:01 /c and 18:02 /d
#        -> entry /c and exit /d (pageviews only), referrer from the first event, 120 s
#   c also bounced on 02-28 12:00.
SCENARIO = [
    event("a", "2026-03-01 10:00:00", page="/home", source="google"),
    event("a", "2026-03-01 10:30:00", page="/docs"),
    event("a", "2026-03-01 11:00:00.001", page="/docs", referrer="news.example"),
    event("b", "2026-03-01 12:00:00", page="/pricing", utm_source="mail", utm_campaign="spring"),
    event("b", "2026-03-01 12:00:05", "click", page="/pricing"),
    event("c", "2026-03-01 13:00:00", page="/home"),
    event("c", "2026-03-01 13:00:03", "engagement", page="/home"),
    event("d", "2026-03-01 14:00:00", "engagement", page="/home"),
    event("e", "2026-03-01 15:00:00", "signup", page=None),
    event("f", "2026-03-01 16:00:00", "engagement", page="/x"),
    event("f", "2026-03-01 16:10:00", page="/x"),
    event("g", "2026-03-01 17:00:00", page="/a"),
    event("g", "2026-03-01 17:25:00", "engagement", page="/a"),
    event("g", "2026-03-01 17:50:00", page="/b"),
    event("h", "2026-03-01 18:00:00", "click", page=None, referrer="news.example"),
    event("h", "2026-03-01 18:01:00", page="/c"),
    event("h", "2026-03-01 18:02:00", page="/d"),
    event("c", "2026-02-28 12:00:00", page="/home"),
]
DAY = span("2026-03-01", "2026-03-02")


def test_sessions_follow_plausible(events_source):
    table = sessions_in(events_source(SCENARIO), DAY).execute().sort_values(["user_id", "start"], ignore_index=True)
    # d has no session; e..h one each, a two: 8 sessions.
    assert table["user_id"].tolist() == ["a", "a", "b", "c", "e", "f", "g", "h"]
    assert table["pageviews"].tolist() == [2, 1, 1, 1, 0, 1, 2, 2]
    assert table["events"].tolist() == [2, 1, 2, 1, 1, 1, 2, 3]
    assert table["duration"].tolist() == [1800.0, 0.0, 5.0, 0.0, 0.0, 0.0, 3000.0, 120.0]
    assert table["is_bounce"].tolist() == [False, True, False, True, False, True, False, False]
    assert table["entry_page"].tolist() == ["/home", "/docs", "/pricing", "/home", None, "/x", "/a", "/c"]
    assert table["exit_page"].tolist() == ["/docs", "/docs", "/pricing", "/home", None, "/x", "/b", "/d"]
    # f's session starts at its pageview, not at the dropped engagement event.
    assert table.loc[5, "start"] == pd.Timestamp("2026-03-01 16:10:00")
    # c's engagement event is activity: the session's last activity, not its last event.
    assert table.loc[3, "last_activity"] == pd.Timestamp("2026-03-01 13:00:03")
    assert table.loc[3, "last_event"] == pd.Timestamp("2026-03-01 13:00:00")
    assert table.loc[0, "source"] == "google" and table.loc[1, "referrer"] == "news.example"
    assert table.loc[7, "referrer"] == "news.example"


def test_usage_kpis_and_comparison(events_source):
    result = usage_trends(events_source(SCENARIO), DAY, "day")
    # visitors a, b, c, e, f, g, h = 7 (d's lone engagement counts nowhere); visits 8;
    # pageviews a 3 + b 1 + c 1 + f 1 + g 2 + h 2 = 10; total users 7.
    assert (result.visitors, result.visits, result.pageviews, result.total_users) == (7, 8, 10, 7)
    assert result.active_users == result.visitors
    # bounces a2, c, f: 3 of 8 sessions = 37.5 %; views per visit 10 / 8 = 1.25;
    # duration (1800 + 0 + 5 + 0 + 0 + 0 + 3000 + 120) / 8 = 4925 / 8 = 615.625 s.
    assert result.bounce_rate == pytest.approx(37.5)
    assert result.views_per_visit == pytest.approx(1.25)
    assert result.visit_duration == pytest.approx(615.625)
    # Previous day: c's one bounce. Changes: visits 1 -> 8 = +700 %; bounce rate
    # 100 -> 37.5 = -62.5 points; duration 0 -> 615.6 = +100 (Plausible's rule).
    assert result.previous["visits"] == 1 and result.previous["bounce_rate"] == 100.0
    assert result.change["visits"] == pytest.approx(700.0)
    assert result.change["bounce_rate"] == pytest.approx(-62.5)
    assert result.change["visit_duration"] == 100.0
    kpis = {k.name: k for k in result.kpis}
    assert "active_users" not in kpis  # the same number as visitors: one tile, not two
    assert kpis["bounce_rate"].change_unit == "points" and kpis["visits"].change_unit == "percent"
    # One daily bucket equal to the headline numbers.
    day = result.timeseries.iloc[0]
    assert (day["visitors"], day["visits"], day["pageviews"]) == (7, 8, 10)
    assert day["bounce_rate"] == pytest.approx(37.5) and day["visit_duration"] == pytest.approx(615.625)


def test_pages_tables(events_source):
    result = usage_trends(events_source(SCENARIO), DAY, "day")
    pages = result.top_pages.set_index("page")
    # /home: a and c (2 visitors, 2 views); /docs: a (1 visitor, 2 views).
    assert pages.loc["/home", "visitors"] == 2 and pages.loc["/docs", "pageviews"] == 2
    # Time on page (legacy Plausible): pageview -> next pageview of the same session.
    # /home -> /docs 1800 s (a1); /a -> /b 3000 s (g: the gap is bridged by engagement);
    # /c -> /d 60 s (h). /docs never leads to another pageview of its session: no time.
    assert pages.loc["/home", "time_on_page"] == pytest.approx(1800.0)
    assert pages.loc["/a", "time_on_page"] == pytest.approx(3000.0)
    assert pages.loc["/c", "time_on_page"] == pytest.approx(60.0)
    assert math.isnan(pages.loc["/docs", "time_on_page"])
    entry = result.entry_pages.set_index("page")
    # Entries /home (a1, c: 2 visits, c bounced -> 50 %), /docs, /pricing, /x, /a, /c; none for e.
    assert entry.loc["/home", "visits"] == 2 and entry.loc["/home", "bounce_rate"] == 50.0
    assert set(entry.index) == {"/home", "/docs", "/pricing", "/x", "/a", "/c"}
    exits = result.exit_pages.set_index("page")
    # Exits /docs (a1 and a2: 2 exits of 2 /docs pageviews -> 100 %), /pricing, /home
    # (c: 1 exit of 2 /home pageviews -> 50 %), /x, /b, /d.
    assert exits.loc["/docs", "visits"] == 2 and exits.loc["/docs", "visitors"] == 1
    assert exits.loc["/docs", "exit_rate"] == pytest.approx(100.0)
    assert exits.loc["/home", "exit_rate"] == pytest.approx(50.0)
    assert set(exits.index) == {"/docs", "/pricing", "/home", "/x", "/b", "/d"}
    sources = result.sources.set_index("source")
    # a1 google, a2 referrer news.example, b utm_source mail, h referrer news.example; the rest direct.
    assert sources.loc["news.example", "visits"] == 2 and sources.loc["Direct / None", "visits"] == 4
    assert result.utm_campaigns["utm_campaign"].tolist() == ["spring"]


def test_engagement_event_name_comes_from_the_catalog(events_source, tmp_path, monkeypatch):
    # With 'heartbeat' as the engagement event, 'engagement' is an ordinary custom event:
    # c's 13:00:03 event is a second session event (no bounce), d's lone 'engagement' is a
    # visit of its own and f's 16:00 event starts f's session (no bounce either).
    catalog = tmp_path / "analytics.yaml"
    catalog.write_text("web:\n  engagement_event: heartbeat\n", encoding="utf-8")
    monkeypatch.setenv("FAWKES_ANALYTICS_CATALOG", str(catalog))
    result = usage_trends(events_source(SCENARIO), DAY, "day")
    # visitors a..h = 8; visits a1, a2, b, c, d, e, f, g, h = 9; only a2 bounces: 1 of 9.
    assert (result.visitors, result.visits) == (8, 9)
    assert result.bounce_rate == pytest.approx(100.0 / 9)


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


def test_a_session_crossing_the_range_start_counts_in_both_ranges(events_source):
    # d: 23:50 on 02-28 and 00:10 on 03-01 (20 min gap): one session, active in both days.
    rows = [event("d", "2026-02-28 23:50:00"), event("d", "2026-03-01 00:10:00", page="/x")]
    result = usage_trends(events_source(rows), DAY)
    # Each day: 1 visitor, 1 visit (an event in the range), 1 pageview; the session counts
    # whole in both: 1200 s, 2 pageviews per visit, not a bounce.
    for values in (result.previous, {n: getattr(result, n) for n in result.previous}):
        assert (values["visits"], values["visitors"], values["pageviews"]) == (1, 1, 1)
        assert values["visit_duration"] == 1200.0 and values["views_per_visit"] == 2.0
        assert values["bounce_rate"] == 0.0


def test_sessions_started_over_seven_days_earlier_are_not_in_the_rates(events_source):
    # k views a page every 20 minutes from 02-21 00:00 to 03-01 00:20: one session that
    # started 8 days before 03-01. On 03-01 it is a visit (two events in the range) but,
    # as in Plausible, not one of the sessions the rates are computed over (started more
    # than 7 days before the range): bounce rate, duration and views per visit are 0.
    times = pd.date_range("2026-02-21 00:00", "2026-03-01 00:20", freq="20min")
    rows = [event("k", str(t)) for t in times] + [event("m", "2026-03-01 09:00:00")]
    result = usage_trends(events_source(rows), DAY)
    assert (result.visits, result.visitors, result.pageviews) == (2, 2, 3)
    # Only m's bounce is in the rates: 1 of 1 session.
    assert result.bounce_rate == 100.0 and result.visit_duration == 0.0 and result.views_per_visit == 1.0


def test_time_series_places_sessions_as_plausible_does(events_source):
    # n: 10:50 and 11:20 (one session over two hours); o: 23:50 on 03-01 and 00:10 on 03-02.
    rows = [
        event("n", "2026-03-01 10:50:00"),
        event("n", "2026-03-01 11:20:00"),
        event("o", "2026-03-01 23:50:00"),
        event("o", "2026-03-02 00:10:00"),
    ]
    source = events_source(rows)
    hourly = usage_trends(source, span("2026-03-01 10:00", "2026-03-01 12:00"), "hour").timeseries
    # By hour, a session counts in every hour from its start to its last event (timeSlots):
    # n's session (1800 s, 2 pv) is in 10:00 and 11:00; visits come from the events: 1 each.
    assert hourly["visits"].tolist() == [1, 1]
    assert hourly["visit_duration"].tolist() == [1800.0, 1800.0]
    daily = usage_trends(source, span("2026-03-01", "2026-03-03"), "day").timeseries
    # By day, a session counts in the day of its last session event: o's in 03-02 only, while
    # its events make it a visit of both days.
    assert daily["visits"].tolist() == [2, 1]
    assert daily["views_per_visit"].tolist() == [2.0, 2.0]  # 03-01: n only; 03-02: o only
    assert daily["visit_duration"].tolist() == [1800.0, 1200.0]


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
    assert result.top_pages.empty and result.exit_pages.empty and result.timeseries["visits"].sum() == 0


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
