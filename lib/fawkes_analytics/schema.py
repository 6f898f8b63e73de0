"""Canonical tables (events, assignments, feedback) and their validation.

Validation happens once, where data enters the system (demo generator, file and HTTP
imports). It returns a frame in canonical form: string ids, timestamps as naive UTC
``datetime64[us]`` (the storage convention of every engine here), and drops duplicated
events by ``event_id``, counting them. Anything it cannot fix raises ``SchemaError`` naming
the table, the column, the problem and an example row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .errors import SchemaError


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    kind: str  # "string", "timestamp", "integer", "float"
    required: bool = True
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Table:
    """A canonical table: its name, its columns and its unique key (if any)."""

    name: str
    columns: tuple[Column, ...]
    unique_key: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ibis_schema(self) -> dict[str, str]:
        """The Ibis type of each column, for creating empty tables."""
        types = {"string": "string", "timestamp": "timestamp", "integer": "int64", "float": "float64"}
        return {c.name: types[c.kind] for c in self.columns}


EVENTS = Table(
    "events",
    (
        Column("event_id", "string"),
        Column("timestamp", "timestamp"),
        Column("user_id", "string"),
        Column("event_name", "string"),
        Column("session_id", "string", required=False, nullable=True),
        Column("page", "string", required=False, nullable=True),
        Column("referrer", "string", required=False, nullable=True),
        Column("source", "string", required=False, nullable=True),
        Column("utm_source", "string", required=False, nullable=True),
        Column("utm_medium", "string", required=False, nullable=True),
        Column("utm_campaign", "string", required=False, nullable=True),
        Column("properties", "string", required=False, nullable=True),
    ),
    unique_key="event_id",
)

ASSIGNMENTS = Table(
    "assignments",
    (
        Column("experiment_id", "string"),
        Column("variant", "string"),
        Column("user_id", "string"),
        Column("assigned_at", "timestamp"),
    ),
)

FEEDBACK = Table(
    "feedback",
    (
        Column("user_id", "string"),
        Column("timestamp", "timestamp"),
        Column("score", "integer", minimum=0, maximum=10),
        Column("kind", "string", required=False, nullable=True),
        Column("comment", "string", required=False, nullable=True),
        Column("category", "string", required=False, nullable=True),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (EVENTS, ASSIGNMENTS, FEEDBACK)}


@dataclass
class Validated:
    """A frame in canonical form and what validation removed from it."""

    frame: pd.DataFrame
    duplicates_dropped: int = 0


def _example(df: pd.DataFrame, mask: pd.Series, row_offset: int) -> str:
    position = int(mask.to_numpy().nonzero()[0][0])
    record = {k: (None if pd.isna(v) else v) for k, v in df.iloc[position].to_dict().items()}
    return f"row {position + 1 + row_offset}: {record}"


def _to_timestamp(table: Table, column: Column, df: pd.DataFrame, where: str | None, offset: int) -> pd.Series:
    values = df[column.name]
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is None:
            raise SchemaError(
                table.name,
                column.name,
                "timezone-less timestamps (give an offset or 'Z')",
                _example(df, values.notna(), offset),
                where,
            )
        return values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        raise SchemaError(
            table.name,
            column.name,
            f"wrong type {values.dtype}, expected a timestamp",
            _example(df, values.notna() | values.isna(), offset),
            where,
        )
    text = values.astype("string")
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna() & text.notna()
    if bad.any():
        raise SchemaError(table.name, column.name, "unparseable timestamp", _example(df, bad, offset), where)
    has_zone = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)\s*$", regex=True, na=True)
    if (~has_zone).any():
        raise SchemaError(
            table.name,
            column.name,
            "timezone-less timestamp (give an offset or 'Z')",
            _example(df, ~has_zone, offset),
            where,
        )
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def _to_number(table: Table, column: Column, df: pd.DataFrame, where: str | None, offset: int) -> pd.Series:
    values = df[column.name]
    if pd.api.types.is_bool_dtype(values):
        raise SchemaError(
            table.name, column.name, "wrong type bool, expected a number", _example(df, values.notna(), offset), where
        )
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise SchemaError(table.name, column.name, "wrong type, expected a number", _example(df, bad, offset), where)
    if column.minimum is not None and (numbers < column.minimum).any():
        raise SchemaError(
            table.name,
            column.name,
            f"value below {column.minimum:g} is impossible",
            _example(df, numbers < column.minimum, offset),
            where,
        )
    if column.maximum is not None and (numbers > column.maximum).any():
        raise SchemaError(
            table.name,
            column.name,
            f"value above {column.maximum:g} is impossible",
            _example(df, numbers > column.maximum, offset),
            where,
        )
    if column.kind == "integer":
        if ((numbers % 1) != 0).any():
            raise SchemaError(
                table.name, column.name, "expected whole numbers", _example(df, (numbers % 1) != 0, offset), where
            )
        return numbers.astype("Int64" if column.nullable else "int64")
    return numbers.astype("float64")


def _to_string(table: Table, column: Column, df: pd.DataFrame, where: str | None, offset: int) -> pd.Series:
    values = df[column.name]
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise SchemaError(
            table.name,
            column.name,
            f"wrong type {values.dtype}, expected text",
            _example(df, values.notna() | values.isna(), offset),
            where,
        )
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if ((whole % 1) != 0).any():
            raise SchemaError(
                table.name,
                column.name,
                "wrong type float, expected text or an integer id",
                _example(df, values.notna() & ((values % 1) != 0), offset),
                where,
            )
        values = values.astype("Int64")
    return values.astype("string").astype(object).where(values.notna(), None)


_CONVERTERS = {"timestamp": _to_timestamp, "integer": _to_number, "float": _to_number, "string": _to_string}


def validate(table_name: str, df: pd.DataFrame, where: str | None = None, row_offset: int = 0) -> Validated:
    """Check ``df`` against the canonical table ``table_name`` and return it in canonical form.

    ``where`` names the origin (a file path, an endpoint) in error messages; ``row_offset``
    makes row numbers count from the start of a stream rather than of this chunk.
    """
    table = TABLES[table_name]
    missing = [c.name for c in table.columns if c.required and c.name not in df.columns]
    if missing:
        example = f"row {1 + row_offset}: {df.iloc[0].to_dict()}" if len(df) else None
        raise SchemaError(table.name, missing[0], f"missing column (has: {list(df.columns)})", example, where)
    df = df.reset_index(drop=True)
    out = {}
    for column in table.columns:
        if column.name not in df.columns:
            out[column.name] = pd.Series([None] * len(df), dtype=object)
            continue
        values = df[column.name]
        if not column.nullable:
            empty = values.isna() | (values.astype("string").str.strip() == "")
            if empty.any():
                raise SchemaError(
                    table.name, column.name, "null or empty value", _example(df, empty, row_offset), where
                )
        out[column.name] = _CONVERTERS[column.kind](table, column, df, where, row_offset)
    frame = pd.DataFrame(out, columns=table.column_names)
    dropped = 0
    if table.unique_key:
        duplicated = frame.duplicated(table.unique_key, keep="first")
        dropped = int(duplicated.sum())
        if dropped:
            frame = frame.loc[~duplicated].reset_index(drop=True)
    return Validated(frame, dropped)


def empty_frame(table_name: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes of ``table_name``."""
    dtypes = {"string": object, "timestamp": "datetime64[us]", "integer": "int64", "float": "float64"}
    return pd.DataFrame({c.name: pd.Series([], dtype=dtypes[c.kind]) for c in TABLES[table_name].columns})


def as_memtable(table_name: str, frame: pd.DataFrame):
    """A canonical frame as an Ibis memtable with the canonical column types (all-null safe)."""
    import ibis

    table = TABLES[table_name]
    return ibis.memtable(frame[table.column_names], schema=table.ibis_schema())


def check_columns(table_name: str, schema: dict[str, str], where: str) -> None:
    """Check a stored table's column names and types (from the engine's schema) cheaply."""
    table = TABLES[table_name]
    for column in table.columns:
        if column.name not in schema:
            if column.required:
                raise SchemaError(table.name, column.name, f"missing column (has: {list(schema)})", where=where)
            continue
        kind = schema[column.name].lower()
        if kind == "null":
            continue
        ok = {
            "timestamp": "timestamp" in kind,
            "string": "string" in kind or "varchar" in kind,
            "integer": "int" in kind,
            "float": "float" in kind or "double" in kind or "decimal" in kind or "int" in kind,
        }[column.kind]
        if not ok:
            raise SchemaError(table.name, column.name, f"wrong type {kind}, expected {column.kind}", where=where)
