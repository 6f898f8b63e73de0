"""Base of the typed result objects every metric family returns.

Results hold scalar KPIs and small pandas DataFrames. ``to_dict()`` gives a JSON-ready
mapping (used by data.json, dashboards and metrics) and ``to_frames()`` the tables to write
as CSV, so notebooks, exports and dashboards all read the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd


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
        return None if math.isnan(value) or math.isinf(value) else float(value)
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
    """Mixin for result dataclasses: JSON via ``to_dict`` and CSV tables via ``to_frames``.

    Fields holding DataFrames become tables; every other field becomes a JSON value.
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_frames(self) -> dict[str, pd.DataFrame]:
        frames = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, pd.DataFrame):
                frames[f.name] = value
        return frames


def percent_change(new: float | None, old: float | None) -> float | None:
    """Change in percent (Plausible): old 0 and new > 0 gives +100, both 0 gives 0."""
    if new is None or old is None:
        return None
    if old == 0:
        return 100.0 if new > 0 else (0.0 if new == 0 else -100.0)
    return (new - old) / old * 100.0


def point_change(new: float | None, old: float | None) -> float | None:
    """Change in percentage points, for rates such as bounce rate and conversion rates."""
    if new is None or old is None:
        return None
    return new - old
