"""Typed results of the anomaly checks and forecasts, each with ``to_dict``/``from_dict``.

``to_dict`` gives plain JSON values (dates as ISO strings, tables as lists of records,
NaN as null) for data.json, dashboards and the metrics export; ``from_dict`` reads them
back into equal objects, so a published result can be rendered again without recomputing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from ..results import Result, jsonable
from .kpis import KpiSpec

DAY_COLUMNS = ("day", "observed", "expected", "lower", "upper", "z", "status")
FORECAST_COLUMNS = ("day", "forecast", "lower", "upper")


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [jsonable(r) for r in frame.to_dict(orient="records")]


def _frame(records: list[dict[str, Any]], columns: tuple[str, ...], text: tuple[str, ...] = ()) -> pd.DataFrame:
    """A table back from records: ``day`` as dates, ``text`` columns as strings, the rest floats."""
    out = {}
    for column in columns:
        values = [r.get(column) for r in records]
        if column == "day":
            out[column] = [date.fromisoformat(str(v)) for v in values]
        elif column in text:
            out[column] = pd.Series(values, dtype="object")
        else:
            out[column] = pd.Series([_num(v) for v in values], dtype="float64")
    return pd.DataFrame(out, columns=list(columns))


@dataclass(frozen=True)
class Flag:
    """One unusual day of one KPI.

    ``change`` is in ``change_unit`` ("percent" for counts and durations, "points" for rates
    and NPS); ``z`` is the robust z of the day (its ``strength`` is ``abs(z)``); ``good``
    says whether the move is good news for this KPI (a bounce rate going down is).
    """

    kpi: str
    label: str
    day: date
    observed: float
    expected: float
    change: float
    change_unit: str
    z: float
    direction: str  # "up" or "down"
    good: bool
    sentence: str

    @property
    def strength(self) -> float:
        return abs(self.z)

    def to_dict(self) -> dict[str, Any]:
        out = jsonable(self)
        out["strength"] = self.strength
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Flag:
        return cls(
            kpi=raw["kpi"],
            label=raw["label"],
            day=date.fromisoformat(raw["day"]),
            observed=_num(raw["observed"]),
            expected=_num(raw["expected"]),
            change=_num(raw["change"]),
            change_unit=raw["change_unit"],
            z=_num(raw["z"]),
            direction=raw["direction"],
            good=bool(raw["good"]),
            sentence=raw["sentence"],
        )


@dataclass(eq=False)
class KpiCheck(Result):
    """The verdict on one KPI over the judged days.

    ``status``: "flagged" (at least one flag), "ok", "not_enough_history" (no day could be
    judged: too short a series), "no_data" or "not_final" (a funnel whose judged days are all
    inside the conversion window). ``days`` has ``DAY_COLUMNS`` for every judged day;
    ``lower``/``upper`` bound the values that would not have been flagged.
    ``smallest_change`` is how far (in ``kpi.change_unit``) the last judged day would have
    had to move to be flagged: changes below it cannot be told from daily noise.
    """

    kpi: KpiSpec
    status: str
    sensitivity: str | float
    threshold: float
    days: pd.DataFrame
    flags: list[Flag] = field(default_factory=list)
    smallest_change: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi.to_dict(),
            "status": self.status,
            "sensitivity": self.sensitivity,
            "threshold": self.threshold,
            "days": _records(self.days[list(DAY_COLUMNS)]),
            "flags": [f.to_dict() for f in self.flags],
            "smallest_change": jsonable(self.smallest_change),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> KpiCheck:
        return cls(
            kpi=KpiSpec.from_dict(raw["kpi"]),
            status=raw["status"],
            sensitivity=raw["sensitivity"],
            threshold=float(raw["threshold"]),
            days=_frame(raw["days"], DAY_COLUMNS, text=("status",)),
            flags=[Flag.from_dict(f) for f in raw["flags"]],
            smallest_change=None if raw["smallest_change"] is None else float(raw["smallest_change"]),
            message=raw.get("message", ""),
        )


@dataclass(eq=False)
class AnomalyReport(Result):
    """Unusual changes of every KPI over the local days ``first_day`` to ``last_day``.

    ``flags`` holds every flag of every KPI, strongest first: what a report's "Unusual
    changes" section lists, one sentence each.
    """

    as_of: datetime
    tz: str
    first_day: date
    last_day: date
    checks: list[KpiCheck]
    flags: list[Flag]
    method: dict[str, Any]
    forecasts: ForecastReport | None = None  # where the KPIs are heading, when it was asked for
    unavailable: str = ""  # why nothing could be judged at all (an aggregate-only source), else ""

    def flags_of(self, kpi: str) -> list[Flag]:
        """The flags of one KPI (strongest first)."""
        return [f for f in self.flags if f.kpi == kpi]

    def check(self, kpi: str) -> KpiCheck:
        """The check of one KPI by name (``visitors``, ``conversion.onboarding``, ...)."""
        for c in self.checks:
            if c.kpi.name == kpi:
                return c
        raise KeyError(kpi)

    def only(self, kpis: Iterable[str]) -> AnomalyReport:
        """The same report narrowed to the KPIs named (a report of one area shows its own).

        Each KPI is judged and forecast on its own series, so the narrowed report equals one
        computed for those KPIs alone, and every report can read the one kept for all KPIs.
        """
        names = set(kpis)
        forecasts = self.forecasts
        if forecasts is not None:
            kept = [f for f in forecasts.forecasts if f.kpi.name in names]
            forecasts = ForecastReport(forecasts.as_of, forecasts.tz, forecasts.horizon, forecasts.level, kept)
        return AnomalyReport(
            self.as_of,
            self.tz,
            self.first_day,
            self.last_day,
            [c for c in self.checks if c.kpi.name in names],
            [f for f in self.flags if f.kpi in names],
            dict(self.method),
            forecasts,
            self.unavailable,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "tz": self.tz,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "checks": [c.to_dict() for c in self.checks],
            "flags": [f.to_dict() for f in self.flags],
            "method": jsonable(self.method),
            "forecasts": None if self.forecasts is None else self.forecasts.to_dict(),
            "unavailable": self.unavailable,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AnomalyReport:
        return cls(
            as_of=datetime.fromisoformat(raw["as_of"]),
            tz=raw["tz"],
            first_day=date.fromisoformat(raw["first_day"]),
            last_day=date.fromisoformat(raw["last_day"]),
            checks=[KpiCheck.from_dict(c) for c in raw["checks"]],
            flags=[Flag.from_dict(f) for f in raw["flags"]],
            method=dict(raw["method"]),
            forecasts=None if raw.get("forecasts") is None else ForecastReport.from_dict(raw["forecasts"]),
            unavailable=str(raw.get("unavailable") or ""),
        )

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The flags as one table (for CSV export), strongest first."""
        rows = [f.to_dict() for f in self.flags]
        columns = ["kpi", "label", "day", "observed", "expected", "change", "change_unit", "z", "strength"]
        columns += ["direction", "good", "sentence"]
        frames = {"unusual_changes": pd.DataFrame(rows, columns=columns)}
        if self.forecasts is not None:
            frames |= self.forecasts.to_frames()
        return frames


@dataclass(eq=False)
class KpiForecast(Result):
    """The forecast of one KPI: ``points`` has ``FORECAST_COLUMNS`` for each day ahead.

    ``status`` is "ok" or "not_enough_history"; ``last_day`` is the last observed (final)
    day the forecast starts after; ``level`` the coverage of the prediction interval.
    """

    kpi: KpiSpec
    status: str
    method: str
    level: float
    last_day: date | None
    points: pd.DataFrame
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi.to_dict(),
            "status": self.status,
            "method": self.method,
            "level": self.level,
            "last_day": None if self.last_day is None else self.last_day.isoformat(),
            "points": _records(self.points[list(FORECAST_COLUMNS)]),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> KpiForecast:
        return cls(
            kpi=KpiSpec.from_dict(raw["kpi"]),
            status=raw["status"],
            method=raw["method"],
            level=float(raw["level"]),
            last_day=None if raw["last_day"] is None else date.fromisoformat(raw["last_day"]),
            points=_frame(raw["points"], FORECAST_COLUMNS),
            message=raw.get("message", ""),
        )


@dataclass(eq=False)
class ForecastReport(Result):
    """Forecasts ``horizon`` days ahead for the usage KPIs and the funnel conversions."""

    as_of: datetime
    tz: str
    horizon: int
    level: float
    forecasts: list[KpiForecast]

    def forecast(self, kpi: str) -> KpiForecast:
        for f in self.forecasts:
            if f.kpi.name == kpi:
                return f
        raise KeyError(kpi)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "tz": self.tz,
            "horizon": self.horizon,
            "level": self.level,
            "forecasts": [f.to_dict() for f in self.forecasts],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ForecastReport:
        return cls(
            as_of=datetime.fromisoformat(raw["as_of"]),
            tz=raw["tz"],
            horizon=int(raw["horizon"]),
            level=float(raw["level"]),
            forecasts=[KpiForecast.from_dict(f) for f in raw["forecasts"]],
        )

    def to_frames(self) -> dict[str, pd.DataFrame]:
        frames = []
        for f in self.forecasts:
            part = f.points.copy()
            part.insert(0, "kpi", f.kpi.name)
            frames.append(part)
        columns = ["kpi", *FORECAST_COLUMNS]
        return {"forecast": pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)}
