"""The OpenAPI 3.1 document of the API, served at ``/api/v1/openapi.json``.

Built here as plain data (no framework generates it), next to the handlers it describes;
tests/api validates it with openapi-spec-validator and checks every response the tests receive
against it. Schemas describe what the API adds (frames, run summaries, jobs, problems) in full
and the published payloads by the fields clients rely on (other fields are allowed: a report
that publishes more is not an API change).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from .documents import AREAS, MEDIA_TYPES
from .problems import MEDIA_TYPE as PROBLEM
from .problems import TYPE_PREFIX, TYPES

JSON = "application/json"
METRICS = "text/plain; version=0.0.4; charset=utf-8"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _object(required: list[str], properties: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    return schema


NUMBER_OR_NULL = {"type": ["number", "null"]}
STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Problem": _object(
        ["type", "title", "status", "detail", "instance"],
        {
            "type": {"type": "string", "enum": [TYPE_PREFIX + kind for kind in TYPES]},
            "title": STRING,
            "status": {"type": "integer"},
            "detail": STRING,
            "instance": STRING,
        },
    ),
    "TimeRange": {
        "type": "object",
        "properties": {"label": STRING, "start": TIME, "end": TIME, "tz": STRING},
    },
    "RunSummary": _object(
        ["report", "run_id", "status", "started_at", "parameters", "time_range", "href", "files"],
        {
            "report": STRING,
            "run_id": {"type": "string", "pattern": r"^\d{8}T\d{6}Z(-\d+)?$"},
            "status": {
                "type": "string",
                "enum": ["running", "succeeded", "failed", "timed_out", "interrupted", "unknown"],
            },
            "started_at": _nullable("string", format="date-time"),
            "finished_at": _nullable("string", format="date-time"),
            "duration_seconds": NUMBER_OR_NULL,
            "parameters": {"type": "object"},
            "time_range": _ref("TimeRange"),
            "error": _nullable("string"),
            "href": STRING,
            "files": {"type": "object", "additionalProperties": STRING},
        },
        closed=True,
    ),
    "Kpi": _object(
        ["name", "label", "value"],
        {
            "name": STRING,
            "label": STRING,
            "value": NUMBER_OR_NULL,
            "previous": NUMBER_OR_NULL,
            "change": NUMBER_OR_NULL,
            "change_unit": STRING,
            "unit": STRING,
            "format": STRING,
            "direction": {"type": "string", "enum": ["higher", "lower", "neutral"]},
            "trend": _nullable("string"),
            "note": _nullable("string"),
            "area": _nullable("string"),
        },
    ),
    "ReportPayload": _object(
        ["report", "title", "generated_at", "parameters", "time_range", "source", "kpis", "results"],
        {
            "report": STRING,
            "title": STRING,
            "generated_at": TIME,
            "parameters": {"type": "object"},
            "time_range": _ref("TimeRange"),
            "previous_range": _ref("TimeRange"),
            "source": _object(["kind"], {"url": STRING, "kind": STRING, "demo": {"type": "boolean"}}),
            "demo": {"type": "boolean"},
            "kpis": {"type": "object", "additionalProperties": _ref("Kpi")},
            "tables": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "object"}}},
            "results": {"type": "object"},
        },
    ),
    "AreaDocument": _object(
        ["area", "run", "data"],
        {"area": {"type": "string", "enum": list(AREAS)}, "run": _ref("RunSummary"), "data": _ref("ReportPayload")},
        closed=True,
    ),
    "ExperimentResult": _object(
        ["experiment_id", "name", "control", "srm_status", "srm", "recommendation", "users", "results"],
        {
            "experiment_id": STRING,
            "name": STRING,
            "hypothesis": STRING,
            "control": STRING,
            "srm_status": STRING,
            "srm": _object(["status"], {"status": STRING, "p_value": NUMBER_OR_NULL}),
            "recommendation": _object(["decision", "reason"], {"decision": STRING, "reason": STRING}),
            "users": {
                "type": "array",
                "items": _object(["variant", "users"], {"variant": STRING, "users": {"type": "integer"}}),
            },
            "results": {
                "type": "array",
                "items": _object(
                    ["metric", "variant", "control"], {"metric": STRING, "variant": STRING, "control": STRING}
                ),
            },
        },
    ),
    "ExperimentDocument": _object(
        ["area", "experiment_id", "run", "data"],
        {
            "area": {"const": "experiments"},
            "experiment_id": STRING,
            "run": _ref("RunSummary"),
            "data": _ref("ExperimentResult"),
        },
        closed=True,
    ),
    "ExperimentList": _object(
        ["area", "experiments"],
        {
            "area": {"const": "experiments"},
            "experiments": {
                "type": "array",
                "items": _object(
                    ["experiment_id", "name", "srm_status", "decision", "href", "run"],
                    {
                        "experiment_id": STRING,
                        "name": _nullable("string"),
                        "srm_status": _nullable("string"),
                        "decision": _nullable("string"),
                        "href": STRING,
                        "run": _ref("RunSummary"),
                    },
                    closed=True,
                ),
            },
        },
        closed=True,
    ),
    "FunnelResult": _object(
        ["name", "title", "entered", "converted", "conversion_rate_pct", "steps"],
        {
            "name": STRING,
            "title": STRING,
            "entered": {"type": "integer"},
            "converted": {"type": "integer"},
            "conversion_rate_pct": NUMBER_OR_NULL,
            "steps": {
                "type": "array",
                "items": _object(
                    ["step", "label", "count"],
                    {"step": {"type": "integer"}, "label": STRING, "count": {"type": "integer"}},
                ),
            },
        },
    ),
    "FunnelDocument": _object(
        ["area", "funnel", "run", "data"],
        {"area": {"const": "funnels"}, "funnel": STRING, "run": _ref("RunSummary"), "data": _ref("FunnelResult")},
        closed=True,
    ),
    "FunnelList": _object(
        ["area", "run", "funnels"],
        {
            "area": {"const": "funnels"},
            "run": _ref("RunSummary"),
            "funnels": {
                "type": "array",
                "items": _object(["name", "href"], {"name": STRING, "href": STRING}, closed=True),
            },
        },
        closed=True,
    ),
    "RunList": _object(["runs"], {"runs": {"type": "array", "items": _ref("RunSummary")}}, closed=True),
    "RefreshStep": _object(
        ["name", "command", "status", "exit_code"],
        {
            "name": STRING,
            "command": {"type": "array", "items": STRING},
            "status": {"type": "string", "enum": ["pending", "running", "succeeded", "failed"]},
            "exit_code": _nullable("integer"),
            "started_at": _nullable("string", format="date-time"),
            "finished_at": _nullable("string", format="date-time"),
        },
        closed=True,
    ),
    "RefreshJob": _object(
        ["id", "status", "requested_at", "steps", "run", "error", "href"],
        {
            "id": STRING,
            "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]},
            "requested_at": TIME,
            "requested_epoch": {"type": "number"},
            "time_range": _nullable("string"),
            "started_at": _nullable("string", format="date-time"),
            "finished_at": _nullable("string", format="date-time"),
            "steps": {"type": "array", "items": _ref("RefreshStep")},
            "run": {
                "oneOf": [
                    {"type": "null"},
                    _object(["report", "run_id"], {"report": STRING, "run_id": STRING, "href": STRING}),
                ]
            },
            "error": _nullable("string"),
            "href": STRING,
        },
        closed=True,
    ),
    "Index": _object(
        ["openapi", "analytics", "refresh", "runs", "metrics"],
        {
            "openapi": STRING,
            "analytics": {"type": "object", "additionalProperties": STRING},
            "refresh": STRING,
            "runs": STRING,
            "metrics": STRING,
        },
        closed=True,
    ),
}

VALIDATOR_HEADERS = {
    "ETag": {"description": "Strong validator of this representation.", "schema": STRING},
    "Last-Modified": {"description": "When the published file was written.", "schema": STRING},
}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}
    if headers:
        response["headers"] = headers
    return response


def _ok(schema: str | None, description: str, media: str = JSON, validators: bool = True) -> dict[str, Any]:
    content = {media: {"schema": _ref(schema)}} if schema else {media: {"schema": STRING}}
    response: dict[str, Any] = {"description": description, "content": content}
    if validators:
        response["headers"] = VALIDATOR_HEADERS
    return response


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": STRING}}
COMMON = {
    "401": _problem(
        "No valid token. The same answer for every path.",
        {"WWW-Authenticate": {"description": 'Bearer realm="fawkes-analytics"', "schema": STRING}},
    ),
    "403": _problem("The token's scope does not allow this (e.g. a metrics-only token)."),
    "500": _problem("The server could not answer; details are in its log, never in the response."),
}
CONDITIONAL = {"304": {"description": "Not modified (If-None-Match or If-Modified-Since matched)."}}
TIME_RANGE = {
    "name": "time_range",
    "in": "query",
    "required": False,
    "description": "Newest run published with this named range instead of the latest run.",
    "schema": {"type": "string", "enum": ["1h", "6h", "24h", "7d", "30d", "90d"]},
}


def _get(
    summary: str,
    responses: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    description: str = "",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {**responses, **COMMON},
    }
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": STRING}


def _paths() -> dict[str, Any]:
    not_published = _problem("Nothing matching is published; detail names the report and parameters.")
    bad = _problem("A query parameter is wrong; detail names it and the allowed values.")
    paths: dict[str, Any] = {
        "/api/v1": _get("Links to every resource", {"200": _ok("Index", "Links", validators=False)}),
        "/api/v1/openapi.json": _get(
            "This document",
            {
                "200": {
                    "description": "OpenAPI 3.1",
                    "headers": VALIDATOR_HEADERS,
                    "content": {JSON: {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
                },
                **CONDITIONAL,
            },
        ),
    }
    for name, area in AREAS.items():
        if name in ("experiments", "funnels"):
            continue
        paths[f"/api/v1/analytics/{name}"] = _get(
            f"Latest published {area.report} run",
            {"200": _ok("AreaDocument", area.description), **CONDITIONAL, "400": bad, "404": not_published},
            [TIME_RANGE],
            f"`data` is the data.json of the newest `{area.report}` run (the one `latest` points to, or the "
            "newest successful one with the requested `time_range`).",
        )
    paths["/api/v1/analytics/experiments"] = _get(
        "Experiments with a published readout",
        {"200": _ok("ExperimentList", "The newest experiment_results run per experiment"), **CONDITIONAL, "400": bad},
        [TIME_RANGE],
    )
    paths["/api/v1/analytics/experiments"]["get"]["responses"]["404"] = not_published
    paths["/api/v1/analytics/experiments/{experiment_id}"] = _get(
        "One experiment's readout",
        {
            "200": _ok("ExperimentDocument", "results.experiment of the newest run for this experiment"),
            **CONDITIONAL,
            "400": bad,
            "404": _problem("No published readout of this experiment; detail lists the published ones."),
        },
        [_path_parameter("experiment_id", "An experiment id from analytics.yaml"), TIME_RANGE],
    )
    paths["/api/v1/analytics/funnels"] = _get(
        "Funnels of the newest funnels run",
        {"200": _ok("FunnelList", "Funnel names and links"), **CONDITIONAL, "400": bad, "404": not_published},
        [TIME_RANGE],
    )
    paths["/api/v1/analytics/funnels/{name}"] = _get(
        "One funnel",
        {
            "200": _ok("FunnelDocument", "results.funnel_<name> of the newest funnels run"),
            **CONDITIONAL,
            "400": bad,
            "404": _problem("No such funnel in the published run (detail lists them), or no funnels run."),
        },
        [_path_parameter("name", "A funnel name from analytics.yaml"), TIME_RANGE],
    )
    paths["/api/v1/analytics/refresh"] = {
        "post": {
            "summary": "Start a rollup refresh followed by an overview run (admin token)",
            "description": "Runs `fawkes-analytics refresh` then `fawkes-analytics run overview` as child processes. "
            "One at a time; at most FAWKES_ANALYTICS_API_REFRESH_PER_HOUR per rolling hour.",
            "parameters": [
                {**TIME_RANGE, "description": "time_range parameter of the overview run (default: the notebook's)"}
            ],
            "responses": {
                "202": {
                    "description": "Accepted; GET the Location for the status.",
                    "headers": {"Location": {"description": "The job's status URL.", "schema": STRING}},
                    "content": {JSON: {"schema": _ref("RefreshJob")}},
                },
                "400": bad,
                "429": _problem("A refresh is running, or the hourly budget is spent.", RETRY_AFTER),
                **COMMON,
                "403": _problem("Not an admin token, or refreshes through the API are turned off."),
            },
        }
    }
    paths["/api/v1/analytics/refresh/{job_id}"] = _get(
        "A refresh job's status",
        {
            "200": _ok(
                "RefreshJob", "queued, running, succeeded (with the run) or failed (with an error)", validators=False
            ),
            "404": _problem("No such job."),
        },
        [_path_parameter("job_id", "The id from the 202 answer")],
    )
    paths["/api/v1/runs"] = _get(
        "Run history, newest first",
        {
            "200": _ok("RunList", "Run summaries", validators=False),
            "400": bad,
            "404": _problem("The report has no runs; detail lists the ones that have."),
        },
        [
            {"name": "report", "in": "query", "required": False, "schema": STRING},
            {"name": "status", "in": "query", "required": False, "schema": STRING},
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
            },
        ],
    )
    run_parameters = [
        _path_parameter("report", "Report name"),
        _path_parameter("run_id", "A run id, or `latest`"),
    ]
    paths["/api/v1/runs/{report}/{run_id}"] = _get(
        "One run",
        {"200": _ok("RunSummary", "The run", validators=False), "404": _problem("No such run.")},
        run_parameters,
    )
    file_content = {
        media: {"schema": {"type": "object"} if media == JSON else {"type": "string", "contentMediaType": media}}
        for media in MEDIA_TYPES.values()
    }
    paths["/api/v1/runs/{report}/{run_id}/{file}"] = _get(
        "A published file of a run (CSV, JSON, HTML, PDF, PNG)",
        {
            "200": {
                "description": "The file, with its media type.",
                "headers": VALIDATOR_HEADERS,
                "content": file_content,
            },
            **CONDITIONAL,
            "404": _problem("No such run or file (only published file types are served)."),
        },
        [*run_parameters, _path_parameter("file", "A file of the run, e.g. data.json or charts/traffic.png")],
    )
    paths["/metrics"] = _get(
        "Prometheus exposition of the product metrics",
        {
            "200": _ok(None, "The newest exposition the metrics export published (a file read).", METRICS),
            **CONDITIONAL,
            "503": _problem("No exposition published yet.", RETRY_AFTER),
        },
        description="Served from the metrics export's textfile, never computed by the server. "
        "The same families as `fawkes-analytics metrics`.",
    )
    return paths


def document(base: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document; ``base`` is the server's base URL path (no trailing slash)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Fawkes Analytics API",
            "version": __version__,
            "description": "Published analytics results over HTTP: read-only files of run folders, a refresh "
            "trigger and the Prometheus exposition. See docs/api.md.",
        },
        "servers": [{"url": base or "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A read token (GET), the admin token (also refresh) or a metrics token (/metrics).",
                }
            },
        },
    }


def modified() -> datetime:
    """When this document last changed: this module's modification time."""
    return datetime.fromtimestamp(Path(__file__).stat().st_mtime, timezone.utc)
