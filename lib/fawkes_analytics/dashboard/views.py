"""Turn the area dicts of data.json (or a live recompute) into escaped HTML and CSV tables.

Pure functions: they take plain dicts (``Overview.to_dict()`` shape) and return HTML strings
or DataFrames, so the same code renders published and live numbers and is testable without
a browser. Every string that came from data (page names, experiment names, messages) is
escaped; the tiles and tables reuse ``report.kpi_tiles`` and ``report.html_table``.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import pandas as pd

from .. import plots
from ..export.csv import csv_text
from ..metrics.kpis import Kpi, kpi_frame
from ..report import TILE_CSS, html_table, kpi_tiles

DASHBOARD_CSS = """
<style>
.fwk-dash{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a1a1a}
.fwk-dash h2{font-size:18px;margin:18px 0 6px 0;border-bottom:1px solid #e5e5e5;padding-bottom:4px}
.fwk-dash h3{font-size:15px;margin:12px 0 4px 0}
.fwk-dash .fwk-note{color:#555;font-size:13px;margin:4px 0}
.fwk-dash img.fwk-chart{max-width:100%;height:auto}
.fwk-error{background:#fde2e1;border:1px solid #d55e00;color:#7a1f00;padding:10px 14px;border-radius:6px;font-size:14px}
.fwk-infobox{background:#e8f1fb;border:1px solid #0072b2;color:#0b3a5c;padding:10px 14px;border-radius:6px;font-size:14px}
.fwk-srm{background:#fde2e1;border:1px solid #d55e00;color:#7a1f00;padding:6px 10px;border-radius:6px;font-weight:600;font-size:13px;margin:4px 0}
.fwk-ok{color:#00734d;font-weight:600}
.fwk-links a{margin-right:14px}
</style>
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def section(title: str, body: str) -> str:
    return f'<div class="fwk-dash"><h2>{esc(title)}</h2>{body}</div>'


def note(text: str) -> str:
    return f'<p class="fwk-note">{esc(text)}</p>'


def info_box(text: str) -> str:
    return DASHBOARD_CSS + f'<div class="fwk-dash fwk-infobox">{esc(text)}</div>'


def error_box(text: str) -> str:
    return DASHBOARD_CSS + f'<div class="fwk-dash fwk-error" role="alert">{esc(text)}</div>'


def figure_html(figure: Any, alt: str) -> str:
    """A matplotlib figure as an inline PNG (no file, no extra request), then closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight", facecolor="white")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="fwk-chart" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def frame(records: list[dict[str, Any]] | None, columns: list[str] | None = None) -> pd.DataFrame:
    data = pd.DataFrame(records or [])
    if columns:
        data = data[[c for c in columns if c in data.columns]]
    return data


# --- KPIs -------------------------------------------------------------------------------
def kpis_of(areas: dict[str, Any]) -> list[Kpi]:
    """The Kpi objects of the payload, in the order they were published."""
    fields = ("name", "label", "value", "previous", "change", "change_unit", "unit")
    return [Kpi(**{f: item.get(f) for f in fields}) for item in (areas.get("kpis") or {}).values()]


def kpis_html(areas: dict[str, Any]) -> str:
    kpis = kpis_of(areas)
    if not kpis:
        return note("No KPIs in this data.")
    return kpi_tiles(kpis).markup


def kpis_table(areas: dict[str, Any]) -> pd.DataFrame:
    return kpi_frame(kpis_of(areas))


# --- usage --------------------------------------------------------------------------------
def usage_frames(areas: dict[str, Any]) -> dict[str, pd.DataFrame]:
    usage = areas.get("usage") or {}
    series = frame(usage.get("timeseries"))
    if not series.empty and "start" in series:
        series["start"] = pd.to_datetime(series["start"], utc=True)
    return {
        "usage_timeseries": series,
        "top_pages": frame(usage.get("top_pages")),
        "traffic_sources": frame(usage.get("sources")),
    }


def usage_chart_html(areas: dict[str, Any]) -> str:
    series = usage_frames(areas)["usage_timeseries"]
    if series.empty:
        return note("No usage in this period.")
    figure = plots.timeseries(
        series, "start", ["visitors", "visits"], "Visitors and visits", labels=["Visitors", "Visits"]
    )
    return figure_html(figure, "Visitors and visits over time")


def usage_tables_html(areas: dict[str, Any]) -> str:
    frames = usage_frames(areas)
    return (
        "<h3>Top pages</h3>"
        + html_table(frames["top_pages"], 10).markup
        + "<h3>Traffic sources</h3>"
        + html_table(frames["traffic_sources"], 10, {"bounce_rate": "{:.1f}%", "visit_duration": "{:.0f} s"}).markup
    )


# --- features -----------------------------------------------------------------------------
FEATURE_COLUMNS = ["title", "adoption_rate", "unique_users", "usage_count", "rate_change_points", "trend"]


def features_frame(areas: dict[str, Any]) -> pd.DataFrame:
    return frame((areas.get("features") or {}).get("features"))


def features_html(areas: dict[str, Any], chart: bool = True) -> str:
    data = features_frame(areas)
    if data.empty:
        return note("No feature adoption data in this period.")
    shown = data[[c for c in FEATURE_COLUMNS if c in data.columns]].rename(
        columns={
            "title": "feature",
            "adoption_rate": "adoption",
            "unique_users": "users",
            "usage_count": "uses",
            "rate_change_points": "change (pp)",
        }
    )
    formats = {"adoption": "{:.1f}%", "change (pp)": "{:+.1f}"}
    body = html_table(shown, 20, formats).markup
    if chart and "adoption_rate" in data:
        body = (
            figure_html(
                plots.bars(data, "title", "adoption_rate", "Feature adoption (% of active users)", percent=True),
                "Feature adoption",
            )
            + body
        )
    return body


# --- segments -----------------------------------------------------------------------------
def segments_frame(areas: dict[str, Any]) -> pd.DataFrame:
    return frame((areas.get("segments") or {}).get("segments"))


def segments_html(areas: dict[str, Any], chart: bool = True) -> str:
    data = segments_frame(areas)
    if data.empty:
        return note("No active users in this period.")
    shown = data.copy()  # share is already in percent
    columns = ["segment", "users", "share", "mean_engagement", "mean_active_days"]
    body = html_table(
        shown[[c for c in columns if c in shown.columns]],
        20,
        {"share": "{:.1f}%", "mean_engagement": "{:.1f}", "mean_active_days": "{:.1f}"},
    ).markup
    if chart and "share" in shown:
        body = (
            figure_html(
                plots.bars(shown, "segment", "share", "Share of active users by segment", percent=True, color=2),
                "Segment shares",
            )
            + body
        )
    return body


# --- funnels ------------------------------------------------------------------------------
FUNNEL_COLUMNS = [
    "step",
    "label",
    "count",
    "conversion_from_start_pct",
    "conversion_from_previous_pct",
    "median_seconds_to_convert",
]


def funnel_frame(result: dict[str, Any]) -> pd.DataFrame:
    return frame(result.get("steps"))


def funnel_html(result: dict[str, Any], chart: bool = True) -> str:
    steps = funnel_frame(result)
    rate = result.get("conversion_rate_pct")
    change = result.get("conversion_rate_change_pp")
    summary = (
        f"{result.get('entered', 0):,} entered, {result.get('converted', 0):,} converted"
        + (f" ({rate:.1f}%" if rate is not None else " (–")
        + (f", {change:+.1f} pp vs previous period)" if change is not None else ")")
    )
    body = f"<h3>{esc(result.get('title') or result.get('name'))}</h3>" + note(summary)
    if steps.empty:
        return body + note("Nobody entered this funnel in the period.")
    if chart:
        body += figure_html(
            plots.funnel(steps, "label", "count", str(result.get("title") or "")), f"Funnel {result.get('title')}"
        )
    formats = {
        "conversion_from_start_pct": "{:.1f}%",
        "conversion_from_previous_pct": "{:.1f}%",
        "median_seconds_to_convert": "{:.0f} s",
    }
    return body + html_table(steps[[c for c in FUNNEL_COLUMNS if c in steps.columns]], 20, formats).markup


def funnels_html(areas: dict[str, Any], only: str | None = None, chart: bool = True) -> str:
    funnels = areas.get("funnels") or {}
    chosen = {only: funnels[only]} if only and only in funnels else funnels
    if not chosen:
        return note("No funnels in this data.")
    return "".join(funnel_html(result, chart) for result in chosen.values())


# --- experiments --------------------------------------------------------------------------
def srm_html(result: dict[str, Any]) -> str:
    srm = result.get("srm") or {}
    if result.get("srm_status") not in (None, "ok"):
        return f'<div class="fwk-srm">Sample ratio mismatch: {esc(srm.get("message"))} Do not trust the results below until it is explained.</div>'
    return (
        f'<span class="fwk-ok">No sample ratio mismatch</span> <span class="fwk-note">(p = {srm.get("p_value", 0):.3g})</span>'
        if srm
        else ""
    )


def experiments_status_frame(areas: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for exp_id, result in (areas.get("experiments") or {}).items():
        rec = result.get("recommendation") or {}
        users = sum(int(u.get("users") or 0) for u in result.get("users") or [])
        rows.append(
            {
                "experiment": result.get("name") or exp_id,
                "users": users,
                "days running": result.get("days_running"),
                "srm": "MISMATCH" if result.get("srm_status") not in (None, "ok") else "ok",
                "recommendation": rec.get("decision"),
            }
        )
    return pd.DataFrame(rows)


def experiments_status_html(areas: dict[str, Any]) -> str:
    experiments = areas.get("experiments") or {}
    if not experiments:
        return note("No experiments are configured.")
    warnings = "".join(srm_html(r) for r in experiments.values() if r.get("srm_status") not in (None, "ok"))
    return warnings + html_table(experiments_status_frame(areas), 20, {"days running": "{:.0f}"}).markup


RESULT_COLUMNS = [
    "metric",
    "variant",
    "n_control",
    "n_variant",
    "mean_control",
    "mean_variant",
    "lift",
    "p_value_adjusted",
    "chance_to_beat",
    "verdict",
]


def experiment_frame(result: dict[str, Any]) -> pd.DataFrame:
    return frame(result.get("results"), RESULT_COLUMNS)


def experiment_html(result: dict[str, Any]) -> str:
    rec = result.get("recommendation") or {}
    body = f"<h3>{esc(result.get('name'))}</h3>" + srm_html(result) + note(result.get("hypothesis") or "")
    body += f"<p><b>Recommendation: {esc(rec.get('decision'))}</b> — {esc(rec.get('reason'))}</p>"
    users = frame(result.get("users"))
    if not users.empty:
        for column in ("share", "planned_share"):
            if column in users:
                users[column] = users[column] * 100.0
        body += (
            "<h3>Users per variant</h3>"
            + html_table(users, 20, {"share": "{:.1f}%", "planned_share": "{:.1f}%"}).markup
        )
    results = experiment_frame(result)
    if not results.empty:
        formats = {
            "lift": "{:+.1%}",
            "p_value_adjusted": "{:.3g}",
            "chance_to_beat": "{:.0%}",
            "mean_control": "{:.3g}",
            "mean_variant": "{:.3g}",
        }
        body += "<h3>Results</h3>" + html_table(results, 40, formats).markup
    return body


# --- header and links -------------------------------------------------------------------
def when(value: Any) -> str:
    """An ISO timestamp as '2026-11-15 11:04 UTC' (or the text unchanged if it is not one)."""
    if not value:
        return "unknown"
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def header_html(title: str, meta: dict[str, Any]) -> str:
    """Title, 'data as of', range, origin (published run or live) and the demo banner."""
    rng = meta.get("time_range") or {}
    parts = [f"Data as of {esc(when(meta.get('data_as_of')))}"]
    if rng.get("label"):
        parts.append(f"Range {esc(rng.get('label'))} ({esc(when(rng.get('start')))} – {esc(when(rng.get('end')))})")
    parts.append(esc(meta.get("origin")))
    line = " · ".join(parts)
    banner = ""
    if meta.get("demo"):
        banner = '<div class="fwk-banner fwk-demo">Demo data: these numbers come from the generated demo data set, not from real usage.</div>'
    return (
        TILE_CSS
        + DASHBOARD_CSS
        + f'<div class="fwk-header fwk-dash"><h1>{esc(title)}</h1><div class="fwk-meta fwk-asof">{line}</div>{banner}</div>'
    )


def csv_links_html(tables: dict[str, pd.DataFrame], stem: str) -> str:
    """Download links (data: URIs) with one CSV per table currently shown."""
    links = []
    for name, data in tables.items():
        if data is None or data.empty:
            continue
        payload = base64.b64encode(csv_text(data).encode("utf-8")).decode("ascii")  # the one safe CSV writer
        filename = f"{stem}_{name}.csv"
        links.append(
            f'<a class="fwk-csv" download="{esc(filename)}" href="data:text/csv;base64,{payload}">{esc(name)}.csv</a>'
        )
    if not links:
        return ""
    return '<div class="fwk-dash fwk-links">Download CSV: ' + " ".join(links) + "</div>"


def report_links_html(links: list[Any], max_inline_bytes: int = 3_000_000) -> str:
    """Links to the latest published HTML reports (a URL, or the file as a download)."""
    if not links:
        return note("No HTML reports have been published yet.")
    items = []
    for link in links:
        label = f"{link.report.replace('_', ' ').title()} ({link.run_id})"
        if link.href:
            items.append(f'<a href="{esc(link.href)}" target="_blank" rel="noopener">{esc(label)}</a>')
        elif link.size <= max_inline_bytes:
            data = base64.b64encode(link.path.read_bytes()).decode("ascii")
            items.append(
                f'<a download="{esc(link.report)}-{esc(link.run_id)}.html" href="data:text/html;base64,{data}">{esc(label)}</a>'
            )
        else:
            items.append(f"<span>{esc(label)}: {esc(link.path)}</span>")
    return '<div class="fwk-dash fwk-links">Latest reports: ' + " ".join(items) + "</div>"
