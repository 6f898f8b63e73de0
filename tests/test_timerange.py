"""Time ranges: named windows, custom ranges, time zones and the previous period."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from fawkes_analytics.errors import ParameterError
from fawkes_analytics.timerange import NAMED_RANGES, resolve

AS_OF = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("label", ["1h", "6h", "24h"])
def test_hour_ranges_roll_up_to_the_anchor(label: str) -> None:
    current = resolve(label, as_of=AS_OF)
    assert current.end == AS_OF and current.duration == NAMED_RANGES[label]
    previous = current.previous()
    assert previous.end == current.start and previous.duration == current.duration


@pytest.mark.parametrize("label", ["7d", "30d", "90d"])
def test_day_ranges_are_whole_local_days_before_the_anchor(label: str) -> None:
    # Anchor 12:00 UTC on 30 November: the unfinished day is left out, as in Plausible.
    current = resolve(label, as_of=AS_OF)
    assert current.end == datetime(2026, 11, 30, tzinfo=timezone.utc)
    assert current.duration == NAMED_RANGES[label]
    assert current.previous().end == current.start
    # In New York (UTC-5) it is 07:00 on 30 November: the range ends at local midnight, 05:00 UTC.
    local = resolve(label, tz="America/New_York", as_of=AS_OF)
    assert local.end == datetime(2026, 11, 30, 5, tzinfo=timezone.utc)
    assert local.start.astimezone(ZoneInfo("America/New_York")).hour == 0


def test_custom_range_reads_dates_in_the_reporting_time_zone() -> None:
    # Midnight in Berlin on 1 November 2026 (CET, UTC+1) is 23:00 UTC the day before.
    current = resolve(None, start="2026-11-01", end="2026-11-08", tz="Europe/Berlin")
    assert current.start == datetime(2026, 10, 31, 23, 0, tzinfo=timezone.utc)
    assert current.duration == timedelta(days=7)
    assert current.start_naive_utc == datetime(2026, 10, 31, 23, 0)


def test_custom_range_across_dst_is_not_a_whole_number_of_days() -> None:
    # 25 October 2026: Berlin falls back from CEST to CET, so that week has 7 days + 1 hour.
    current = resolve(None, start="2026-10-22", end="2026-10-29", tz="Europe/Berlin")
    assert current.duration == timedelta(days=7, hours=1)


def test_errors_name_the_parameter() -> None:
    with pytest.raises(ParameterError, match="'time_range'.*allowed: \\['1h'"):
        resolve("2w", as_of=AS_OF)
    with pytest.raises(ParameterError, match="'end'.*not after start"):
        resolve(None, start="2026-11-08", end="2026-11-01")
    with pytest.raises(ParameterError, match="'tz'"):
        resolve("7d", tz="Nowhere/Special")
    with pytest.raises(ParameterError, match="'end'.*needs both"):
        resolve(None, start="2026-11-08")
    with pytest.raises(ParameterError, match="'start'.*cannot parse"):
        resolve(None, start="soon", end="2026-11-08")


def test_granularity_follows_the_length() -> None:
    assert resolve("24h", as_of=AS_OF).default_granularity() == "hour"
    assert resolve("30d", as_of=AS_OF).default_granularity() == "day"
    assert resolve("90d", as_of=AS_OF).default_granularity() == "week"
