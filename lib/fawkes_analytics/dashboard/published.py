"""Read what the scheduler published: the latest overview run's data.json, and report links.

First paint of every dashboard comes from here, never from the raw events: the overview
report's ``data.json`` holds every area (usage, features, segments, funnels, experiments)
for the run's time range, so opening a page costs one small file read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import settings
from ..runs import LATEST, latest_run
from ..runs import default_reports_dir as reports_dir_default

OVERVIEW_REPORT = "overview"


AREAS = ("kpis", "usage", "features", "segments", "funnels", "experiments")  # every area of the overview payload
REPORTS_URL_ENV = "FAWKES_ANALYTICS_REPORTS_URL"


@dataclass(frozen=True)
class Published:
    """One published overview run: its id, folder, header fields and the area payload."""

    run_id: str
    folder: Path
    meta: dict[str, Any]
    areas: dict[str, Any]

    @property
    def time_range(self) -> dict[str, Any]:
        return self.areas.get("time_range") or self.meta.get("time_range") or {}

    @property
    def data_as_of(self) -> str | None:
        return (self.meta.get("source") or {}).get("data_as_of")

    @property
    def generated_at(self) -> str | None:
        return self.meta.get("generated_at")


def normalise(payload: dict[str, Any]) -> dict[str, Any]:
    """The overview areas of a data.json, wherever the notebook put them.

    ``Overview.to_dict()`` merged at the top level, under ``results["overview"]``, or one
    result per area under ``results`` are all accepted; KPIs come from the top-level
    ``kpis`` (what ``Report.kpis`` recorded) when the overview dict has none.
    """
    candidates = [payload, (payload.get("results") or {}).get("overview") or {}, payload.get("results") or {}]
    areas: dict[str, Any] = {}
    for candidate in candidates:
        for key in (*AREAS, "time_range"):
            if key not in areas and isinstance(candidate, dict) and candidate.get(key):
                areas[key] = candidate[key]
    if "kpis" not in areas and isinstance(areas.get("usage"), dict):
        areas["kpis"] = {}
    return areas


def latest_run_id(reports_dir: Path | None = None) -> str | None:
    """The id of the latest successful overview run (cheap: one symlink lookup)."""
    folder = latest_run(OVERVIEW_REPORT, reports_dir)
    return folder.name if folder else None


def load_published(reports_dir: Path | None = None) -> Published | None:
    """The latest overview run, or None when nothing has been published yet."""
    folder = latest_run(OVERVIEW_REPORT, reports_dir)
    if folder is None or not (folder / "data.json").exists():
        return None
    payload = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    meta = {k: v for k, v in payload.items() if k not in (*AREAS, "tables", "results")}
    return Published(folder.name, folder, meta, normalise(payload))


@dataclass(frozen=True)
class ReportLink:
    """Where a viewer can open the latest HTML of one report."""

    report: str
    run_id: str
    href: str | None  # a URL, when FAWKES_ANALYTICS_REPORTS_URL says where reports are served
    path: Path
    size: int = field(default=0)


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
