"""Any area of the registry, shown: its KPIs, its tables and its charts, from its result object.

Reports, the overview and the dashboards show an area through these functions, with the
specs the area declares (``areas.py``), so an area added to the registry is shown
everywhere without a line of presentation code of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from .. import areas
from ..areas import Area, ChartSpec, TableSpec
from ..kpi import Kpi
from ..templates import Html
from . import html
from .anomalies import unusual_changes
from .charts import chart


class Draw(Protocol):
    """Draws one declared chart as page markup (``anomalies``: the unusual days to mark)."""

    def __call__(self, spec: ChartSpec, result: Any, tz: str = "UTC", anomalies: Any = None) -> Html: ...


def static_chart(spec: ChartSpec, result: Any, tz: str = "UTC", anomalies: Any = None) -> Html:
    """The house-style matplotlib figure as an inline picture (reports, PDF, email), with the
    unusual days and forecast bands of ``anomalies`` on daily KPI lines."""
    return html.figure(chart(spec, result, tz, anomalies), spec.title_of(result))


def kpis_of(result: Any) -> list[Kpi]:
    """The KPIs of a result (or of ``{name: result}`` of a per-item area), tagged with its area."""
    return areas.area_of(result).kpis_of(result)


def chart_of(result: Any, name: str, tz: str = "UTC", anomalies: Any = None) -> Any:
    """The figure of the chart ``name`` that the result's area declares (with the unusual days and
    forecast bands of ``anomalies`` on daily KPI lines)."""
    return chart(areas.area_of(result).chart(name), result, tz, anomalies)


def table_frame(result: Any, spec: TableSpec) -> pd.DataFrame:
    """The rows of a declared table, in the declared column order (every column when none are)."""
    frame = spec.frame(result)
    shown = [c for c in spec.columns if c in frame.columns] if spec.columns else list(frame.columns)
    return frame[shown]


def table_of(result: Any, name: str, tz: str = "UTC", max_rows: int | None = None) -> Html:
    """The table ``name`` that the result's area declares, labelled and rounded like the tiles."""
    spec = areas.area_of(result).table(name)
    return render_table(result, spec, tz, max_rows)


def render_table(result: Any, spec: TableSpec, tz: str = "UTC", max_rows: int | None = None) -> Html:
    return html.table(table_frame(result, spec), labels=spec.labels, max_rows=max_rows or spec.max_rows, tz=tz)


# Areas whose overview summary reads better as prose than as its table (the CSV keeps the table).
SUMMARY_VIEWS: dict[str, Callable[[Any], Html]] = {areas.ANOMALIES.name: unusual_changes}


@dataclass
class Shown:
    """What a page showed: its HTML and the tables behind it (offered as CSV downloads)."""

    markup: list[Html] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def html(self) -> Html:
        return html.join(self.markup)


def show_area(
    area: Area,
    result: Any,
    tz: str = "UTC",
    *,
    charts: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
    only: str | None = None,
    shown: Shown | None = None,
    draw: Draw = static_chart,
) -> Shown:
    """An area's charts and tables (all, or those named), item by item for per-item areas.

    ``only`` picks one item (one funnel, one experiment); ``draw`` draws a chart (a static
    picture by default; the dashboards pass ``interactive.chart_html``).
    """
    shown = shown or Shown()
    for item, item_result in area.items(result):
        if only is not None and item != only:
            continue
        suffix = f"_{item}" if area.item else ""
        if area.item:
            shown.markup.append(html.section(getattr(item_result, "title", None) or item_result.name, "", level=3))
        for spec in area.charts:
            if charts is None or spec.name in charts:
                shown.markup.append(draw(spec, item_result, tz))
        for table in area.tables:
            if tables is None or table.name in tables:
                shown.markup.append(html.section(table.title, render_table(item_result, table, tz), level=4))
                shown.tables[f"{area.name}_{table.name}{suffix}"] = table_frame(item_result, table)
    return shown


def show_summary(
    area: Area,
    result: Any,
    tz: str = "UTC",
    shown: Shown | None = None,
    anomalies: Any = None,
    draw: Draw = static_chart,
) -> Shown:
    """The overview's view of an area: its overview charts (with the unusual days and forecast
    bands of ``anomalies``), or its summary (``SUMMARY_VIEWS`` when the area has one there, else
    its table over all items)."""
    shown = shown or Shown()
    for name in area.overview_charts:
        shown.markup.append(draw(area.chart(name), result, tz, anomalies))
    if area.summary is not None:
        view = SUMMARY_VIEWS.get(area.name)
        shown.markup.append(view(result) if view is not None else render_table(result, area.summary, tz))
        shown.tables[area.name] = table_frame(result, area.summary)
    return shown


def overview_sections(results: Mapping[str, Any], tz: str = "UTC", draw: Draw = static_chart) -> Shown:
    """Every overview area with a result, in registry order: a titled section each. The unusual
    changes come first (``areas.ANOMALIES``) and mark the charts below them."""
    shown = Shown()
    anomalies = results.get(areas.ANOMALIES.name)
    for area in areas.AREAS:
        if not area.in_overview or area.name not in results:
            continue
        part = show_summary(area, results[area.name], tz, anomalies=anomalies, draw=draw)
        shown.markup.append(html.section(area.title, part.html()))
        shown.tables |= part.tables
    return shown
