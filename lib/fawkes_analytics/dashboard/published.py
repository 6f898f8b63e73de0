"""Read what the scheduler published: the latest overview run, rebuilt as result objects.

First paint of every dashboard comes from here, never from the raw events: the overview
report's ``data.json`` holds every overview area under ``results["overview"]``
(``Overview.to_dict()``), which ``Overview.from_dict`` turns back into the very result
objects the report showed. The dashboards render those with the report's own views.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import RunError
from ..runs import LATEST, latest_run
from ..runs import default_reports_dir as reports_dir_default
from ..timerange import TimeRange

OVERVIEW_REPORT = "overview"
REPORTS_URL_ENV = "FAWKES_ANALYTICS_REPORTS_URL"


@dataclass(frozen=True)
class Published:
    """One published overview run: its id, folder, header facts and the overview it holds."""

    run_id: str
    folder: Path
    meta: dict[str, Any]  # data.json without the results: title, source, generated_at, demo, ...
    overview: Any  # overview.Overview

    @property
    def time_range(self) -> TimeRange:
        return self.overview.time_range

    @property
    def data_as_of(self) -> str | None:
        return (self.meta.get("source") or {}).get("data_as_of")

    @property
    def generated_at(self) -> datetime | None:
        stamp = self.meta.get("generated_at")
        return datetime.fromisoformat(stamp) if stamp else None


def latest_run_id(reports_dir: Path | None = None) -> str | None:
    """The id of the latest successful overview run (cheap: one symlink lookup)."""
    folder = latest_run(OVERVIEW_REPORT, reports_dir)
    return folder.name if folder else None


def load_published(reports_dir: Path | None = None) -> Published | None:
    """The latest overview run, or None when nothing has been published yet."""
    from ..overview import Overview

    folder = latest_run(OVERVIEW_REPORT, reports_dir)
    if folder is None or not (folder / "data.json").exists():
        return None
    payload = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    results = payload.get("results") or {}
    if OVERVIEW_REPORT not in results:
        raise RunError(f"{folder / 'data.json'} holds no results['overview']: not a run of the overview report")
    meta = {k: v for k, v in payload.items() if k not in ("results", "tables")}
    return Published(folder.name, folder, meta, Overview.from_dict(results[OVERVIEW_REPORT]))


@dataclass(frozen=True)
class ReportLink:
    """Where a viewer can open the latest HTML of one report."""

    report: str
    run_id: str
    href: str | None  # a URL, when FAWKES_ANALYTICS_REPORTS_URL says where reports are served
    path: Path
    size: int = field(default=0)

    @property
    def title(self) -> str:
        return f"{self.report.replace('_', ' ').title()} ({self.run_id})"


def report_links(reports_dir: Path | None = None) -> list[ReportLink]:
    """The latest report.html of every report that has one, sorted by name.

    ``FAWKES_ANALYTICS_REPORTS_URL`` (e.g. ``https://reports.example/``) is where the reports
    folder is published; without it the dashboard offers each report as a download.
    """
    root = Path(reports_dir or reports_dir_default())
    base = settings.get("REPORTS_URL").rstrip("/")
    links = []
    for latest in sorted(root.glob(f"*/{LATEST}")):
        html_file = latest / "report.html"
        if not html_file.exists():
            continue
        run_id = latest.resolve().name
        href = f"{base}/{latest.parent.name}/{run_id}/report.html" if base else None
        links.append(ReportLink(latest.parent.name, run_id, href, html_file, html_file.stat().st_size))
    return links
