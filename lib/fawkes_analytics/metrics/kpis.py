"""Helpers of the metric modules around KPIs: the KPI table, safe ratios, scalar aggregates.

``Kpi`` and ``KpiSpec`` (the uniform shape of headline numbers, with their metadata) live in
``fawkes_analytics.kpi`` and are re-exported here.
"""

from __future__ import annotations

import pandas as pd

from ..kpi import Kpi, KpiSpec


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


__all__ = ["Kpi", "KpiSpec", "kpi_frame", "ratio", "scalar"]
