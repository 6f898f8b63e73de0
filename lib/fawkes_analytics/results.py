"""Base of the typed result objects every metric family returns: the contract between layers.

Results hold scalar KPIs and small pandas DataFrames. Three things hold for every result:

- ``to_dict()`` gives a JSON-ready mapping (data.json, dashboards, the API). Tables become
  lists of records, and their column types are kept beside them under ``dtypes`` so that
- ``type(r).from_dict(r.to_dict()) == r``: dashboards and emails rebuild the very objects the
  report computed from published JSON, without recomputing anything;
- ``to_frames()`` gives the tables to write as CSV.

JSON has no NaN and no infinity: NaN becomes null, and an infinite value (the open end of a
one-sided interval) becomes the string "Infinity" or "-Infinity", which ``float()`` reads back.

Equality compares every field; tables are equal when they hold the same rows, columns and
column types, value for value (the row index is not part of a result).

Naming: a result's headline numbers are fields; their previous-period values are in
``previous[name]`` and their changes in ``change[name]`` (in percent, or in points for
rates). Tables with one row per item carry ``<column>_previous`` and ``<column>_change``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .kpi import percent_change, point_change
from .timerange import TimeRange

DTYPES = "dtypes"  # the key of the column types in a result's dict
INFINITY = "Infinity"  # how JSON carries an infinite bound (float("Infinity") reads it back)


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars, frames, dates and dataclasses to plain JSON values."""
    if isinstance(value, Result):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        if math.isinf(value):  # one-sided intervals end at infinity; JSON has no number for it
            return INFINITY if value > 0 else f"-{INFINITY}"
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (timedelta, pd.Timedelta)):
        return value.total_seconds()
    if value is pd.NaT or (
        value is not None and not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)
    ):
        return None
    return value


class Result:
    """Mixin for result dataclasses (declared with ``@dataclass(eq=False)``, so this equality holds).

    Fields holding DataFrames become tables; every other field becomes a JSON value.
    """

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        dtypes = {name: frame_dtypes(frame) for name, frame in self._frame_fields().items()}
        if dtypes:
            out[DTYPES] = dtypes
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> typing.Self:
        """The result whose ``to_dict()`` is ``data`` (keys this type does not know are ignored)."""
        hints = typing.get_type_hints(cls)
        dtypes = data.get(DTYPES) or {}
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                values[f.name] = restore(hints[f.name], data[f.name], dtypes.get(f.name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{cls.__name__}.from_dict: the field {f.name!r} is missing")
        return cls(**values)

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The tables to publish as CSV (by default every DataFrame field)."""
        return self._frame_fields()

    def _frame_fields(self) -> dict[str, pd.DataFrame]:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        return {f.name: getattr(self, f.name) for f in fields if isinstance(getattr(self, f.name), pd.DataFrame)}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _same_fields(self, other)

    __hash__ = None  # type: ignore[assignment]  # results are mutable values


# --- tables -------------------------------------------------------------------------------
def frame_dtypes(frame: pd.DataFrame) -> dict[str, str]:
    """Column name -> dtype name, in column order (what ``frame_from_records`` restores)."""
    return {str(name): str(dtype) for name, dtype in frame.dtypes.items()}


def frame_from_records(records: list[dict[str, Any]] | None, dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A table from its records, with the column order and types it was published with."""
    records = records or []
    if not dtypes:
        return pd.DataFrame.from_records(records)
    frame = pd.DataFrame.from_records(records, columns=list(dtypes)) if records else pd.DataFrame(columns=list(dtypes))
    for name, dtype in dtypes.items():
        frame[name] = _as_dtype(frame[name], dtype)
    return frame


def _as_dtype(series: pd.Series, dtype: str) -> pd.Series:
    if dtype.startswith("datetime64"):
        aware = "," in dtype  # datetime64[ns, UTC]
        parsed = pd.to_datetime(series, utc=aware, format="ISO8601")
        if aware:
            parsed = parsed.dt.tz_convert(dtype.split(",", 1)[1].strip(" ]"))
        return parsed.astype(dtype)
    if dtype.startswith("timedelta64"):
        return pd.to_timedelta(series, unit="s").astype(dtype)
    if dtype == "object":
        return series.astype(object).where(series.notna(), None) if len(series) else series.astype(object)
    return series.astype(dtype)


def frames_equal(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    """Same columns, column types and values, whatever the row index. Missing values are
    equal to each other (NaN, and None or NaN in text columns: JSON has one null)."""
    try:
        pd.testing.assert_frame_equal(
            _nulls_as_none(left), _nulls_as_none(right), check_exact=True, check_index_type=False
        )
    except AssertionError:
        return False
    return True


def _nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    text = [name for name, dtype in frame.dtypes.items() if pd.api.types.is_object_dtype(dtype)]
    return frame.assign(**{name: frame[name].where(frame[name].notna(), None) for name in text}) if text else frame


def _same_fields(left: Result, right: Result) -> bool:
    return all(same(getattr(left, f.name), getattr(right, f.name)) for f in dataclasses.fields(left))  # type: ignore[arg-type]


def same(left: Any, right: Any) -> bool:
    """Equality of result field values: tables by content, NaN equal to NaN, containers deeply."""
    if isinstance(left, Result) and isinstance(right, Result):
        return type(left) is type(right) and _same_fields(left, right)
    if isinstance(left, pd.DataFrame) or isinstance(right, pd.DataFrame):
        return isinstance(left, pd.DataFrame) and isinstance(right, pd.DataFrame) and frames_equal(left, right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return True
    return bool(left == right)


# --- rebuilding typed values from JSON ----------------------------------------------------
def restore(hint: Any, value: Any, dtypes: Mapping[str, str] | None = None) -> Any:
    """``value`` (from JSON) as the type ``hint`` of a result field says."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return restore(options[0], value, dtypes) if len(options) == 1 else value
    if hint is pd.DataFrame:
        return frame_from_records(value, dtypes)
    if isinstance(hint, type) and issubclass(hint, Result):
        return hint.from_dict(value)
    if hint is TimeRange:
        return TimeRange.from_dict(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        field_hints = typing.get_type_hints(hint)
        return hint(**{k: restore(field_hints[k], v) for k, v in value.items() if k in field_hints})
    if origin is dict:
        inner = args[1] if len(args) == 2 else Any
        return {k: restore(inner, v) for k, v in value.items()}
    if origin is list:
        inner = args[0] if args else Any
        return [restore(inner, v) for v in value]
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is float and isinstance(value, str):
        return float(value)
    return value


__all__ = [
    "DTYPES",
    "Result",
    "frame_dtypes",
    "frame_from_records",
    "frames_equal",
    "jsonable",
    "percent_change",
    "point_change",
    "restore",
    "same",
]
