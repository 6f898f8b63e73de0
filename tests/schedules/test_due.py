"""Due-time computation in the schedule's time zone, across Europe/Berlin's 2026 DST changes
(2026-03-29: 02:00 CET -> 03:00 CEST; 2026-10-25: 03:00 CEST -> 02:00 CET)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fawkes_analytics.schedules.config import parse_schedule
from fawkes_analytics.schedules.due import due_slot, latest_slot, next_slot


def sched(cron: str, tz: str = "Europe/Berlin"):
    return parse_schedule({"cron": cron, "timezone": tz, "report": "overview"}, Path("t.yaml"))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_7am_follows_wall_clock_across_spring_forward():
    s = sched("0 7 * * *")
    # 07:00 CET (UTC+1) on the 28th = 06:00 UTC; 07:00 CEST (UTC+2) on the 29th = 05:00 UTC
    assert next_slot(s, utc("2026-03-28T00:00")) == utc("2026-03-28T06:00")
    assert next_slot(s, utc("2026-03-28T06:00")) == utc("2026-03-29T05:00")
    assert latest_slot(s, utc("2026-03-29T04:59")) == utc("2026-03-28T06:00")
    assert latest_slot(s, utc("2026-03-29T05:00")) == utc("2026-03-29T05:00")  # a slot is due at its own instant


def test_daily_7am_across_fall_back():
    s = sched("0 7 * * *")
    # 07:00 CEST on the 24th = 05:00 UTC; 07:00 CET on the 25th = 06:00 UTC (25 hours later)
    assert next_slot(s, utc("2026-10-24T05:00")) == utc("2026-10-25T06:00")


def test_slot_in_the_skipped_hour_runs_once_at_three():
    s = sched("30 2 * * *")
    # 02:30 does not exist on 2026-03-29; it fires at 03:00 CEST = 01:00 UTC, then 02:30 CEST on the 30th = 00:30 UTC
    first = next_slot(s, utc("2026-03-28T23:00"))
    assert first == utc("2026-03-29T01:00")
    assert next_slot(s, first) == utc("2026-03-30T00:30")


def test_slot_in_the_repeated_hour_runs_once():
    s = sched("30 2 * * *")
    # 02:30 happens twice on 2026-10-25: 00:30 UTC (CEST) and 01:30 UTC (CET); only the first fires
    first = next_slot(s, utc("2026-10-24T23:00"))
    assert first == utc("2026-10-25T00:30")
    assert next_slot(s, first) == utc("2026-10-26T01:30")  # 02:30 CET on the 26th
    assert latest_slot(s, utc("2026-10-25T01:45")) == utc("2026-10-25T00:30")
    assert due_slot(s, utc("2026-10-25T01:45"), last_slot=utc("2026-10-25T00:30")) is None


def test_every_20_minutes_keeps_real_time_through_the_repeated_hour():
    s = sched("*/20 * * * *")
    # 00:00-02:00 UTC on 2026-10-25 spans 02:00-02:59 CEST and 02:00-02:59 CET: 6 slots, 20 minutes apart
    slots, t = [], utc("2026-10-24T23:59")
    while (t := next_slot(s, t)) <= utc("2026-10-25T01:40"):
        slots.append(t)
    assert slots == [utc("2026-10-25T00:00") + timedelta(minutes=20 * i) for i in range(6)]


def test_due_after_downtime_is_the_latest_slot_only():
    s = sched("0 * * * *", "UTC")
    # last ran 10:00; down until 15:30 -> 11..15 missed, only 15:00 is due
    assert due_slot(s, utc("2026-05-01T15:30"), last_slot=utc("2026-05-01T10:00")) == utc("2026-05-01T15:00")
    assert due_slot(s, utc("2026-05-01T15:30"), last_slot=utc("2026-05-01T15:00")) is None
    assert due_slot(s, utc("2026-05-01T15:30"), last_slot=None) == utc("2026-05-01T15:00")
