"""What a report notebook calls: open the source, show KPIs, tables and charts, publish.

A notebook stays thin: ``report = Report.open(...)`` with its parameters, then one call per
thing to show. Each call returns an object Jupyter renders (HTML, a figure) and records what
it showed, so ``report.save()`` can write the same numbers to the run folder as
``data.json``, one CSV per table and ``charts/*.png`` (for emails). Everything rendered as
HTML is escaped: page and event names come from users and may contain markup.
"""

from __future__ import annotations

import html
import io
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image
from matplotlib.figure import Figure

from . import atomic, settings, sources, timerange
from . import catalog as catalog_module
from .export.csv import write_csv
from .export.json import write_json
from .labels import shorten
from .metrics.kpis import Kpi
from .results import Result, jsonable

RUN_DIR_ENV = "FAWKES_ANALYTICS_RUN_DIR"
CHART_DPI = 144


LOWER_IS_BETTER = {"bounce_rate"}


def format_change(kpi: Kpi) -> str:
    """'+12.5% vs previous period', or '+3.0 pp' for rates, or 'no previous data'."""
    if kpi.change is None:
        return "no previous data"
    suffix = " pp" if kpi.change_unit == "points" else "%"
    return f"{kpi.change:+.1f}{suffix} vs previous period"


def format_value(value: float | None, unit: str = "") -> str:
    """How a KPI value reads in a tile (rounding happens only here, when rendering)."""
    if value is None:
        return "–"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "s":
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


class Html:
    """A piece of HTML that Jupyter, Voilà and nbconvert render as rich output."""

    def __init__(self, markup: str) -> None:
        self.markup = markup

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


TILE_CSS = """
<style>
.fwk-header{font-family:system-ui,sans-serif;margin:0 0 12px 0}
.fwk-header h1{margin:0 0 4px 0;font-size:26px}
.fwk-meta{color:#555;font-size:13px}
.fwk-banner{padding:8px 12px;border-radius:6px;margin:8px 0;font-weight:600;font-size:14px}
.fwk-demo{background:#fff4d6;border:1px solid #e6b800;color:#5c4a00}
.fwk-warn{background:#fde2e1;border:1px solid #d55e00;color:#7a1f00}
.fwk-note{background:#eef4fb;border:1px solid #56b4e9;color:#0b3b5c;font-weight:500}
.fwk-tiles{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 14px 0;font-family:system-ui,sans-serif}
.fwk-tile{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:150px;background:#fafafa}
.fwk-tile .fwk-label{font-size:12px;color:#555;text-transform:uppercase;letter-spacing:.04em}
.fwk-tile .fwk-value{font-size:24px;font-weight:700;margin:2px 0}
.fwk-tile .fwk-change{font-size:12px}
.fwk-good{color:#00734d}.fwk-bad{color:#b34700}.fwk-flat{color:#666}
table.fwk-table{border-collapse:collapse;font-size:13px;font-family:system-ui,sans-serif}
table.fwk-table th,table.fwk-table td{padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:left !important}
table.fwk-table td.num,table.fwk-table th.num{text-align:right !important}
</style>
"""


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


def _change_class(kpi: Kpi) -> str:
    if not kpi.change:
        return "fwk-flat"
    good = (kpi.change > 0) != (kpi.name in LOWER_IS_BETTER)
    return "fwk-good" if good else "fwk-bad"


def kpi_tiles(kpis: list[Kpi]) -> Html:
    """KPI tiles: label, value and the change against the previous period."""
    tiles = []
    for kpi in kpis:
        arrow = "▲" if (kpi.change or 0) > 0 else ("▼" if (kpi.change or 0) < 0 else "■")
        tiles.append(
            f'<div class="fwk-tile" data-kpi="{html.escape(kpi.name)}">'
            f'<div class="fwk-label">{html.escape(shorten(kpi.label))}</div>'
            f'<div class="fwk-value">{html.escape(format_value(kpi.value, kpi.unit))}</div>'
            f'<div class="fwk-change {_change_class(kpi)}">{arrow} {html.escape(format_change(kpi))}</div></div>'
        )
    return Html(TILE_CSS + '<div class="fwk-tiles">' + "".join(tiles) + "</div>")


def html_table(frame: pd.DataFrame, max_rows: int | None = 20, formats: dict[str, str] | None = None) -> Html:
    """An escaped HTML table (cell text from users never becomes markup; long text is shortened)."""
    data = frame.head(max_rows) if max_rows else frame
    formats = formats or {}
    numeric = {c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])}
    head = "".join(f'<th class="{"num" if c in numeric else ""}">{html.escape(shorten(c))}</th>' for c in data.columns)
    rows = []
    for record in data.itertuples(index=False):
        cells = []
        for column, value in zip(data.columns, record, strict=True):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                text = "–"
            elif column in formats:
                text = formats[column].format(value)
            elif column in numeric and isinstance(value, float):
                text = f"{value:,.2f}"
            elif column in numeric:
                text = f"{value:,}"
            else:
                text = shorten(value)  # the CSV keeps the full value
            cells.append(f'<td class="{"num" if column in numeric else ""}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f'<p class="fwk-meta">Showing {len(data)} of {len(frame)} rows; the CSV has all.</p>'
        if len(data) < len(frame)
        else ""
    )
    return Html(f'<table class="fwk-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}')


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
    def header(self) -> Html:
        """Title, the data-as-of / range / source line, and banners (demo data, source down)."""
        described = self.source.describe()
        latest = self.source.data_as_of()
        as_of = f"{latest:%Y-%m-%d %H:%M} UTC" if latest else "unknown (no events)"
        meta = (
            f"Data as of {html.escape(as_of)} · Range {html.escape(self.time_range.describe())} · "
            f"Source {html.escape(str(described.get('url')))} · Generated {self.generated_at:%Y-%m-%d %H:%M} UTC"
        )
        banners = ""
        if self.source.is_demo:
            banners += '<div class="fwk-banner fwk-demo">Demo data: these numbers come from the generated demo data set, not from real usage.</div>'
        status = described.get("status")
        if status:
            banners += f'<div class="fwk-banner fwk-warn">{html.escape(status)}</div>'
        quality = quality_note(self.data_quality())
        if quality:
            banners += f'<div class="fwk-banner fwk-note" data-quality>{html.escape(quality)}</div>'
        return Html(
            TILE_CSS
            + f'<div class="fwk-header"><h1>{html.escape(self.title)}</h1><div class="fwk-meta">{meta}</div>{banners}</div>'
        )

    def kpis(self, kpis: list[Kpi]) -> Html:
        """Show KPI tiles and record them for data.json."""
        known = {k.name for k in self.kpis_shown}
        self.kpis_shown.extend(k for k in kpis if k.name not in known)
        return kpi_tiles(kpis)

    def table(
        self, name: str, frame: pd.DataFrame, max_rows: int | None = 20, formats: dict[str, str] | None = None
    ) -> Html:
        """Show an escaped table and record it; it is published as ``<name>.csv``."""
        self.tables[_slug(name)] = frame
        return html_table(frame, max_rows, formats)

    def show_table(self, frame: pd.DataFrame, max_rows: int | None = 20, formats: dict[str, str] | None = None) -> Html:
        """Show a readable table without publishing it (its data is already in a result's CSV)."""
        return html_table(frame, max_rows, formats)

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
