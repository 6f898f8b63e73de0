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
def spark_backend(spark_connect_url: str) -> Iterator[object]:
    """Ibis on one Spark Connect session for the whole run (the path a real cluster uses)."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(spark_connect_url).getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    yield ibis.pyspark.connect(session)


@pytest.fixture(scope="session")
def spark_connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Spark Connect server (pyspark's own) on a free loopback port, for the whole run.

    The scale-out path: the library talks to it exactly as to a cluster's endpoint.
    """
    pyspark = pytest.importorskip("pyspark")
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    home = Path(pyspark.__file__).parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("spark-connect") / "server.log"
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("spark-connect-warehouse")),
    }
    command = [str(home / "bin" / "spark-submit"), "--master", "local[2]"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "spark-internal"]
    env = dict(os.environ, SPARK_HOME=str(home), PYSPARK_PYTHON=sys.executable)
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"Spark Connect server did not start; log: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    yield f"sc://127.0.0.1:{port}"
    # Close the clients first: a Spark Connect client retries a gone server for minutes at exit.
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    active = ConnectSession.getActiveSession()
    if active is not None:
        active.stop()
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


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
