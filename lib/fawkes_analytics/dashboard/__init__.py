"""Voilà dashboards for stakeholders: published numbers on first paint, live on demand.

A dashboard notebook is two lines::

    from fawkes_analytics.dashboard import show
    show("overview")

``show`` builds a ``Dashboard`` (ipywidgets), paints the latest published overview run,
recomputes live when a viewer changes a control and polls for newer runs.
"""

from __future__ import annotations

from .app import PAGES, POLL_ENV, TIME_RANGES, Dashboard, Page, poll_seconds, show
from .compute import LiveCompute
from .published import Published, ReportLink, latest_run_id, load_published, normalise, report_links

__all__ = [
    "PAGES",
    "POLL_ENV",
    "TIME_RANGES",
    "Dashboard",
    "LiveCompute",
    "Page",
    "Published",
    "ReportLink",
    "latest_run_id",
    "load_published",
    "normalise",
    "poll_seconds",
    "report_links",
    "show",
]
