"""The rollup store: incremental refreshes equal a full build, and the store equals raw events."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from filelock import FileLock

from fawkes_analytics import timerange
from fawkes_analytics.rollups import RefreshBusy, incremental, store
from fawkes_analytics.rollups.derive import TABLES
from fawkes_analytics.rollups.tables import RawTables, StoreTables, forget, tables_for

from .support import (
    EventLog,
    assert_same,
    random_events,
    random_feedback,
    raw_families,
    store_families,
    store_tables,
    utc,
)

START = utc("2026-03-01T00:00:00")


def _ranges() -> list[timerange.TimeRange]:
    return [
        timerange.resolve(start="2026-03-02", end="2026-03-04", tz="UTC"),
        timerange.resolve(start="2026-03-03", end="2026-03-05", tz="Europe/Berlin"),
        timerange.resolve("24h", as_of=utc("2026-03-04T13:37:00")),
    ]


def _arrivals(events: pd.DataFrame, seed: int, batches: int) -> list[pd.DataFrame]:
    """Events split into arrival batches by time, some held back to arrive late, some twice."""
    rng = np.random.default_rng(seed)
    ordered = events.sort_values("timestamp", ignore_index=True)
    edges = [0, *sorted(rng.choice(np.arange(1, len(ordered)), size=batches - 1, replace=False)), len(ordered)]
    parts = [ordered.iloc[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    late = parts[0].sample(frac=0.05, random_state=seed)
    parts[0] = parts[0].drop(late.index)
    parts[-1] = pd.concat([parts[-1], late])  # late: timestamps long before the watermark
    parts[1] = pd.concat([parts[1], parts[1].head(3)])  # duplicated rows (same event ids)
    return parts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_refreshes_equal_a_full_build_and_the_raw_events(log, tmp_path, monkeypatch, seed):
    events = random_events(seed, START, days=4)
    feedback = random_feedback(seed, START, days=4)
    for i, batch in enumerate(_arrivals(events, seed, batches=4)):
        log.append(batch, feedback if i == 2 else None)
        result = log.refresh()
        assert result.mode == ("full" if i == 0 else "incremental")
    incremental = store_tables(log)

    # The same final data built once from scratch, in a second file: every table equal.
    fresh = EventLog(tmp_path / "fresh.duckdb")
    fresh.append(pd.concat(_arrivals(events, seed, batches=4)), feedback)
    assert fresh.refresh().mode == "full"
    rebuilt = store_tables(fresh)
    for name in TABLES:
        pd.testing.assert_frame_equal(incremental[name], rebuilt[name], obj=name)

    # And every metric family reads the same numbers from the store and from raw events.
    ranges = _ranges()
    assert_same(store_families(log, ranges), raw_families(log, ranges, monkeypatch), f"seed {seed}")


def test_late_events_rebuild_the_days_they_touch(log):
    # Day 1-4 refreshed, then one event for 03-02 12:00 arrives: the next refresh starts at
    # 03-02 (no stored session is open at that midnight: the data has a night gap).
    rows = [
        {
            "event_id": f"e{d}{h}",
            "timestamp": START + timedelta(days=d, hours=h),
            "user_id": "u",
            "event_name": "pageview",
        }
        for d in range(4)
        for h in (9, 10)
    ]
    log.append(pd.DataFrame(rows))
    first = log.refresh()
    late = {
        "event_id": "late",
        "timestamp": START + timedelta(days=1, hours=12),
        "user_id": "v",
        "event_name": "pageview",
    }
    log.append(pd.DataFrame([late]))
    second = log.refresh()
    assert second.mode == "incremental" and second.cut == START.replace(tzinfo=None) + timedelta(days=1)
    assert second.data_version == first.data_version + 1
    users = store_tables(log)["users"]
    assert "v" in set(users["user_id"])
    # Nothing new: the next refresh publishes the same tables with a newer as-of.
    third = log.refresh()
    assert third.mode == "unchanged" and third.data_version == second.data_version


def test_a_session_open_at_midnight_is_derived_again_whole(log):
    # w is active every 20 minutes from 03-01 22:00 to 03-02 02:00 (one session across
    # midnight, 13 pageviews); y is active on 03-01 morning only. An event on 03-02 03:00
    # arrives later. The refresh starts at 03-02 00:00 for everyone, but reads w's events from
    # the start of w's session (22:00), so that session stays whole; y's day is not read again.
    times = pd.date_range("2026-03-01 22:00", "2026-03-02 02:00", freq="20min")
    rows = pd.DataFrame({"event_id": [f"w{i}" for i in range(len(times))], "timestamp": times, "user_id": "w"})
    morning = pd.DataFrame(
        {
            "event_id": ["y1", "y2"],
            "timestamp": pd.to_datetime(["2026-03-01 08:00", "2026-03-01 08:05"]),
            "user_id": "y",
        }
    )
    log.append(pd.concat([rows, morning]).assign(event_name="pageview"))
    log.refresh()
    late = {"event_id": "x", "timestamp": pd.Timestamp("2026-03-02 03:00"), "user_id": "x", "event_name": "pageview"}
    log.append(pd.DataFrame([late]))
    result = log.refresh()
    assert result.cut == pd.Timestamp("2026-03-02").to_pydatetime()
    assert log.store.latest().build["from"] == "2026-03-01T22:00:00"
    # Read again: w's 13 events from 22:00 (7 of them after midnight) and x's one; not y's.
    assert result.events_read == 7 + 1
    sessions = store_tables(log)["sessions"]
    assert sessions.loc[sessions["user_id"] == "w", "pageviews"].tolist() == [len(times)]
    assert sessions["user_id"].tolist().count("y") == 1


def test_data_quality_gate(log, monkeypatch):
    # 4 good pageviews, one duplicated twice more (same event id), 2 rows without a user and
    # 1 without a time. Counted: duplicates 2, no user 2, no time 1; pageviews stay 4.
    good = pd.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "timestamp": pd.to_datetime(
                ["2026-03-02 10:00", "2026-03-02 10:05", "2026-03-02 11:00", "2026-03-02 12:00"]
            ),
            "user_id": ["u", "u", "v", "w"],
            "event_name": "pageview",
        }
    )
    bad = pd.DataFrame(
        {
            "event_id": ["a", "a", "n1", "n2", "t1"],
            "timestamp": pd.to_datetime(
                ["2026-03-02 10:00", "2026-03-02 10:00", "2026-03-02 10:00", "2026-03-02 13:00", None]
            ),
            "user_id": ["u", "u", None, None, "z"],
            "event_name": "pageview",
        }
    )
    log.append(pd.concat([good, bad]))
    log.refresh()
    day = timerange.resolve(start="2026-03-02", end="2026-03-03")
    forget()
    tables = tables_for(log.source(), day.end)
    assert tables.quality(day.start, day.end) == {"null_user_ids": 2, "duplicate_event_ids": 2, "null_timestamps": 1}
    from fawkes_analytics.metrics import usage_trends

    usage = usage_trends(log.source(), day)
    assert (usage.pageviews, usage.visitors) == (4, 3)
    # Reports say so above everything (HTML) and in data.json.
    from fawkes_analytics.report import Report

    report = Report("usage_trends", "Usage trends", log.source(), day)
    header = report.header().markup
    assert "Data quality: 2 events without a user id left out; 2 events with a repeated event id counted once" in header
    assert "1 event without a timestamp (anywhere in the source) left out" in header
    payload = report.payload()
    assert payload["data_quality"] == {"null_user_ids": 2, "duplicate_event_ids": 2, "null_timestamps": 1}
    assert payload["rollups"]["kind"] == "rollups" and payload["rollups"]["version"] == log.store.latest().version
    clean = Report(
        "usage_trends", "Usage trends", log.source(), timerange.resolve(start="2026-03-10", end="2026-03-11")
    )
    assert clean.data_quality() == {"null_user_ids": 0, "duplicate_event_ids": 0, "null_timestamps": 1}
    assert "without a user id" not in clean.header().markup
    # The raw path leaves out and counts the same rows.
    monkeypatch.setenv("FAWKES_ANALYTICS_ROLLUPS", "off")
    forget()
    raw = tables_for(log.source(), day.end)
    assert isinstance(raw, RawTables)
    assert raw.quality(day.start, day.end) == {"null_user_ids": 2, "duplicate_event_ids": 2, "null_timestamps": 1}
    assert usage_trends(log.source(), day).pageviews == 4


def test_readers_use_the_store_only_where_it_vouches_for_the_data(log):
    log.append(random_events(5, START, days=2))
    result = log.refresh()
    manifest = log.store.latest()
    assert manifest.version == result.version
    source = log.source()
    assert isinstance(tables_for(source, manifest.as_of), StoreTables)
    assert isinstance(tables_for(source, manifest.as_of + timedelta(minutes=15)), RawTables)


def test_a_schema_change_rebuilds(log, monkeypatch):
    log.append(random_events(6, START, days=1))
    log.refresh()
    monkeypatch.setattr(store, "SCHEMA_VERSION", store.SCHEMA_VERSION + 1)
    monkeypatch.setattr(incremental, "SCHEMA_VERSION", store.SCHEMA_VERSION)
    assert log.refresh().mode == "full"


def test_one_refresh_at_a_time(log):
    log.append(random_events(7, START, days=1))
    log.store.path.mkdir(parents=True, exist_ok=True)
    with FileLock(str(log.store.lock_path)), pytest.raises(RefreshBusy, match="another refresh"):
        log.refresh()


def test_chunked_first_build_equals_one_piece(log, tmp_path):
    # A first build in chunks (bounded memory) gives the same tables as one piece.
    events = random_events(8, START, days=4, rate=200)
    log.append(events)
    result = log.refresh(chunk_events=len(events) // 3)
    assert len(result.steps) >= 3
    other = EventLog(tmp_path / "other.duckdb")
    other.append(events)
    other.refresh()
    chunked, whole = store_tables(log), store_tables(other)
    for name in TABLES:
        pd.testing.assert_frame_equal(chunked[name], whole[name], obj=name)
