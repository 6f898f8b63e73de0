"""Validation where data enters: each problem names the table, the column and an example row."""

from __future__ import annotations

import pandas as pd
import pytest

from fawkes_analytics import schema
from fawkes_analytics.errors import SchemaError


def events(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "timestamp": ["2026-11-01T10:00:00Z", "2026-11-01T10:05:00+01:00", "2026-11-01T11:00:00.250Z"],
            "user_id": ["u1", "u2", "u3"],
            "event_name": ["pageview", "pageview", "deploy_start"],
            "page": ["/", "/docs", None],
        }
    )
    for column, value in overrides.items():
        frame[column] = value
    return frame


def test_valid_events_become_canonical() -> None:
    result = schema.validate("events", events())
    frame = result.frame
    assert list(frame.columns) == schema.EVENTS.column_names
    assert str(frame["timestamp"].dtype) == "datetime64[us]"
    # 10:05 at +01:00 is 09:05 UTC: offsets are honoured, then stored as naive UTC.
    assert frame["timestamp"].iloc[1] == pd.Timestamp("2026-11-01T09:05:00")
    assert frame["referrer"].isna().all()
    assert result.duplicates_dropped == 0


def test_missing_column_names_table_column_and_row() -> None:
    with pytest.raises(SchemaError) as caught:
        schema.validate("events", events().drop(columns=["user_id"]), where="events.csv")
    message = str(caught.value)
    assert "events.csv" in message and "table 'events'" in message and "column 'user_id'" in message
    assert "missing column" in message and "row 1" in message


def test_null_user_id_names_the_offending_row() -> None:
    with pytest.raises(SchemaError) as caught:
        schema.validate("events", events(user_id=["u1", None, "u3"]))
    message = str(caught.value)
    assert "column 'user_id'" in message and "null" in message and "row 2" in message and "'e2'" in message


def test_unparseable_timestamp() -> None:
    with pytest.raises(SchemaError) as caught:
        schema.validate("events", events(timestamp=["2026-11-01T10:00:00Z", "yesterday", "2026-11-01T11:00:00Z"]))
    assert (
        "column 'timestamp'" in str(caught.value)
        and "unparseable" in str(caught.value)
        and "row 2" in str(caught.value)
    )


def test_timezone_less_timestamp_is_refused() -> None:
    with pytest.raises(SchemaError) as caught:
        schema.validate(
            "events", events(timestamp=["2026-11-01T10:00:00Z", "2026-11-01T10:05:00Z", "2026-11-01 11:00:00"])
        )
    assert "timezone-less" in str(caught.value) and "row 3" in str(caught.value)
    naive = events()
    naive["timestamp"] = pd.to_datetime(["2026-11-01 10:00", "2026-11-01 10:05", "2026-11-01 11:00"])
    with pytest.raises(SchemaError, match="timezone-less"):
        schema.validate("events", naive)


def test_wrong_type_is_refused() -> None:
    with pytest.raises(SchemaError) as caught:
        schema.validate("events", events(event_name=[True, False, True]))
    assert "column 'event_name'" in str(caught.value) and "wrong type" in str(caught.value)
    feedback = pd.DataFrame({"user_id": ["u1"], "timestamp": ["2026-11-01T10:00:00Z"], "score": ["great"]})
    with pytest.raises(SchemaError) as caught:
        schema.validate("feedback", feedback)
    assert (
        "table 'feedback'" in str(caught.value)
        and "column 'score'" in str(caught.value)
        and "'great'" in str(caught.value)
    )


def test_negative_and_out_of_range_scores_are_impossible() -> None:
    feedback = pd.DataFrame({"user_id": ["u1", "u2"], "timestamp": ["2026-11-01T10:00:00Z"] * 2, "score": [9, -1]})
    with pytest.raises(SchemaError) as caught:
        schema.validate("feedback", feedback)
    assert "below 0" in str(caught.value) and "row 2" in str(caught.value)
    feedback["score"] = [9, 11]
    with pytest.raises(SchemaError, match="above 10"):
        schema.validate("feedback", feedback)


def test_duplicated_events_are_dropped_and_counted() -> None:
    frame = pd.concat([events(), events().iloc[[0, 2]]], ignore_index=True)
    result = schema.validate("events", frame)
    assert result.duplicates_dropped == 2
    assert list(result.frame["event_id"]) == ["e1", "e2", "e3"]


def test_numeric_ids_become_text_and_row_offset_counts_from_stream_start() -> None:
    assignments = pd.DataFrame(
        {
            "experiment_id": ["x", "x"],
            "variant": ["a", "b"],
            "user_id": [116, 337],
            "assigned_at": ["2026-11-01T00:00:00Z", None],
        }
    )
    with pytest.raises(SchemaError) as caught:
        schema.validate("assignments", assignments, row_offset=1000)
    assert "row 1002" in str(caught.value)
    assignments["assigned_at"] = ["2026-11-01T00:00:00Z"] * 2
    assert list(schema.validate("assignments", assignments).frame["user_id"]) == ["116", "337"]
