"""The same refresh and reports on Spark, through a real Spark Connect server.

Events arrive as Parquet files in a folder (the way a cluster's landing zone grows); the
Spark store, refreshed incrementally, must hold the same tables as a DuckDB store of the
same events, and the reports must read the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fawkes_analytics import catalog as catalog_module
from fawkes_analytics import metrics, sources, timerange
from fawkes_analytics.rollups import refresh_source
from fawkes_analytics.rollups.derive import TABLES
from fawkes_analytics.rollups.tables import StoreTables, forget, tables_for

from .support import EVENT_COLUMNS, FEEDBACK_COLUMNS, EventLog, assert_same, random_events, random_feedback, utc

pytestmark = [pytest.mark.spark, pytest.mark.slow]
START = utc("2026-03-01T00:00:00")


def _write_parquet(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> None:
    con = duckdb.connect()
    con.register("rows", frame.reindex(columns=list(columns)))
    casts = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in columns.items())
    con.execute(f"COPY (SELECT {casts} FROM rows) TO '{path}' (FORMAT parquet)")
    con.close()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].astype("datetime64[us]")
        elif pd.api.types.is_integer_dtype(frame[column]):
            frame[column] = frame[column].astype("int64")
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_refresh_and_reports_on_spark_connect(spark_connect_url, tmp_path, monkeypatch):
    events = random_events(11, START, days=3)
    feedback = random_feedback(11, START, days=3)
    first, second = (
        events[events["timestamp"] < pd.Timestamp("2026-03-03")],
        events[events["timestamp"] >= pd.Timestamp("2026-03-03")],
    )
    landing = tmp_path / "events"
    landing.mkdir()
    _write_parquet(first, EVENT_COLUMNS, landing / "part-0.parquet")
    _write_parquet(feedback, FEEDBACK_COLUMNS, tmp_path / "feedback.parquet")
    url = f"{spark_connect_url}/?events={landing}&feedback={tmp_path / 'feedback.parquet'}"
    monkeypatch.setenv("FAWKES_ANALYTICS_ROLLUPS", str(tmp_path / "spark-store"))

    forget()
    assert refresh_source(sources.connect(url)).mode == "full"
    _write_parquet(second, EVENT_COLUMNS, landing / "part-1.parquet")  # a new day lands
    forget()
    spark = sources.connect(url)
    result = refresh_source(spark)
    # The cut is the first changed day's midnight; sessions open across it are re-derived whole.
    assert result.mode == "incremental" and result.cut == pd.Timestamp("2026-03-03").to_pydatetime()

    # The same events in DuckDB, built in one go: every derived table equal.
    log = EventLog(tmp_path / "same.duckdb")
    log.append(events, feedback)
    monkeypatch.delenv("FAWKES_ANALYTICS_ROLLUPS")
    log.refresh()
    forget()
    duck = log.source()
    duck_tables, spark_tables = tables_for(duck), None
    monkeypatch.setenv("FAWKES_ANALYTICS_ROLLUPS", str(tmp_path / "spark-store"))
    forget()
    spark = sources.connect(url)
    spark_tables = tables_for(spark)
    assert isinstance(duck_tables, StoreTables) and isinstance(spark_tables, StoreTables)
    for name in TABLES:
        pd.testing.assert_frame_equal(
            _sorted(spark_tables.table(name).execute()),
            _sorted(duck_tables.table(name).execute()),
            check_dtype=False,
            obj=name,
        )

    # And the reports read the same numbers from both stores.
    day = timerange.resolve(start="2026-03-02", end="2026-03-04", tz="Europe/Berlin")
    cat = catalog_module.load()
    on_spark = {
        "usage": metrics.usage_trends(spark, day).to_dict(),
        "adoption": metrics.feature_adoption(spark, cat, day).to_dict(),
    }
    monkeypatch.delenv("FAWKES_ANALYTICS_ROLLUPS")
    forget()
    on_duckdb = {
        "usage": metrics.usage_trends(duck, day).to_dict(),
        "adoption": metrics.feature_adoption(duck, cat, day).to_dict(),
    }
    assert_same(on_spark, on_duckdb)
