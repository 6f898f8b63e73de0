"""What a report notebook calls: open the source, show KPIs, tables and charts, publish.

A notebook stays thin: ``report = Report.open(...)`` with its parameters, then one call per
thing to show (``report.kpis(usage)``, ``report.chart_of(usage, "traffic")``,
``report.table_of(usage, "exit_pages")``). Each call returns an object Jupyter renders (HTML,
a figure) through the one rendering stack (``views``) and records what it showed, so
``report.save()`` can write the same numbers to the run folder as ``data.json``, one CSV per
table and ``charts/*.png`` (for emails). Everything rendered as HTML is escaped: page and
event names come from users and may contain markup.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image
from matplotlib.figure import Figure

from . import atomic, settings, sources, timerange, views
from . import catalog as catalog_module
from .columns import Column
from .export.csv import write_csv
from .export.json import write_json
from .formats import when
from .kpi import Kpi
from .results import Result, jsonable
from .sources.base import Capability
from .templates import Html
from .views import html as html_views

RUN_DIR_ENV = "FAWKES_ANALYTICS_RUN_DIR"
CHART_DPI = 144


def quality_note(counts: dict[str, int] | None) -> str | None:
    """One sentence about left-out or merged rows, or None when there were none."""
    if not counts:
        return None

    def events(n: int) -> str:
        return f"{n:,} event" + ("" if n == 1 else "s")

    parts = []
    if counts.get("null_user_ids"):
        parts.append(f"{events(counts['null_user_ids'])} without a user id left out")
    if counts.get("duplicate_event_ids"):
        parts.append(f"{events(counts['duplicate_event_ids'])} with a repeated event id counted once")
    if counts.get("null_timestamps"):
        parts.append(f"{events(counts['null_timestamps'])} without a timestamp (anywhere in the source) left out")
    if not parts:
        return None
    return "Data quality: " + "; ".join(parts) + " (this period and the previous one)."


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "table"


@dataclass
class Report:
    """The context of one report: its source, time range, and what it has shown so far."""

    name: str
    title: str
    source: sources.Source
    time_range: timerange.TimeRange
    parameters: dict[str, Any] = field(default_factory=dict)
    kpis_shown: list[Kpi] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    charts: dict[str, bytes] = field(default_factory=dict)
    anomalies: Any = None  # the AnomalyReport of report.unusual_changes(): charts mark its flags
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    _catalog: catalog_module.Catalog | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        name: str,
        title: str,
        time_range: str = "7d",
        start: str | None = None,
        end: str | None = None,
        tz: str = "UTC",
        source_url: str | None = None,
        **parameters: Any,
    ) -> Report:
        """Connect to the configured source and resolve the time range (anchored at the data for demo data)."""
        source = sources.connect(source_url)
        resolved = timerange.resolve(time_range, start or None, end or None, tz, as_of=source.default_as_of())
        params = {"time_range": time_range, "start": start, "end": end, "tz": tz, **parameters}
        return cls(name, title, source, resolved, params)

    @property
    def catalog(self) -> catalog_module.Catalog:
        """The catalog (analytics.yaml), loaded once per report."""
        if self._catalog is None:
            self._catalog = catalog_module.load()
        return self._catalog

    @property
    def derived(self) -> Any:
        """The derived tables this report reads (rollup store or raw events), or None."""
        if getattr(self.source, "backend", None) is None:
            return None  # aggregate-only sources (Plausible) have no events to derive from
        from .rollups.tables import tables_for

        return tables_for(self.source, self.time_range.end, self.catalog)

    def data_quality(self) -> dict[str, int] | None:
        """Rows the report left out or counted once (in its range; rows without a time anywhere)."""
        derived = self.derived
        if derived is None:
            return None
        return derived.quality(self.time_range.previous().start, self.time_range.end)

    # --- what the notebook shows -------------------------------------------------------
    def header(self, time_range: timerange.TimeRange | None = None) -> Html:
        """Title, the facts line (data as of, range, source, generated; one time zone, named) and
        banners (demo data, source down, data quality).

        ``time_range`` is the range to state when the charts below use another one than the
        report's (the experiment report: its analysis window); data.json keeps the report's.
        """
        described = self.source.describe()
        facts = views.PageFacts(
            time_range=time_range or self.time_range,
            data_as_of=self.source.data_as_of(),
            source=described,
            origin=f"Generated {when(self.generated_at, self.time_range.tz)}",
            demo=self.source.is_demo,
            status=described.get("status"),
            quality=quality_note(self.data_quality()),
        )
        return views.header(self.title, facts)

    def kpis(self, shown: list[Kpi] | Result | Mapping[str, Result]) -> Html:
        """Show KPI tiles (a list, or the KPIs of a result's area) and record them for data.json."""
        kpis = shown if isinstance(shown, list) else views.kpis_of(shown)
        known = {k.name for k in self.kpis_shown}
        self.kpis_shown.extend(k for k in kpis if k.name not in known)
        return views.tiles(kpis)

    def table(
        self,
        name: str,
        frame: pd.DataFrame,
        max_rows: int | None = 20,
        labels: Mapping[str, str | Column] | None = None,
    ) -> Html:
        """Show an escaped table and record it; it is published as ``<name>.csv``."""
        self.tables[_slug(name)] = frame
        return self.show_table(frame, max_rows, labels)

    def show_table(
        self, frame: pd.DataFrame, max_rows: int | None = 20, labels: Mapping[str, str | Column] | None = None
    ) -> Html:
        """Show a readable table without publishing it (its data is already in a result's CSV)."""
        return views.table(frame, labels=labels, max_rows=max_rows, tz=self.time_range.tz)

    def table_of(self, result: Result, name: str, max_rows: int | None = None) -> Html:
        """Show a table the result's area declares (areas.py), labelled and rounded like the tiles."""
        return views.table_of(result, name, self.time_range.tz, max_rows)

    def chart_of(self, result: Result, name: str) -> Image:
        """Show a chart the result's area declares, in the report's time zone, and record it.

        After ``unusual_changes()``, daily KPI lines mark their unusual days and end in their
        forecast band."""
        return self.chart(name, views.chart_of(result, name, self.time_range.tz, self.anomalies))

    def unusual_changes(self, found: Any = None, kpis: str | None = None) -> Html:
        """Show the "Unusual changes" section: every flag on the report's days, strongest first,
        one sentence each; published in data.json (``unusual_changes``) for emails and schedules.

        ``found`` is an ``AnomalyReport`` already computed (the overview's); otherwise it is
        computed for the KPIs of ``kpis`` ("usage", "adoption", "conversion"; default all).
        Call it before the charts: they then mark the flagged days and draw the forecasts.
        """
        if found is None and not self.source.offers(Capability.EVENTS):
            # Aggregate-only sources (Plausible) give no daily series of every KPI to judge.
            return html_views.text(
                f"Unusual changes need an events source; {self.source.kind} answers with aggregates only."
            )
        if found is None:
            from .anomalies import all_kpis, outlook, usage_kpis

            chosen = all_kpis(self.catalog)
            if kpis == "usage":
                chosen = usage_kpis()
            elif kpis is not None:
                chosen = [k for k in chosen if k.name.startswith(f"{kpis}.")]
            # The outlook of every KPI, narrowed, when the dashboards' refresh (or another
            # report) already answered it for this range; else only this report's KPIs.
            found = outlook.if_kept(self.source, self.catalog, self.time_range)
            if found is None:
                found = outlook(self.source, self.catalog, self.time_range, kpis=chosen)
            else:
                found = found.only(k.name for k in chosen)
            self.add("anomalies", found)
        self.anomalies = found
        return views.unusual_changes(found)

    def chart(self, name: str, figure: Figure) -> Image:
        """Record a matplotlib figure (published as ``charts/<name>.png``) and show it as a PNG.

        The PNG is embedded whatever the matplotlib backend, and the figure is detached from
        pyplot so the inline backend does not show it a second time.
        """
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=CHART_DPI, bbox_inches="tight", facecolor="white")
        self.charts[_slug(name)] = buffer.getvalue()
        plt.close(figure)
        return Image(data=buffer.getvalue(), format="png", width=int(figure.get_figwidth() * 96))

    def add(self, name: str, result: Result | dict[str, Any]) -> None:
        """Record a result object: its JSON in data.json and its tables as CSVs."""
        self.results[name] = result
        if isinstance(result, Result):
            for table, frame in result.to_frames().items():
                self.tables.setdefault(_slug(f"{name}_{table}"), frame)

    # --- publishing --------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        """Everything data.json holds: meta, KPIs, tables and results."""
        described = self.source.describe()
        return {
            "report": self.name,
            "title": self.title,
            "generated_at": self.generated_at.isoformat(),
            "parameters": jsonable(self.parameters),
            "time_range": self.time_range.to_dict(),
            "previous_range": self.time_range.previous().to_dict(),
            "source": described,
            "demo": self.source.is_demo,
            "source_status": described.get("status"),
            "data_quality": self.data_quality(),
            "rollups": self.derived.describe() if self.derived is not None else None,
            "kpis": {k.name: jsonable(k) for k in self.kpis_shown},
            "unusual_changes": [f.to_dict() for f in self.anomalies.flags] if self.anomalies is not None else None,
            "tables": {name: jsonable(frame) for name, frame in self.tables.items()},
            "results": jsonable(self.results),
        }

    def save(self, run_dir: str | os.PathLike | None = None) -> Path | None:
        """Write data.json, CSVs and chart PNGs into the run folder (from the runner's env).

        Outside a run (interactive use) there is no run folder and nothing is written.
        """
        target = run_dir or settings.get("RUN_DIR")
        if not target:
            return None
        folder = Path(target)
        for name, frame in self.tables.items():
            write_csv(frame, folder / f"{name}.csv")
        for name, png in self.charts.items():
            atomic.write_bytes(folder / "charts" / f"{name}.png", png)
        return write_json(self.payload(), folder / "data.json")
