"""One uniform shape for headline numbers, so reports, dashboards and exports can iterate.

A ``Kpi`` carries its value, the previous period's value and the change between them, in
percent or, for rates (bounce rate, conversion and adoption rates), in percentage points, as
SEMANTICS.md (Plausible) prescribes. Nothing is rounded here; rounding is for rendering.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..results import percent_change, point_change


@dataclass(frozen=True)
class Kpi:
    """A headline number with its comparison against the previous period."""

    name: str
    label: str
    value: float | None
    previous: float | None
    change: float | None
    change_unit: str  # "percent" or "points"
    unit: str = ""  # "", "%", "s", "views"

    @classmethod
    def compare(
        cls, name: str, label: str, value: float | None, previous: float | None, points: bool = False, unit: str = ""
    ) -> Kpi:
        change = point_change(value, previous) if points else percent_change(value, previous)
        return cls(name, label, value, previous, change, "points" if points else "percent", unit)


def kpi_frame(kpis: list[Kpi]) -> pd.DataFrame:
    """The KPIs as a table (one row each), for CSV export."""
    columns = ["name", "label", "value", "previous", "change", "change_unit", "unit"]
    return pd.DataFrame([[getattr(k, c) for c in columns] for k in kpis], columns=columns)


def ratio(numerator: float, denominator: float, scale: float = 1.0) -> float:
    """``scale * numerator / denominator``, 0 when there is nothing to divide by (Plausible)."""
    return scale * numerator / denominator if denominator else 0.0


def scalar(frame: pd.DataFrame, column: str) -> float:
    """A one-row aggregate as a plain number (null aggregates over no rows become 0)."""
    value = frame[column].iloc[0] if len(frame) else None
    return 0 if value is None or pd.isna(value) else value.item() if hasattr(value, "item") else value
