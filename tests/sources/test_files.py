"""Parquet and CSV files (and globs) as a source, validated on entry with the file named."""

from __future__ import annotations

import pandas as pd
import pytest

from fawkes_analytics import schema, sources
from fawkes_analytics.errors import SchemaError, SourceUnavailable
from fawkes_analytics.sources.files import open_files

EVENTS = pd.DataFrame(
    {
        "event_id": ["e1", "e2", "e3"],
        "timestamp": ["2024-03-04T10:00:00Z", "2024-03-04T12:30:00+02:00", "2024-03-05T08:00:00Z"],
        "user_id": ["u1", "u2", "u1"],
        "event_name": ["pageview", "signup", "pageview"],
        "page": ["/", None, "/pricing"],
    }
)


@pytest.fixture
def parquet_dir(tmp_path):
    frame = schema.validate("events", EVENTS).frame
    frame.iloc[:2].to_parquet(tmp_path / "part-1.parquet")
    frame.iloc[2:].to_parquet(tmp_path / "part-2.parquet")
    return tmp_path


def test_parquet_glob_via_connect(parquet_dir):
    import fawkes_analytics.sources.files  # noqa: F401  (registers file://, parquet://, csv://)

    source = sources.connect(f"file://{parquet_dir}/*.parquet")
    events = source.events().order_by("event_id").execute()
    assert events["event_id"].tolist() == ["e1", "e2", "e3"]
    # 12:30 at +02:00 is 10:30 UTC, stored naive
    assert events["timestamp"].tolist()[1] == pd.Timestamp("2024-03-04 10:30:00")
    assert str(source.events().schema()["timestamp"]).startswith("timestamp")
    assert source.data_as_of().isoformat() == "2024-03-05T08:00:00+00:00"
    assert source.assignments().count().execute() == 0 and source.feedback().count().execute() == 0
    assert source.kind == "parquet"


def test_csv_with_integer_ids_and_other_tables(tmp_path):
    csv = EVENTS.assign(user_id=[1, 2, 1])
    csv.to_csv(tmp_path / "events.csv", index=False)
    feedback = pd.DataFrame({"user_id": [1], "timestamp": ["2024-03-05T09:00:00Z"], "score": [9], "kind": ["nps"]})
    feedback.to_csv(tmp_path / "feedback.csv", index=False)
    source = open_files(f"csv://{tmp_path}/events.csv?feedback={tmp_path}/feedback.csv")
    events = source.events().order_by("event_id").execute()
    assert events["user_id"].tolist() == ["1", "2", "1"]  # integer ids read as text
    assert events["page"].tolist() == ["/", None, "/pricing"]
    assert source.feedback().score.sum().execute() == 9


def test_missing_column_names_the_file(parquet_dir):
    EVENTS.drop(columns="user_id").to_csv(parquet_dir / "bad.csv", index=False)
    with pytest.raises(SchemaError, match=r"file .*bad.csv, table 'events', column 'user_id': missing column"):
        open_files(f"csv://{parquet_dir}/bad.csv")


def test_wrong_type_names_the_file(parquet_dir):
    broken = schema.validate("events", EVENTS).frame.assign(timestamp="yesterday")
    broken.to_parquet(parquet_dir / "part-3.parquet")
    with pytest.raises(SchemaError, match=r"file .*part-3.parquet, table 'events', column 'timestamp': wrong type"):
        open_files(f"parquet://{parquet_dir}/*.parquet")


def test_null_required_value_names_the_file_and_row(parquet_dir):
    frame = schema.validate("events", EVENTS).frame
    frame.loc[1, "user_id"] = None
    frame.iloc[1:2].to_parquet(parquet_dir / "part-9.parquet")
    with pytest.raises(
        SchemaError, match=r"file .*part-9.parquet, table 'events', column 'user_id': null value.*'event_id': 'e2'"
    ):
        open_files(f"file://{parquet_dir}/*.parquet")


def test_no_matching_file_is_unavailable(tmp_path):
    with pytest.raises(SourceUnavailable, match="no file matches"):
        open_files(f"file://{tmp_path}/nothing-*.parquet")
