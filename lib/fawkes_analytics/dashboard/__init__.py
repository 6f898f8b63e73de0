"""Voilà dashboards for stakeholders: published numbers on first paint, live on demand.

A dashboard notebook is two lines::

    from fawkes_analytics.dashboard import show
    show("overview")

``show`` builds a ``Dashboard`` (ipywidgets), paints the latest published overview run
(rebuilt as result objects with ``from_dict``), recomputes live when a viewer changes a
control and polls for newer runs. Pages show the areas of the registry (``areas.py``)
through the same views as the reports (``views``).
"""

from __future__ import annotations

from .app import PAGES, POLL_ENV, TIME_RANGES, Dashboard, Page, poll_seconds, show
from .compute import LiveCompute, LiveResult
from .published import Published, ReportLink, latest_run_id, load_published, report_links

__all__ = [
    "PAGES",
    "POLL_ENV",
    "TIME_RANGES",
    "Dashboard",
    "LiveCompute",
    "LiveResult",
    "Page",
    "Published",
    "ReportLink",
    "latest_run_id",
    "load_published",
    "poll_seconds",
    "report_links",
    "show",
]
