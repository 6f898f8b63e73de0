"""The one rendering stack: reports, dashboards and emails show result objects through it.

- ``html``: KPI tiles, tables, banners, sections, inline figures (Jinja2 templates);
- ``page``: the header of every report and dashboard page (one time zone, named);
- ``charts``: any chart the area registry declares, drawn in the house style;
- ``areas``: any area of the registry, shown from its result object;
- ``anomalies``: the "Unusual changes" section, and the flags and forecast bands on charts;
- ``experiments``: the experiment report's verdict, readout, diagnostics and power.

Labels, formats and colours come from ``columns.py``, ``formats.py`` and the KPIs' own
metadata (``kpi.py``), so a number reads the same in a tile, a table, a dashboard and an
email. The named helpers below are what the report notebooks call, one per cell.
"""

from __future__ import annotations

from typing import Any

from .. import areas as registry
from ..areas import retention_period
from ..kpi import Kpi
from .anomalies import unusual_changes
from .areas import Shown, chart_of, kpis_of, overview_sections, show_area, show_summary, table_frame, table_of
from .charts import chart, local_times
from .experiments import experiment_diagnostics, experiment_table, experiment_verdict, experiment_window, power_table
from .html import banner, figure, join, section, table, text, tiles
from .page import PageFacts, header, range_text


def funnel_kpis(funnels: dict[str, Any]) -> list[Kpi]:
    """Overall conversion of each funnel, change in percentage points."""
    return registry.FUNNELS.kpis_of(funnels)


def funnel_chart(funnel: Any) -> Any:
    return chart_of(funnel, "funnel")


def funnel_table(funnel: Any) -> Any:
    return table_frame(funnel, registry.FUNNELS.table("steps"))


def time_to_convert_chart(funnel: Any) -> Any:
    """Histogram of the time from the first to the last step of converted people (human units)."""
    return chart_of(funnel, "time_to_convert")


def adoption_kpis(adoption: Any) -> list[Kpi]:
    """One tile per feature: adoption rate, change in percentage points, the feature's trend."""
    return kpis_of(adoption)


def segment_kpis(current: Any, previous: Any) -> list[Kpi]:
    """Users in scope and the size of each segment, against the previous period."""
    from ..metrics.segments import compared

    return kpis_of(compared(current, previous))


def feedback_kpis(feedback: Any) -> list[Kpi]:
    return kpis_of(feedback)


__all__ = [
    "PageFacts",
    "Shown",
    "adoption_kpis",
    "banner",
    "chart",
    "chart_of",
    "experiment_diagnostics",
    "experiment_table",
    "experiment_verdict",
    "experiment_window",
    "feedback_kpis",
    "figure",
    "funnel_chart",
    "funnel_kpis",
    "funnel_table",
    "header",
    "join",
    "kpis_of",
    "local_times",
    "overview_sections",
    "power_table",
    "range_text",
    "retention_period",
    "section",
    "segment_kpis",
    "show_area",
    "show_summary",
    "table",
    "table_frame",
    "table_of",
    "text",
    "tiles",
    "unusual_changes",
    "time_to_convert_chart",
]
