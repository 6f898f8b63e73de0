"""Unusual changes in the daily KPIs, and where they are heading (issue 21).

- ``unusual_changes(source, catalog, as_of)``: every KPI's last days judged against its
  weekly cycle and trend (robust STL, one step ahead, thresholds on a robust residual
  scale); an ``AnomalyReport`` with flags ranked by strength, a sentence each;
- ``forecast(source, catalog, as_of)``: 14 days ahead with 80% prediction intervals for the
  usage KPIs and the funnel conversions (ETS with a damped trend and a weekly cycle);
- ``outlook(source, catalog, time_range)``: both for the days of a report's range, from one
  read of the daily series (the "anomalies" area of the registry, ``areas.ANOMALIES``);
- ``series``, ``detect``, ``forecast`` and ``backtest`` hold the parts, for benchmarks and tests.

The method and the measured quality: docs/anomalies.md.
"""

from __future__ import annotations

from .changes import check_kpi, forecast, judged_days, outlook, ranked, sensitivity_for, unusual_changes
from .detect import SENSITIVITY, Method, judge
from .kpis import KpiSpec, all_kpis, usage_kpis
from .results import AnomalyReport, Flag, ForecastReport, KpiCheck, KpiForecast
from .series import DailySeries, daily_series

__all__ = [
    "SENSITIVITY",
    "AnomalyReport",
    "DailySeries",
    "Flag",
    "ForecastReport",
    "KpiCheck",
    "KpiForecast",
    "KpiSpec",
    "Method",
    "all_kpis",
    "check_kpi",
    "daily_series",
    "forecast",
    "judge",
    "judged_days",
    "outlook",
    "ranked",
    "sensitivity_for",
    "unusual_changes",
    "usage_kpis",
]
