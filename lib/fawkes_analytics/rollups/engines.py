"""How each engine writes and reads the store's Parquet files (DuckDB and Spark).

The store itself is engine-neutral: Parquet files partitioned by ``part`` (ten-day parts of
a month) listed in a manifest. Only two things differ per engine and live here: writing an
Ibis expression as partitioned Parquet, and registering a list of Parquet files as an Ibis table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from .. import settings


def engine_name(backend: Any) -> str:
    return str(getattr(backend, "name", ""))


def configure(backend: Any) -> None:
    """Apply the memory limit, spill directory and thread count to a DuckDB connection.

    DuckDB's own default memory limit is 80% of RAM; ours is ``FAWKES_ANALYTICS_MEMORY_LIMIT``
    so one process never takes the machine, and larger work spills to the temp directory.
    """
    if engine_name(backend) != "duckdb":
        return
    config = settings.current()
    spill = config.temp_dir
    spill.mkdir(parents=True, exist_ok=True)
    backend.raw_sql(f"SET memory_limit = '{config.memory_limit}'")
    backend.raw_sql(f"SET temp_directory = '{spill.as_posix()}'")
    backend.raw_sql("SET preserve_insertion_order = false")
    if config.threads:
        backend.raw_sql(f"SET threads = {int(config.threads)}")


_DUCKDB_TYPES = {
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}


def _typed_select(sql: str, schema: ibis.Schema) -> str:
    """``sql`` with every column cast to its schema type, plus ``part``.

    Ibis drops a cast to the type it believes a column has, but DuckDB sums integers into
    HUGEINT (which Parquet would store as DOUBLE), so the casts are written out here.
    """
    columns = [
        f'CAST("{name}" AS {_DUCKDB_TYPES[str(dtype).rstrip("!")]}) AS "{name}"' for name, dtype in schema.items()
    ]
    return f'SELECT {", ".join(columns)}, "part" FROM ({sql})'


def write_partitioned(backend: Any, expr: ir.Table, folder: str, schema: ibis.Schema) -> None:
    """Write ``expr`` (columns of ``schema`` and ``part``) under ``folder``: one sub-folder per part."""
    if engine_name(backend) == "duckdb":
        Path(folder).mkdir(parents=True, exist_ok=True)
        backend._run_pre_execute_hooks(expr)  # noqa: SLF001 - registers memtables the query uses
        query = _typed_select(str(backend.compile(expr)), schema)
        escaped = folder.replace("'", "''")
        backend.raw_sql(
            f"COPY ({query}) TO '{escaped}' (FORMAT parquet, PARTITION_BY (part), COMPRESSION zstd, OVERWRITE_OR_IGNORE)"
        )
        return
    if engine_name(backend) == "pyspark":
        backend._run_pre_execute_hooks(expr)  # noqa: SLF001 - registers memtables the query uses
        frame = backend._session.sql(backend.compile(expr))  # noqa: SLF001 - Ibis exposes no writer with partitions
        frame.write.mode("overwrite").partitionBy("part").parquet(folder)
        return
    raise NotImplementedError(f"the rollup store cannot write with the {engine_name(backend)!r} engine")


def read_files(backend: Any, files: list[str], schema: ibis.Schema) -> ir.Table:
    """The Parquet ``files`` as one Ibis table (an empty table of ``schema`` when there are none)."""
    if not files:
        return _empty(schema)
    if engine_name(backend) == "duckdb":
        table = backend.read_parquet(files, hive_partitioning=False)
    elif engine_name(backend) == "pyspark":
        name = f"fawkes_rollup_{abs(hash(tuple(files)))}"
        backend._session.read.parquet(*files).createOrReplaceTempView(name)  # noqa: SLF001
        table = backend.table(name)
    else:
        raise NotImplementedError(f"the rollup store cannot be read with the {engine_name(backend)!r} engine")
    return table


def _empty(schema: ibis.Schema) -> ir.Table:
    import pandas as pd

    frame = pd.DataFrame({name: pd.Series(dtype=dtype.to_pandas()) for name, dtype in schema.items()})
    return ibis.memtable(frame, schema=schema)


def cache(table: ir.Table) -> ir.Table:
    """``table.cache()`` that also works when the expression holds in-memory tables on Spark.

    Ibis's pyspark backend registers memtables (a calendar, a feature map) before executing a
    query but not before caching one (Ibis 12), so they are registered here first.
    """
    backend = table._find_backend()  # noqa: SLF001 - Ibis offers no public accessor
    if engine_name(backend) == "pyspark":
        backend._run_pre_execute_hooks(table)  # noqa: SLF001
    return table.cache()


def list_parquet(folder: str) -> list[str]:
    """Every Parquet file under ``folder`` (sorted; Spark's checksum and marker files skipped)."""
    found = []
    for root, _dirs, names in os.walk(folder):
        found.extend(os.path.join(root, n) for n in names if n.endswith(".parquet") and not n.startswith("."))
    return sorted(found)
