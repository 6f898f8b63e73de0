"""HTTP clients for an experimentation service and a feedback service (shapes: docs/sources.md).

The events store stays the source of events; these services, when configured, replace its
``assignments`` and ``feedback`` tables. ``with_services(source, experiments_url=...,
feedback_url=...)`` wraps any source; URLs default to ``FAWKES_ANALYTICS_EXPERIMENTS_URL`` and
``FAWKES_ANALYTICS_FEEDBACK_URL``, bearer tokens come from ``..._TOKEN`` variables.

Both APIs page with an opaque cursor: every list answer carries ``next_cursor`` (a string, or
null on the last page), passed back as the ``cursor`` query parameter. Answers are validated
field by field (``SourceResponseError`` names the endpoint and field), then the rows go
through ``schema.validate`` (``SchemaError`` names the endpoint as the origin), so the tables
are canonical. All requests use the resilient HTTP layer: retries, cache, last good data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from .. import schema, settings
from ..errors import SourceResponseError
from ..timerange import TimeRange
from .base import Capability, Source
from .fallback import SourceStatus, StatusTracker
from .http import NUMBER, HttpClient, require

EXPERIMENTS_URL_ENV = "FAWKES_ANALYTICS_EXPERIMENTS_URL"
EXPERIMENTS_TOKEN_ENV = "FAWKES_ANALYTICS_EXPERIMENTS_TOKEN"
FEEDBACK_URL_ENV = "FAWKES_ANALYTICS_FEEDBACK_URL"
FEEDBACK_TOKEN_ENV = "FAWKES_ANALYTICS_FEEDBACK_TOKEN"
MAX_PAGES = 10_000  # a guard against a server whose cursor never ends


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _validate_list(key: str, fields: dict[str, tuple[Any, bool]]) -> Any:
    """A validator for ``{key: [ {field: kind} ... ], "next_cursor": str|null}``."""

    def validate(body: Any, endpoint: str) -> None:
        items = require(body, key, list, endpoint)
        require(body, "next_cursor", str, endpoint, nullable=True)
        for i, item in enumerate(items):
            for name, (kind, nullable) in fields.items():
                if nullable and isinstance(item, dict) and name not in item:
                    continue
                require(item, name, kind, endpoint, f"{key}[{i}]", nullable=nullable)

    return validate


def _pages(
    http: HttpClient, path: str, key: str, params: dict[str, Any], validate: Any
) -> Iterator[list[dict[str, Any]]]:
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        fetched = http.get_json(path, {**params, **({"cursor": cursor} if cursor else {})}, validate=validate)
        yield fetched.data[key]
        cursor = fetched.data["next_cursor"]
        if not cursor:
            return


# -- experimentation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    weight: float


@dataclass(frozen=True)
class ExperimentDefinition:
    """One experiment as the service defines it; ``control`` is one of the variant names."""

    id: str
    name: str
    status: str
    control: str
    variants: tuple[Variant, ...]
    started_at: str | None = None
    ended_at: str | None = None

    @property
    def split(self) -> dict[str, float]:
        """Configured traffic split, weights normalised to sum to 1 (for the SRM check)."""
        total = sum(v.weight for v in self.variants) or 1.0
        return {v.name: v.weight / total for v in self.variants}


_EXPERIMENT_FIELDS = {
    "id": (str, False),
    "name": (str, False),
    "status": (str, False),
    "control": (str, False),
    "variants": (list, False),
    "started_at": (str, True),
    "ended_at": (str, True),
}
_ASSIGNMENT_FIELDS = {"user_id": (str | int, False), "variant": (str, False), "assigned_at": (str, False)}
_FEEDBACK_FIELDS = {
    "user_id": (str | int, False),
    "timestamp": (str, False),
    "score": (NUMBER, False),
    "kind": (str, True),
    "comment": (str, True),
    "category": (str, True),
}


class ExperimentationClient:
    """``GET /api/experiments`` and ``GET /api/experiments/{id}/assignments``."""

    def __init__(self, base_url: str, token: str | None = None, **http_options: Any) -> None:
        token = token if token is not None else settings.secret("EXPERIMENTS_TOKEN")
        http_options.setdefault("name", f"experimentation service {base_url}")
        self.http = HttpClient(base_url, headers=_headers(token), **http_options)

    def experiments(self) -> list[ExperimentDefinition]:
        """Every experiment definition, validated (control must be one of the variants)."""
        definitions = []
        path = "/api/experiments"
        for page in _pages(self.http, path, "experiments", {}, _validate_list("experiments", _EXPERIMENT_FIELDS)):
            for i, item in enumerate(page):
                endpoint = self.http.endpoint("GET", path)
                variants = []
                for j, variant in enumerate(item["variants"]):
                    where = f"experiments[{i}].variants[{j}]"
                    variants.append(
                        Variant(
                            require(variant, "name", str, endpoint, where),
                            float(require(variant, "weight", NUMBER, endpoint, where)),
                        )
                    )
                names = [v.name for v in variants]
                if item["control"] not in names:
                    raise SourceResponseError(
                        endpoint, f"experiments[{i}].control", f"{item['control']!r} is not one of the variants {names}"
                    )
                definitions.append(
                    ExperimentDefinition(
                        item["id"],
                        item["name"],
                        item["status"],
                        item["control"],
                        tuple(variants),
                        item.get("started_at"),
                        item.get("ended_at"),
                    )
                )
        return definitions

    def assignments_frame(self, experiment_id: str) -> pd.DataFrame:
        """One experiment's assignments as a canonical ``assignments`` frame."""
        path = f"/api/experiments/{experiment_id}/assignments"
        rows = [
            row
            for page in _pages(self.http, path, "assignments", {}, _validate_list("assignments", _ASSIGNMENT_FIELDS))
            for row in page
        ]
        frame = pd.DataFrame(rows, columns=list(_ASSIGNMENT_FIELDS)).assign(experiment_id=experiment_id)
        return schema.validate("assignments", frame, where=self.http.endpoint("GET", path)).frame

    def all_assignments(self) -> pd.DataFrame:
        frames = [self.assignments_frame(e.id) for e in self.experiments()]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in schema.ASSIGNMENTS.column_names})
        return pd.concat(frames, ignore_index=True)


class FeedbackClient:
    """``GET /api/feedback?since=...&until=...`` (ISO 8601 with offset, half-open range)."""

    def __init__(self, base_url: str, token: str | None = None, **http_options: Any) -> None:
        token = token if token is not None else settings.secret("FEEDBACK_TOKEN")
        http_options.setdefault("name", f"feedback service {base_url}")
        self.http = HttpClient(base_url, headers=_headers(token), **http_options)

    def feedback_frame(self, time_range: TimeRange | None = None) -> pd.DataFrame:
        """Feedback scores (all, or within ``time_range``) as a canonical ``feedback`` frame."""
        params = {"since": time_range.start.isoformat(), "until": time_range.end.isoformat()} if time_range else {}
        path = "/api/feedback"
        rows = [
            row
            for page in _pages(self.http, path, "feedback", params, _validate_list("feedback", _FEEDBACK_FIELDS))
            for row in page
        ]
        frame = pd.DataFrame(rows, columns=list(_FEEDBACK_FIELDS))
        return schema.validate("feedback", frame, where=self.http.endpoint("GET", path)).frame


# -- the combined source ----------------------------------------------------------------------


class ServicesSource(Source):
    """Events from ``base``; assignments and feedback from the services that are configured."""

    def __init__(
        self, base: Source, experiments: ExperimentationClient | None = None, feedback: FeedbackClient | None = None
    ) -> None:
        self.base = base
        self.experiments_client = experiments
        self.feedback_client = feedback
        self.url = base.url
        self.kind = f"{base.kind}+services"
        extra = {Capability.ASSIGNMENTS} if experiments else set()
        extra |= {Capability.FEEDBACK} if feedback else set()
        self.capabilities = frozenset(base.capabilities | extra)

    @property
    def is_demo(self) -> bool:  # type: ignore[override]
        return self.base.is_demo

    def events(self) -> ir.Table:
        return self.base.events()

    def assignments(self) -> ir.Table:
        if self.experiments_client is None:
            return self.base.assignments()
        return schema.as_memtable("assignments", self.experiments_client.all_assignments())

    def experiment_definitions(self) -> list[ExperimentDefinition]:
        return self.experiments_client.experiments() if self.experiments_client else []

    def feedback(self) -> ir.Table:
        if self.feedback_client is None:
            return self.base.feedback()
        return schema.as_memtable("feedback", self.feedback_client.feedback_frame())

    def data_as_of(self) -> datetime | None:
        return self.base.data_as_of()

    def default_as_of(self) -> datetime:
        return self.base.default_as_of()

    def status(self) -> SourceStatus:
        """Unavailable if any service answered from last good data (oldest such time)."""
        merged = StatusTracker(self.kind)
        for client in (self.experiments_client, self.feedback_client):
            if client is not None:
                merged.fallbacks.extend(client.http.tracker.fallbacks)
        return merged.status

    def describe(self) -> dict[str, Any]:
        described = self.base.describe()
        status = self.status()
        described.update(
            {
                "kind": self.kind,
                "experiments_service": self.experiments_client.http.name if self.experiments_client else None,
                "feedback_service": self.feedback_client.http.name if self.feedback_client else None,
                "available": status.available,
                "status": status.banner,
            }
        )
        return described


def with_services(
    base: Source, experiments_url: str | None = None, feedback_url: str | None = None, **http_options: Any
) -> Source:
    """``base`` with the configured services attached (arguments, else environment); else ``base``."""
    experiments_url = experiments_url or settings.get("EXPERIMENTS_URL")
    feedback_url = feedback_url or settings.get("FEEDBACK_URL")
    if not experiments_url and not feedback_url:
        return base
    return ServicesSource(
        base,
        ExperimentationClient(experiments_url, **http_options) if experiments_url else None,
        FeedbackClient(feedback_url, **http_options) if feedback_url else None,
    )


__all__ = [
    "EXPERIMENTS_URL_ENV",
    "FEEDBACK_URL_ENV",
    "ExperimentDefinition",
    "ExperimentationClient",
    "FeedbackClient",
    "ServicesSource",
    "Variant",
    "with_services",
]
