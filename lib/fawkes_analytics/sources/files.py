"""Parquet or CSV files (or globs of them) as a source, read in place by DuckDB through Ibis.

URLs: ``file:///data/events/*.parquet`` (format from the extension), ``parquet:///data/x/*.parquet``
or ``csv:///data/events.csv`` (format given; ``parquet://relative/path`` is relative to the
directory the command ran in, also inside report kernels: ``settings.workdir``). Other canonical tables may be given as query parameters:
``parquet:///data/events/*.parquet?assignments=/data/assignments.parquet&feedback=/data/fb.csv``;
absent ones read as empty tables.

Validation on entry, engine-side and cheap (no table is pulled into pandas): each file's
column names and types are checked (``SchemaError`` names the file), then one query looks for
the first row with a null required value and reports it with its file. Ids stored as
integers are read as text. Timestamps without a time zone are taken as UTC (the storage
convention); CSV timestamps with an offset are converted to UTC. Duplicate ``event_id``
values are not removed here (that needs a full scan); write files through
``schema.validate`` (as the access-log importer does) to guarantee it.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import ibis
import ibis.expr.types as ir

from .. import schema, settings
from ..errors import ParameterError, SchemaError, SourceUnavailable
from .ibis_source import IbisSource

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".gz": "csv"}


def _format_of(pattern: str, given: str | None) -> str:
    if given:
        return given
    for suffix, kind in FORMATS.items():
        if pattern.lower().endswith(suffix):
            return kind
    raise ParameterError(
        "source",
        f"cannot tell the file format of {pattern!r}",
        "a .parquet or .csv path, or a parquet:// or csv:// URL",
    )


def _expand(pattern: str) -> list[str]:
    files = (
        sorted(glob.glob(pattern, recursive=True))
        if glob.has_magic(pattern)
        else ([pattern] if Path(pattern).exists() else [])
    )
    if not files:
        raise SourceUnavailable(f"no file matches {pattern!r}")
    return files


def _read(con: Any, files: list[str] | str, kind: str, **options: Any) -> ir.Table:
    reader = con.read_parquet if kind == "parquet" else con.read_csv
    return reader(files, **options)


def _check_types(table: schema.Table, types: dict[str, str], where: str) -> None:
    """Column names and types of one file; ids may be stored as integers, timestamps may carry a zone."""
    for column in table.columns:
        kind = types.get(column.name)
        if kind is None:
            if column.required:
                raise SchemaError(table.name, column.name, f"missing column (has: {list(types)})", where=where)
            continue
        kind = kind.lower()
        ok = {
            "string": "string" in kind or "int" in kind or kind == "null",
            "timestamp": "timestamp" in kind or kind == "null",
            "integer": "int" in kind or kind == "null",
            "float": any(t in kind for t in ("float", "double", "decimal", "int")) or kind == "null",
        }[column.kind]
        if not ok:
            raise SchemaError(table.name, column.name, f"wrong type {kind}, expected {column.kind}", where=where)


def _canonical(table: schema.Table, raw: ir.Table) -> ir.Table:
    """Select the canonical columns with their canonical types (absent optional ones as null)."""
    target = table.ibis_schema()
    columns = {}
    for name, kind in target.items():
        if name not in raw.columns:
            columns[name] = ibis.null().cast(kind)
        elif kind == "timestamp":
            # tz-aware -> naive in the session zone (UTC); naive stays as stored (UTC by convention)
            columns[name] = raw[name].cast("timestamp")
        else:
            columns[name] = raw[name].cast(kind)
    return raw.select(**columns)


def _first_null_row(table: schema.Table, raw: ir.Table) -> None:
    required = [c.name for c in table.columns if not c.nullable and c.name in raw.columns]
    if not required:
        return
    condition = raw[required[0]].isnull()
    for name in required[1:]:
        condition = condition | raw[name].isnull()
    found = raw.filter(condition).limit(1).execute()
    if len(found):
        row = found.iloc[0].to_dict()
        column = next(
            name for name in required if row.get(name) is None or str(row.get(name)) in ("NaT", "nan", "None")
        )
        where = f"file {row.pop('filename')}"
        raise SchemaError(table.name, column, "null value in a required column", row, where)


def load_table(con: Any, name: str, pattern: str, kind: str | None = None) -> ir.Table:
    """Validate the files of ``pattern`` as canonical table ``name`` and return it canonical."""
    table = schema.TABLES[name]
    kind = _format_of(pattern, kind)
    files = _expand(pattern)
    for path in files:
        types = {k: str(v) for k, v in _read(con, path, kind).schema().items()}
        _check_types(table, types, f"file {path}")
    raw = _read(con, files, kind, union_by_name=True, filename=True)
    _first_null_row(table, raw)
    return _canonical(table, raw)


def open_files(url: str) -> IbisSource:
    """Open a ``file://``, ``parquet://`` or ``csv://`` URL as a read-in-place source."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    given = None if scheme == "file" else scheme
    location = unquote(url.split("://", 1)[1].split("?", 1)[0])
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    patterns = {
        "events": settings.local_path(location),
        **{k: settings.local_path(v[-1]) for k, v in parse_qs(parts.query).items() if k in ("assignments", "feedback")},
    }
    for name, pattern in patterns.items():
        con.create_view(name, load_table(con, name, pattern, given if name == "events" else None), overwrite=True)
    for name in ("assignments", "feedback"):
        if name not in patterns:  # absent tables are empty, with their canonical types
            con.create_table(name, schema=ibis.schema(schema.TABLES[name].ibis_schema()))
    return IbisSource(con, url, kind=given or _format_of(location, None))


__all__ = ["load_table", "open_files"]
