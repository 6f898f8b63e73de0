"""The dashboard controller: ipywidgets controls, first paint, live recompute, auto-refresh.

One ``Dashboard`` per page and kernel (Voilà starts a kernel per viewer). First paint reads the
latest published overview run (``published.load_published``) and never touches the raw
events; a viewer who picks another time range or a segment gets a live recompute
(``compute.LiveCompute``); picking a funnel or an experiment inside the published range just
re-renders published numbers. A polling task on the kernel's event loop looks at the
``latest`` link every ``FAWKES_DASHBOARD_POLL_SECONDS`` (default 30) and re-renders when a
newer run appears. Every callback is guarded: a failure shows a friendly box, and the
traceback goes to the server's log (the kernel's real stderr), never to the page.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .. import areas, settings, views
from ..errors import ParameterError, SourceUnavailable
from ..formats import when
from ..templates import Html, style_tag
from . import links
from .compute import LiveCompute
from .published import Published, latest_run_id, load_published, report_links

POLL_ENV = "FAWKES_ANALYTICS_DASHBOARD_POLL_SECONDS"
DEFAULT_POLL_SECONDS = 30.0
TIME_RANGES = ("1h", "6h", "24h", "7d", "30d", "90d")
ALL_USERS = "All users"

log = logging.getLogger("fawkes_analytics.dashboard")
if not log.handlers:  # the kernel's sys.stderr goes to the page; __stderr__ is the server log
    _handler = logging.StreamHandler(sys.__stderr__)
    _handler.setFormatter(logging.Formatter("[%(levelname)s %(asctime)s fawkes dashboard] %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def poll_seconds() -> float:
    """The auto-refresh interval from ``FAWKES_DASHBOARD_POLL_SECONDS`` (0 turns it off)."""
    raw = settings.get("DASHBOARD_POLL_SECONDS")
    try:
        value = float(raw) if raw else DEFAULT_POLL_SECONDS
    except ValueError:
        log.warning("%s=%r is not a number; using %s s", POLL_ENV, raw, DEFAULT_POLL_SECONDS)
        value = DEFAULT_POLL_SECONDS
    return max(value, 0.0)


@dataclass(frozen=True)
class Page:
    """What one dashboard page shows (areas of the registry) and which controls it offers.

    The overview page shows every overview area in summary (``views.overview_sections``);
    an area page shows its area whole: KPIs, charts and tables (``views.show_area``).
    """

    title: str
    areas: tuple[str, ...]
    controls: tuple[str, ...]  # among time_range, segment, funnel, experiment
    summary: bool = False


OVERVIEW_AREAS = tuple(a.name for a in areas.AREAS if a.in_overview)
PAGES: dict[str, Page] = {
    "overview": Page("Product overview", OVERVIEW_AREAS, ("time_range", "segment"), summary=True),
    "usage": Page("Usage", ("usage",), ("time_range", "segment")),
    "features": Page("Feature adoption", ("features",), ("time_range", "segment")),
    "experiments": Page("Experiments", ("experiments",), ("experiment",)),
    "segments": Page("User segments", ("segments",), ("time_range",)),
    "funnels": Page("Funnels", ("funnels",), ("time_range", "funnel")),
}


def friendly_message(exc: BaseException) -> str:
    """What a viewer reads when something fails. Server paths, URLs and hostnames stay in the
    log: only a bad choice of the viewer's own (a ParameterError) is named on the page."""
    base = (
        "This view could not be computed right now. The details were logged on the server; "
        "please try again later or tell the analytics team."
    )
    if isinstance(exc, SourceUnavailable):
        return (
            "The data source is not reachable right now, so this view could not be computed right now. "
            + base.split(". ", 1)[1]
        )
    if isinstance(exc, ParameterError):
        return f"{base} Reason: {exc}"
    return base


class Dashboard:
    """One page of the dashboard: build with ``Dashboard("overview")`` and display ``.widget``."""

    def __init__(
        self,
        page: str = "overview",
        *,
        reports_dir: Path | None = None,
        live: LiveCompute | None = None,
        poll: float | None = None,
    ) -> None:
        if page not in PAGES:
            raise ParameterError("page", f"unknown dashboard page {page!r}", list(PAGES))
        self.name = page
        self.page = PAGES[page]
        self.reports_dir = reports_dir
        self.live = live or LiveCompute()
        self.poll_interval = poll_seconds() if poll is None else poll
        self.published: Published | None = None
        self.shown_tables: dict[str, pd.DataFrame] = {}
        self.origin = ""
        self._poller: Any = None
        self._rendering = False

        layout = widgets.Layout(width="auto")
        self.header = widgets.HTML()
        self.time_range = widgets.ToggleButtons(
            options=TIME_RANGES, value="7d", description="Range", style={"button_width": "52px"}
        )
        self.segment = widgets.Dropdown(options=[ALL_USERS], value=ALL_USERS, description="Segment", layout=layout)
        self.funnel = widgets.Dropdown(options=[], description="Funnel", layout=layout)
        self.experiment = widgets.Dropdown(options=[], description="Experiment", layout=layout)
        self.refresh_button = widgets.Button(
            description="Refresh",
            tooltip="Reload the latest published data",
            icon="",
            layout=widgets.Layout(width="auto"),
        )
        self.compute_button = widgets.Button(
            description="Compute now", button_style="primary", layout=widgets.Layout(display="none", width="auto")
        )
        self.status = widgets.HTML()
        self.content = widgets.HTML()
        self.downloads = widgets.HTML()
        self.links = widgets.HTML()

        controls = [getattr(self, c) for c in self.page.controls]
        self.controls = widgets.HBox(
            [*controls, self.refresh_button, self.compute_button],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.widget = widgets.VBox([self.header, self.controls, self.status, self.content, self.downloads, self.links])

        for control in controls:
            control.observe(self._guarded(self._on_control), names="value")
        self.refresh_button.on_click(self._guarded(lambda _b: self.refresh()))
        self.compute_button.on_click(self._guarded(lambda _b: self.render(force_live=True)))

        self._guarded(self._first_paint)()

    # --- guards -------------------------------------------------------------------------
    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the viewer sees a sentence, the log the traceback
                log.exception("dashboard %s failed", self.name)
                self.status.value = box("error", friendly_message(exc))
                return None

        return run

    # --- rendering ----------------------------------------------------------------------
    def _first_paint(self) -> None:
        self.published = load_published(self.reports_dir)
        self._set_options()
        self.render()

    def _set_options(self) -> None:
        """Fill pickers from the published run (no source needed)."""
        with self._quiet():
            if self.published is not None and self.published.time_range.label in TIME_RANGES:
                self.time_range.value = self.published.time_range.label
            self._fill_pickers_from(self.published.overview if self.published else None, force=True)

    def _quiet(self) -> Any:
        dashboard = self

        class Quiet:
            def __enter__(self) -> None:
                dashboard._rendering = True

            def __exit__(self, *exc: object) -> None:
                dashboard._rendering = False

        return Quiet()

    def _on_control(self, _change: dict[str, Any]) -> None:
        if not self._rendering:
            self.render()

    def _selection(self) -> dict[str, Any]:
        segment = self.segment.value if "segment" in self.page.controls else ALL_USERS
        return {
            "time_range": self.time_range.value,
            "segment": None if segment == ALL_USERS else segment,
            "funnel": self.funnel.value if "funnel" in self.page.controls else None,
            "experiment": self.experiment.value if "experiment" in self.page.controls else None,
        }

    def _matches_published(self, selection: dict[str, Any]) -> bool:
        if self.published is None or selection["segment"] is not None:
            return False
        if "time_range" not in self.page.controls:
            return True
        return selection["time_range"] == self.published.time_range.label

    def render(self, force_live: bool = False) -> None:
        """Show the current selection: published numbers when they match it, else a live recompute."""
        selection = self._selection()
        published = self.published
        if published is not None and self._matches_published(selection) and not force_live:
            overview = published.overview
            generated = when(published.generated_at, overview.time_range.tz) if published.generated_at else "unknown"
            facts = views.PageFacts(
                time_range=overview.time_range,
                data_as_of=published.data_as_of,
                source=published.meta.get("source"),
                origin=f"Published run {published.run_id} (generated {generated})",
                demo=bool(published.meta.get("demo")),
            )
        elif self.published is None and not force_live and not self.live._cache:
            self._show_unpublished()
            return
        else:
            self.status.value = box(
                "infobox", f"Computing {self.page.title.lower()} for the last {selection['time_range']}…"
            )
            tz = self.published.time_range.tz if self.published else "UTC"
            live = self.live.areas(
                self.page.areas,
                selection["time_range"],
                tz=tz,
                segment=selection["segment"],
                funnel=selection["funnel"] if self.published is not None else None,
                experiment=selection["experiment"] if self.published is not None else None,
            )
            overview = live.overview
            facts = views.PageFacts(
                time_range=overview.time_range,
                data_as_of=live.data_as_of,
                source=self.live.source.describe(),
                origin="Computed live from the source",
                demo=self.live.source.is_demo,
            )
            if self.published is None:
                self._fill_pickers_from(overview)
        self.compute_button.layout.display = "none"
        self._show(overview, facts, selection)
        self.status.value = ""

    def _fill_pickers_from(self, overview: Any, force: bool = False) -> None:
        """The funnel, experiment and segment pickers from an overview's results."""
        results = overview.results if overview is not None else {}
        with self._quiet():
            if (force or not self.funnel.options) and "funnels" in results:
                self.funnel.options = [(f.title, n) for n, f in results["funnels"].items()]
            if (force or not self.experiment.options) and "experiments" in results:
                self.experiment.options = [(e.name, n) for n, e in results["experiments"].items()]
            if (force or len(self.segment.options) == 1) and "segments" in results:
                self.segment.options = [ALL_USERS, *results["segments"].rules]

    def _show_unpublished(self) -> None:
        self.header.value = str(views.header(self.page.title, views.PageFacts(None, origin="No published run")))
        self.status.value = box(
            "infobox",
            "No overview report has been published yet, so there are no numbers to show. "
            "They appear here after the scheduled overview report has run. "
            "You can also compute them now from the source (this takes a few seconds).",
        )
        self.compute_button.layout.display = ""
        self.content.value = ""
        self.downloads.value = ""
        self.links.value = str(links.report_links(report_links(self.reports_dir)))

    def _show(self, overview: Any, facts: views.PageFacts, selection: dict[str, Any]) -> None:
        title = self.page.title + (f" · {selection['segment']}" if selection["segment"] else "")
        for name, detail in DETAIL_VIEWS.items():  # an experiment covers its own window, not the page's range
            items = overview.results.get(name) if name in self.page.areas and not self.page.summary else None
            if items:
                item = items[_chosen(items, selection.get(areas.area(name).item))]
                facts = replace(facts, time_range=detail.window(item, overview.time_range))
        shown = self._sections(overview, selection)
        stem = f"{self.name}_{overview.time_range.label}"
        self.shown_tables = shown.tables
        self.origin = facts.origin
        # The header (range, 'data as of', origin) goes last: when it changes, the rest has.
        self.content.value = str(shown.html())
        self.downloads.value = str(links.csv_links(shown.tables, stem))
        self.links.value = str(links.report_links(report_links(self.reports_dir)))
        self.header.value = str(views.header(title, facts))

    def _sections(self, overview: Any, selection: dict[str, Any]) -> views.Shown:
        """The page's sections and the tables they show (for the CSV download)."""
        tz = overview.time_range.tz
        shown = views.Shown()
        if selection["segment"]:
            shown.markup.append(
                views.text(f"Usage and feature adoption are restricted to the segment '{selection['segment']}'.")
            )
        if self.page.summary:
            kpis = overview.kpis
        else:
            kpis = [k for n in self.page.areas if n in overview.results for k in overview.area_kpis(n)]
        if kpis:
            shown.markup.append(views.section("Key numbers", views.tiles(kpis)))
            shown.tables["kpis"] = kpi_frame(kpis)
        if self.page.summary:
            sections = views.overview_sections(overview.results, tz)
            shown.markup += sections.markup
            shown.tables |= sections.tables
            return shown
        for name in self.page.areas:
            area = areas.area(name)
            result = overview.results.get(name)
            if result is None or (area.item and not result):
                shown.markup.append(views.section(area.title, views.text(f"No {area.item or name} in this data.")))
                continue
            only = _chosen(result, selection.get(area.item)) if area.item else None
            detail = DETAIL_VIEWS.get(name)
            if detail is not None and only is not None:  # shown as its report shows it; its tables as CSV
                body = views.Shown([detail.show(result[only], tz)])
                body.tables = {
                    f"{name}_{spec.name}_{only}": views.table_frame(result[only], spec) for spec in area.tables
                }
            else:
                body = views.show_area(area, result, tz, only=only)
            shown.markup.append(views.section(area.title, body.html()))
            shown.tables |= body.tables
        return shown

    # --- refresh ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the latest published run and recompute a live view (new data may be there)."""
        self.live.clear()
        self.published = load_published(self.reports_dir)
        self._set_options()
        self.render()

    def check_for_new_run(self) -> bool:
        """One poll: re-render when a newer run has been published; True if it was."""
        current = latest_run_id(self.reports_dir)
        known = self.published.run_id if self.published else None
        if current is None or current == known:
            return False
        log.info("dashboard %s: new overview run %s (was %s)", self.name, current, known)
        previous_selection = self._selection()
        was_published_view = self._matches_published(previous_selection) or self.published is None
        self.published = load_published(self.reports_dir)
        if was_published_view:
            self._set_options()
            self.render()
        else:
            self.live.clear()
            self.status.value = box(
                "infobox",
                f"A newer overview run ({current}) has been published. Press Refresh to recompute this view with it.",
            )
        return True

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            self._guarded(self.check_for_new_run)()

    def start_polling(self) -> None:
        """Poll for new runs without blocking the kernel: an asyncio task on its running
        loop (ipykernel runs cells inside its loop), or a daemon thread when there is none."""
        if self.poll_interval <= 0 or self._poller is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._poller = loop.create_task(self._poll_forever())
            return
        stop = threading.Event()

        def loop_in_thread() -> None:
            while not stop.wait(self.poll_interval):
                self._guarded(self.check_for_new_run)()

        thread = threading.Thread(target=loop_in_thread, name=f"fawkes-dashboard-poll-{self.name}", daemon=True)
        thread.start()
        self._poller = stop

    def stop_polling(self) -> None:
        if isinstance(self._poller, threading.Event):
            self._poller.set()
        elif self._poller is not None:
            self._poller.cancel()
        self._poller = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def box(kind: str, text: str) -> str:
    """A status line (infobox or error) with the stylesheet, shown above the page."""
    return str(style_tag() + views.banner(kind, text))


def kpi_frame(kpis: list[Any]) -> Any:
    from ..metrics.kpis import kpi_frame as frame

    return frame(kpis)


def _chosen(items: dict[str, Any], wanted: str | None) -> str:
    """The picked item, or the first one when nothing (or something unknown) is picked."""
    return wanted if wanted in items else next(iter(items))


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


@dataclass(frozen=True)
class Detail:
    """How a page shows one item the way its report does, and the range its numbers cover."""

    show: Callable[[Any, str], Html]
    window: Callable[[Any, Any], Any]  # (item, page range) -> the range to state in the header


DETAIL_VIEWS = {"experiments": Detail(_experiment_detail, views.experiment_window)}


def show(page: str = "overview", **kwargs: Any) -> Dashboard:
    """What a dashboard notebook calls: build the page, start auto-refresh, return it for display."""
    dashboard = Dashboard(page, **kwargs)
    dashboard.start_polling()
    return dashboard
