"""The JSON documents the API answers with, built from published runs (never recomputed).

Every analytics document has the same frame:

    {"area": ..., "run": <run summary>, "data": <what the run published>}

``data`` is the run's data.json as written (``dashboard``, ``usage-trends``,
``feature-adoption``, ``segments``), or one result of it (``experiments/{id}``:
``results.experiment``; ``funnels/{name}``: ``results.funnel_<name>``). Numbers are passed
through untouched: the API has no formatter of its own, so it cannot disagree with the report.

The run summary is a selection of run.json (no server paths, no delivery recipients) plus links
to the run's published files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .published import PublishedRun

API = "/api/v1"

# Files the API serves from a run folder, by extension, with their media types. The executed
# notebook and run.log are left out: they are for debugging on the server.
MEDIA_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
}


@dataclass(frozen=True)
class Area:
    """One analytics endpoint: its URL segment and the report whose runs publish it."""

    name: str
    report: str
    description: str


AREAS: dict[str, Area] = {
    area.name: area
    for area in (
        Area("dashboard", "overview", "The overview payload of the dashboards: every area for one time range."),
        Area("usage-trends", "usage_trends", "Usage with Plausible's semantics: visitors, visits, page views."),
        Area("feature-adoption", "feature_adoption", "Adoption of each catalog feature among active users."),
        Area("segments", "user_segments", "Engagement segments, retention cohorts and lifecycle."),
        Area("experiments", "experiment_results", "Experiment readouts, one experiment per run."),
        Area("funnels", "funnels", "Conversion funnels, PostHog semantics."),
    )
}
WHOLE_RUN_AREAS = ("dashboard", "usage-trends", "feature-adoption", "segments")


def servable(name: str) -> bool:
    """True for files the API serves (by extension; hidden files never)."""
    parts = name.split("/")
    return not any(part.startswith(".") or not part for part in parts) and any(
        name.endswith(extension) for extension in MEDIA_TYPES
    )


def media_type(name: str) -> str:
    return next(kind for extension, kind in MEDIA_TYPES.items() if name.endswith(extension))


def run_href(base: str, report: str, run_id: str) -> str:
    return f"{base}{API}/runs/{report}/{run_id}"


def run_summary(run: PublishedRun, base: str) -> dict[str, Any]:
    """What a client needs to know about a run, and where its files are."""
    record = run.record
    href = run_href(base, run.report, run.run_id)
    files = sorted(name for name in record.get("outputs") or [] if servable(name))
    return {
        "report": run.report,
        "run_id": run.run_id,
        "status": run.status,
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "duration_seconds": record.get("duration_seconds"),
        "parameters": run.parameters,
        "time_range": record.get("data_range") or {},
        "error": record.get("error"),
        "href": href,
        "files": {name: f"{href}/{name}" for name in files},
    }


def area_document(area: str, run: PublishedRun, data: Any, base: str, **key: str) -> dict[str, Any]:
    """The frame of every analytics answer; ``key`` names the item (``experiment_id``, ``funnel``)."""
    return {"area": area, **key, "run": run_summary(run, base), "data": data}


def funnel_result(payload: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The result of funnel ``name`` in a funnels run's data.json (``results.funnel_<name>``)."""
    results = payload.get("results") or {}
    found = results.get(f"funnel_{name}")
    return found if isinstance(found, dict) else None


def funnel_names(payload: dict[str, Any]) -> list[str]:
    results = payload.get("results") or {}
    return [
        str(value.get("name") or key.removeprefix("funnel_"))
        for key, value in results.items()
        if key.startswith("funnel_") and isinstance(value, dict)
    ]


def experiment_result(payload: dict[str, Any]) -> dict[str, Any] | None:
    found = (payload.get("results") or {}).get("experiment")
    return found if isinstance(found, dict) else None


def experiment_entry(experiment_id: str, run: PublishedRun, result: dict[str, Any], base: str) -> dict[str, Any]:
    """One line of the experiments list: identity, verdict and where the full readout is."""
    recommendation = result.get("recommendation") or {}
    return {
        "experiment_id": experiment_id,
        "name": result.get("name"),
        "srm_status": result.get("srm_status"),
        "decision": recommendation.get("decision"),
        "href": f"{base}{API}/analytics/experiments/{experiment_id}",
        "run": run_summary(run, base),
    }
