"""Compute a view and write its page fragments: the one path behind precomputed and live views.

``compute`` runs the registry's compute functions (``areas.py``) for a time range against the
source (which reads the rollup store), and ``write_view`` renders each page through the shared
views (``views``: tiles, tables, sections, the header) with interactive charts
(``views.interactive``) and writes the tables behind them with the safe CSV writer. The
refresh (``precompute.py``) and a viewer's live request (``live.py``) both call these two
functions, so a number reads the same on first paint and after a recompute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import areas, views
from ..export.csv import write_csv
from ..templates import Html, render
from ..views.interactive import chart_html
from .pages import PAGES, Cancelled, Page
from .store import fragment_name

Stage = Callable[[str], None]


@dataclass(frozen=True)
class ViewFacts:
    """What every page of a view states in its header, besides the range."""

    data_as_of: datetime | None
    source: dict[str, Any]
    origin: str
    demo: bool = False


def compute(
    source: Any,
    catalog: Any,
    time_range: Any,
    wanted: Iterable[str],
    *,
    segment: str | None = None,
    reuse: dict[str, Any] | None = None,
    stage: Stage | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Any:
    """The ``Overview`` of the ``wanted`` areas for ``time_range`` (one segment, or every user).

    ``reuse`` holds results already computed for the same range that do not depend on the
    segment (every area but those whose compute accepts one).
    """
    from ..overview import Overview

    results: dict[str, Any] = {}
    for area in areas.AREAS:
        if area.name not in set(wanted):
            continue
        if cancelled is not None and cancelled():
            raise Cancelled
        if reuse is not None and area.name in reuse and (segment is None or "segment" not in area.options):
            results[area.name] = reuse[area.name]
            continue
        if stage is not None:
            stage(f"Computing {area.title.lower()}")
        results[area.name] = area.run(source, catalog, time_range, segment=segment)
    return Overview(time_range, results)


class ChartMemo:
    """``chart_html``, drawn once per chart, result and time zone.

    A publication shows the same result on several pages (the overview and the area's own
    page) and, for the areas that do not depend on a segment, in every segment's view; the
    figure is the same each time, so it is built once. The memo holds the results it saw,
    so an id is never reused while it lives (one memo per range).
    """

    def __init__(self) -> None:
        self._drawn: dict[tuple[int, int, str, int], Html] = {}
        self._held: list[Any] = []

    def __call__(self, spec: Any, result: Any, tz: str = "UTC", anomalies: Any = None) -> Html:
        key = (id(spec), id(result), tz, id(anomalies))
        if key not in self._drawn:
            self._drawn[key] = chart_html(spec, result, tz, anomalies)
            self._held.append((spec, result, anomalies))
        return self._drawn[key]


def write_view(
    folder: Path,
    overview: Any,
    facts: ViewFacts,
    pages: Iterable[Page],
    *,
    segment: str | None = None,
    csv_url: str = "",
    draw: Callable[..., Html] = chart_html,
) -> list[Path]:
    """Render every page in ``pages`` (and each item of an item page) into ``folder``.

    ``csv_url`` is the folder's address under the CSV download route (``/fawkes/csv/...``);
    ``draw`` draws a chart (a ``ChartMemo`` when views share results). Returns the fragment
    files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for page in pages:
        items: list[str] = [""]
        if page.item_area:
            items += list(overview.results.get(page.item_area) or {})
        for item in items:
            markup, tables = page_markup(page, overview, facts, segment=segment, item=item, draw=draw)
            stem = fragment_name(page, item).removesuffix(".html")
            downloads = write_tables(folder, stem, tables, csv_url)
            path = folder / fragment_name(page, item)
            path.write_text(str(markup + downloads), encoding="utf-8")
            written.append(path)
    from ..export.json import write_json

    write_json(overview.to_dict(), folder / "overview.json")
    return written


def write_tables(folder: Path, stem: str, tables: dict[str, Any], csv_url: str) -> Html:
    """Each table as a safe CSV (``export/csv.py``) under ``folder/csv/<stem>/``; the download links."""
    links = []
    for name, frame in tables.items():
        if frame is None or frame.empty:
            continue
        write_csv(frame, folder / "csv" / stem / f"{name}.csv")
        links.append((name, f"{csv_url}/csv/{stem}/{name}.csv"))
    return render("dashboard/downloads.html.j2", links=links, stem=stem)


def page_markup(
    page: Page,
    overview: Any,
    facts: ViewFacts,
    *,
    segment: str | None = None,
    item: str = "",
    draw: Callable[..., Html] = chart_html,
) -> tuple[Html, dict[str, Any]]:
    """One page's header and sections, and the tables they show (offered as CSV)."""
    from ..metrics.kpis import kpi_frame

    time_range = overview.time_range
    tz = time_range.tz
    shown = views.Shown()
    if segment and "segment" in page.controls:
        shown.markup.append(
            views.text(f"Usage and feature adoption are restricted to the segment '{segment}'; the rest is every user.")
        )
    if page.summary:
        kpis = overview.kpis
    else:
        kpis = [k for n in page.areas if n in overview.results for k in overview.area_kpis(n)]
    if kpis:
        shown.markup.append(views.section("Key numbers", views.tiles(kpis)))
        shown.tables["kpis"] = kpi_frame(kpis)
    header_range = time_range
    if page.summary:
        sections = views.overview_sections(overview.results, tz, draw=draw)
        shown.markup += sections.markup
        shown.tables |= sections.tables
    else:
        for name in page.areas:
            area = areas.area(name)
            result = overview.results.get(name)
            if result is None or (area.item and not result):
                shown.markup.append(views.section(area.title, views.text(f"No {area.item or name} in this data.")))
                continue
            only = (item if item in result else next(iter(result))) if area.item else None
            if name == "experiments" and only is not None:  # as its report shows it, over its own window
                experiment = result[only]
                header_range = views.experiment_window(experiment, time_range)
                body = views.Shown([_experiment_detail(experiment, tz)])
                body.tables = {f"{spec.name}_{only}": views.table_frame(experiment, spec) for spec in area.tables}
            else:
                body = views.show_area(area, result, tz, only=only, draw=draw)
            shown.markup.append(views.section(area.title, body.html()))
            shown.tables |= body.tables
    title = page.title + (f" · {segment}" if segment and "segment" in page.controls else "")
    page_facts = views.PageFacts(
        time_range=header_range,
        data_as_of=facts.data_as_of,
        source=facts.source,
        origin=facts.origin,
        demo=facts.demo,
    )
    markup = views.header(title, page_facts) + render("dashboard/page.html.j2", body=shown.html())
    return markup, shown.tables


def _experiment_detail(result: Any, tz: str) -> Html:
    """The experiment as its report shows it: verdict, readout, diagnostics."""
    return views.join(
        [
            views.section(result.name, "", level=3),
            views.experiment_verdict(result),
            views.table(views.experiment_table(result), max_rows=None),
            views.experiment_diagnostics(result, tz),
        ]
    )


def pages_for(segment: str | None) -> list[Page]:
    """Every page for every user; only the pages with a segment control for one segment."""
    return [p for p in PAGES.values() if segment is None or "segment" in p.controls]


def with_origin(facts: ViewFacts, origin: str) -> ViewFacts:
    return replace(facts, origin=origin)
