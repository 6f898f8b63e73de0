"""Headline numbers in one shape, with the metadata every view needs to show them.

A ``Kpi`` is a value, the previous period's value and the change between them, plus what a
reader needs to understand it: a label, a unit, a format and a direction (is a rise good,
bad or neither?). A metric module declares its KPIs once, as ``KpiSpec`` objects next to the
result type, and builds ``Kpi`` objects from them; reports, dashboards, emails, data.json
and the Prometheus export all read the same objects.

Changes follow SEMANTICS.md (Plausible): in percent, except for rates (bounce rate,
conversion and adoption rates, NPS), whose change is the difference in points. Old value 0
and new > 0 gives +100 %, both 0 gives 0. Some numbers are never compared with the previous
period: all-time totals and cumulative counts (``change_unit`` "none", with a ``note`` such
as "all time" saying why). Nothing is rounded here; rounding is for rendering
(``formats.py``).

This module imports nothing heavy: delivery and dashboards read KPIs from data.json with
``Kpi.from_dict`` without loading pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

HIGHER_IS_BETTER = "higher"
LOWER_IS_BETTER = "lower"
NEUTRAL = "neutral"
DIRECTIONS = (HIGHER_IS_BETTER, LOWER_IS_BETTER, NEUTRAL)

PERCENT = "percent"  # change in percent of the previous value
POINTS = "points"  # change as a difference (percentage points for rates, points for NPS)
NO_CHANGE = "none"  # never compared with the previous period
CHANGE_UNITS = (PERCENT, POINTS, NO_CHANGE)

# How a value reads (formats.py renders each): 1,234 · 18.3% · 4 min 54 s · 2.45 · +15.5
FORMATS = ("count", "percent", "duration", "number", "score")
_FORMAT_OF_UNIT = {"%": "percent", "s": "duration"}  # data.json written before formats existed


def percent_change(new: float | None, old: float | None) -> float | None:
    """Change in percent (Plausible): old 0 and new > 0 gives +100, both 0 gives 0."""
    if new is None or old is None:
        return None
    if old == 0:
        return 100.0 if new > 0 else (0.0 if new == 0 else -100.0)
    return (new - old) / old * 100.0


def point_change(new: float | None, old: float | None) -> float | None:
    """Change in points, for rates such as bounce rate and conversion rates."""
    if new is None or old is None:
        return None
    return new - old


@dataclass(frozen=True)
class Kpi:
    """A headline number with its comparison against the previous period and its metadata.

    ``trend`` ("up", "down" or "stable") is set when the metric has its own rule for what
    counts as a move (feature adoption's threshold); otherwise the sign of the change, as
    shown, decides. ``note`` replaces the change where there is none by nature.
    """

    name: str
    label: str
    value: float | None
    previous: float | None
    change: float | None
    change_unit: str  # PERCENT, POINTS or NO_CHANGE
    unit: str = ""  # "", "%", "s", "points"
    format: str = "count"
    direction: str = HIGHER_IS_BETTER
    trend: str | None = None
    note: str | None = None
    area: str | None = None  # the registry area it belongs to (areas.py), for grouping

    @classmethod
    def compare(
        cls, name: str, label: str, value: float | None, previous: float | None, points: bool = False, unit: str = ""
    ) -> Kpi:
        """A KPI compared in percent (or in points), formatted after its unit, higher is better."""
        spec = KpiSpec(
            name, label, unit, _FORMAT_OF_UNIT.get(unit, "number"), change_unit=POINTS if points else PERCENT
        )
        return spec.of(value, previous)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> Kpi:
        """A KPI from its ``to_dict()`` (or from data.json written before the metadata existed)."""
        unit = data.get("unit") or ""
        return cls(
            name=str(data.get("name") or name or ""),
            label=str(data.get("label") or data.get("name") or name or ""),
            value=data.get("value"),
            previous=data.get("previous"),
            change=data.get("change"),
            change_unit=_change_unit(data.get("change_unit")),
            unit=unit,
            format=data.get("format") or _FORMAT_OF_UNIT.get(unit, "number"),
            direction=data.get("direction") or HIGHER_IS_BETTER,
            trend=data.get("trend"),
            note=data.get("note"),
            area=data.get("area"),
        )


def _change_unit(raw: Any) -> str:
    if raw in ("pp", "points", "percentage_points"):
        return POINTS
    return NO_CHANGE if raw == NO_CHANGE else PERCENT


@dataclass(frozen=True)
class KpiSpec:
    """What a KPI is, declared once next to the result that computes it."""

    name: str
    label: str
    unit: str = ""
    format: str = "count"
    direction: str = HIGHER_IS_BETTER
    change_unit: str = PERCENT
    note: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"KPI {self.name}: format {self.format!r} is not one of {FORMATS}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"KPI {self.name}: direction {self.direction!r} is not one of {DIRECTIONS}")
        if self.change_unit not in CHANGE_UNITS:
            raise ValueError(f"KPI {self.name}: change unit {self.change_unit!r} is not one of {CHANGE_UNITS}")

    def of(
        self,
        value: float | None,
        previous: float | None = None,
        *,
        change: float | None = None,
        trend: str | None = None,
        name: str | None = None,
        label: str | None = None,
    ) -> Kpi:
        """The KPI for these values; the change is computed unless given (or never compared)."""
        if self.change_unit == NO_CHANGE:
            previous, change = None, None
        elif change is None:
            change = (point_change if self.change_unit == POINTS else percent_change)(value, previous)
        return Kpi(
            name or self.name,
            label or self.label,
            value,
            previous,
            change,
            self.change_unit,
            self.unit,
            self.format,
            self.direction,
            trend,
            self.note,
        )

    def named(self, name: str, label: str) -> KpiSpec:
        """The same kind of KPI under another name (one per feature, funnel, segment)."""
        return replace(self, name=name, label=label)
