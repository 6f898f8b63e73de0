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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .. import settings
from ..errors import ParameterError, SourceUnavailable
from . import views
from .compute import ALL_AREAS, LiveCompute
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
    """What one dashboard page shows and which controls it offers."""

    title: str
    areas: tuple[str, ...]
    controls: tuple[str, ...]  # among time_range, segment, funnel, experiment


PAGES: dict[str, Page] = {
    "overview": Page("Product overview", ALL_AREAS, ("time_range", "segment")),
    "usage": Page("Usage", ("kpis", "usage"), ("time_range", "segment")),
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
                self.status.value = views.error_box(friendly_message(exc))
                return None

        return run

    # --- rendering ----------------------------------------------------------------------
    def _first_paint(self) -> None:
        self.published = load_published(self.reports_dir)
        self._set_options()
        self.render()

    def _set_options(self) -> None:
        """Fill pickers from the published data (no source needed), else from the catalog later."""
        areas = self.published.areas if self.published else {}
        label = (self.published.time_range.get("label") if self.published else None) or "7d"
        with self._quiet():
            if label in TIME_RANGES:
                self.time_range.value = label
            rules = (areas.get("segments") or {}).get("rules") or []
            self.segment.options = [ALL_USERS, *rules]
            funnels = areas.get("funnels") or {}
            self.funnel.options = [(r.get("title") or n, n) for n, r in funnels.items()]
            experiments = areas.get("experiments") or {}
            self.experiment.options = [(r.get("name") or n, n) for n, r in experiments.items()]

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
        return selection["time_range"] == self.published.time_range.get("label")

    def render(self, force_live: bool = False) -> None:
        """Show the current selection: published numbers when they match it, else a live recompute."""
        selection = self._selection()
        if self._matches_published(selection) and not force_live:
            areas = self.published.areas
            meta = {
                "data_as_of": self.published.data_as_of,
                "time_range": self.published.time_range,
                "demo": self.published.meta.get("demo"),
                "origin": f"Published run {self.published.run_id} (generated {views.when(self.published.generated_at)})",
            }
        elif self.published is None and not force_live and not self.live._cache:
            self._show_unpublished()
            return
        else:
            self.status.value = views.info_box(
                f"Computing {self.page.title.lower()} for the last {selection['time_range']}…"
            )
            wanted = self.page.areas
            funnel = selection["funnel"] if self.published is not None else None
            experiment = selection["experiment"] if self.published is not None else None
            tz = (self.published.time_range.get("tz") if self.published else None) or "UTC"
            areas = self.live.areas(
                wanted,
                selection["time_range"],
                tz=tz,
                segment=selection["segment"],
                funnel=funnel,
                experiment=experiment,
            )
            meta = {
                "data_as_of": areas.get("data_as_of"),
                "time_range": areas.get("time_range"),
                "demo": self.live.source.is_demo,
                "origin": "Computed live from the source",
            }
            if self.published is None:
                self._fill_pickers_from(areas)
        self.compute_button.layout.display = "none"
        self._show(areas, meta, selection)
        self.status.value = ""

    def _fill_pickers_from(self, areas: dict[str, Any]) -> None:
        with self._quiet():
            if not self.funnel.options and areas.get("funnels"):
                self.funnel.options = [(r.get("title") or n, n) for n, r in areas["funnels"].items()]
            if not self.experiment.options and areas.get("experiments"):
                self.experiment.options = [(r.get("name") or n, n) for n, r in areas["experiments"].items()]
            if len(self.segment.options) == 1 and areas.get("segments"):
                self.segment.options = [ALL_USERS, *(areas["segments"].get("rules") or [])]

    def _show_unpublished(self) -> None:
        self.header.value = views.header_html(self.page.title, {"origin": "No published run", "time_range": {}})
        self.status.value = views.info_box(
            "No overview report has been published yet, so there are no numbers to show. "
            "They appear here after the scheduled overview report has run. "
            "You can also compute them now from the source (this takes a few seconds)."
        )
        self.compute_button.layout.display = ""
        self.content.value = ""
        self.downloads.value = ""
        self.links.value = views.report_links_html(report_links(self.reports_dir))

    def _show(self, areas: dict[str, Any], meta: dict[str, Any], selection: dict[str, Any]) -> None:
        self.origin = meta["origin"]
        title = self.page.title + (f" · {selection['segment']}" if selection["segment"] else "")
        body, tables = self._sections(areas, selection)
        stem = f"{self.name}_{(meta.get('time_range') or {}).get('label') or 'range'}"
        self.shown_tables = tables
        # The header (range, 'data as of', origin) goes last: when it changes, the rest has.
        self.content.value = body
        self.downloads.value = views.csv_links_html(tables, stem)
        self.links.value = views.report_links_html(report_links(self.reports_dir))
        self.header.value = views.header_html(title, meta)

    def _sections(self, areas: dict[str, Any], selection: dict[str, Any]) -> tuple[str, dict[str, pd.DataFrame]]:
        """HTML of the page's sections and the tables they show (for the CSV download)."""
        name, parts, tables = self.name, [], {}
        segment_note = (
            views.note(f"Usage and feature adoption are restricted to the segment '{selection['segment']}'.")
            if selection["segment"]
            else ""
        )
        if name in ("overview", "usage"):
            parts.append(views.section("Key numbers", segment_note + views.kpis_html(areas)))
            parts.append(views.section("Usage over time", views.usage_chart_html(areas)))
            tables["kpis"] = views.kpis_table(areas)
            tables["usage_timeseries"] = views.usage_frames(areas)["usage_timeseries"]
        if name == "usage":
            parts.append(views.section("Pages and sources", views.usage_tables_html(areas)))
            frames = views.usage_frames(areas)
            tables |= {"top_pages": frames["top_pages"], "traffic_sources": frames["traffic_sources"]}
        if name in ("overview", "features"):
            parts.append(
                views.section(
                    "Feature adoption",
                    (segment_note if name == "features" else "") + views.features_html(areas, chart=name == "features"),
                )
            )
            tables["feature_adoption"] = views.features_frame(areas)
        if name == "overview":
            parts.append(views.section("Experiments", views.experiments_status_html(areas)))
            tables["experiments"] = views.experiments_status_frame(areas)
        if name == "experiments":
            experiments = areas.get("experiments") or {}
            chosen = experiments.get(selection["experiment"]) or next(iter(experiments.values()), None)
            parts.append(
                views.section(
                    "Experiment",
                    views.experiment_html(chosen) if chosen else views.note("No experiments are configured."),
                )
            )
            if chosen:
                tables["experiment_results"] = views.experiment_frame(chosen)
        if name in ("overview", "segments"):
            parts.append(views.section("Segments", views.segments_html(areas, chart=True)))
            tables["segments"] = views.segments_frame(areas)
        if name in ("overview", "funnels"):
            only = selection["funnel"] if name == "funnels" else None
            parts.append(views.section("Funnels", views.funnels_html(areas, only, chart=name == "funnels")))
            for fname, result in (areas.get("funnels") or {}).items():
                if only in (None, fname):
                    tables[f"funnel_{fname}"] = views.funnel_frame(result)
        return "".join(parts), tables

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
            self.status.value = views.info_box(
                f"A newer overview run ({current}) has been published. Press Refresh to recompute this view with it."
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


def show(page: str = "overview", **kwargs: Any) -> Dashboard:
    """What a dashboard notebook calls: build the page, start auto-refresh, return it for display."""
    dashboard = Dashboard(page, **kwargs)
    dashboard.start_polling()
    return dashboard
