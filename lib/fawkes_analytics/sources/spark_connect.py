"""A Spark cluster reached through Spark Connect: the scale-out engine.

URL: ``sc://host:port/?events=<table or path>&assignments=...&feedback=...``. Each canonical
table is a table name in the cluster's catalog (``analytics.events``) or a Parquet path
the cluster can read (``/data/events/``, ``s3a://bucket/events/``); ``events`` is required,
absent others read as empty tables. Any other query parameter is passed to Spark Connect as
is (``token=...`` for an authenticated endpoint, ``use_ssl=true``), and is never printed.

The library runs the same Ibis queries here as on DuckDB; the session's time zone is set to
UTC (the storage convention of timestamps). The rollup store of a Spark source lives at
``FAWKES_ANALYTICS_ROLLUPS``: a path the driver (this process) and the cluster both see.
docs/scale-out.md says what runs where.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import ParameterError, SourceUnavailable
from .base import redact_text, redact_url
from .ibis_source import IbisSource

TABLES = ("events", "assignments", "feedback")


def _is_path(value: str) -> bool:
    return "/" in value or value.endswith(".parquet")


def open_spark_connect(url: str) -> IbisSource:
    """Connect to the Spark Connect endpoint of ``url`` and register the canonical tables."""
    import ibis
    from pyspark.sql import SparkSession

    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    locations = {name: options.pop(name) for name in TABLES if name in options}
    if "events" not in locations:
        raise ParameterError(
            "source", f"{redact_url(url)} names no events table", "sc://host:port/?events=<table or parquet path>"
        )
    remote = f"sc://{parts.netloc}" + (f"/;{';'.join(f'{k}={v}' for k, v in options.items())}" if options else "")
    try:
        session = SparkSession.builder.remote(remote).getOrCreate()
        session.conf.set("spark.sql.session.timeZone", "UTC")
    except Exception as exc:  # grpc and py4j errors vary; the message says what failed
        raise SourceUnavailable(f"cannot reach Spark Connect at {redact_url(url)}: {redact_text(str(exc))}") from exc
    names = {}
    for name, location in locations.items():
        if _is_path(location):
            view = f"fawkes_{name}"
            session.read.parquet(location).createOrReplaceTempView(view)
            names[name] = view
        else:
            names[name] = location
    backend = ibis.pyspark.connect(session)
    shown = urlsplit(url)._replace(query=urlencode(locations)).geturl()
    return IbisSource(backend, shown, "spark-connect", tables=names)
