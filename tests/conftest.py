"""Shared fixtures: sources on DuckDB and on Spark (local mode) built from small frames."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import ibis
import pandas as pd
import pytest

from fawkes_analytics import schema
from fawkes_analytics.sources import IbisSource

_counter = itertools.count()


def _canonical(name: str, frame: pd.DataFrame) -> object:
    """Validate a hand-built frame and type it as the canonical table."""
    return schema.as_memtable(name, schema.validate(name, frame).frame)


def duckdb_source(frames: dict[str, pd.DataFrame]) -> IbisSource:
    """An in-memory DuckDB source holding the given canonical tables (validated first)."""
    backend = ibis.duckdb.connect()
    for name, frame in frames.items():
        backend.create_table(name, _canonical(name, frame))
    return IbisSource(backend, "duckdb://:memory:", "duckdb")


@pytest.fixture(scope="session")
def spark_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local Spark session for the whole test run (it takes seconds to start)."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("fawkes-analytics-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield ibis.pyspark.connect(session)
    session.stop()


def spark_source(backend: object, frames: dict[str, pd.DataFrame]) -> IbisSource:
    """A Spark source holding the given tables under fresh names (tables never collide)."""
    suffix = next(_counter)
    names = {}
    for name, frame in frames.items():
        stored = f"{name}_{suffix}"
        backend.create_table(stored, _canonical(name, frame))  # type: ignore[attr-defined]
        names[name] = stored
    return IbisSource(backend, "spark://local", "pyspark", tables=names)


@pytest.fixture
def make_source(request: pytest.FixtureRequest) -> Callable[..., IbisSource]:
    """Build a source from canonical frames: ``make_source(events=df, engine="duckdb")``."""

    def build(engine: str = "duckdb", **frames: pd.DataFrame) -> IbisSource:
        if engine == "duckdb":
            return duckdb_source(frames)
        if engine == "spark":
            return spark_source(request.getfixturevalue("spark_backend"), frames)
        raise ValueError(engine)

    return build


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> str:
    """Parametrise a test over both engines (parity)."""
    return request.param


DEMO_END = "2026-11-15T12:00:00+00:00"


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A small demo data set (about 40,000 events over 60 days) in a DuckDB file, made once."""
    from datetime import datetime

    from fawkes_analytics import demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    return demo.generate(path, events=40_000, seed=3, days=60, end=datetime.fromisoformat(DEMO_END), progress=False)


@pytest.fixture
def demo_env(demo_db: object, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> object:
    """Point the source at the small demo data and the reports at a fresh folder."""
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
    monkeypatch.setenv("FAWKES_ANALYTICS_REPORTS_DIR", str(tmp_path / "reports"))  # type: ignore[operator]
    return demo_db
