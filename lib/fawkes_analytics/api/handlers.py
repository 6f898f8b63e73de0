"""Tornado handlers of the API, added to the dashboards' server by ``fawkes_analytics.serve``.

``routes(base_url, server_token)`` is the one entry point: it reads the API settings (tokens,
CORS, refresh budget, paths) and returns the URL specs. Every handler here

- authenticates first (``prepare``), so a request without a valid token gets the same 401
  whatever path it asked for, existing or not;
- answers errors as ``application/problem+json`` (``write_error``), never with a traceback;
- sends published files and documents built from them through ``send_entity``: ETag and
  Last-Modified, 304 on revalidation, gzip when the client accepts it, ``Cache-Control:
  private, no-cache`` (clients keep a copy and revalidate; shared caches keep nothing).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import tornado.web
from tornado import httputil
from tornado.ioloop import IOLoop

from .. import settings as settings_module
from . import documents, openapi
from .auth import Scope, TokenTable, presented_token
from .documents import API, AREAS
from .entities import Entity, EntityCache, file_identity, modified_at
from .problems import MEDIA_TYPE, Problem, internal, not_found, unauthorized
from .published import LATEST, Publications, PublishedRun, RunFolders
from .refresh import RefreshJobs

log = logging.getLogger("fawkes_analytics.api")

METRICS_PATH = "/metrics"
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON = "application/json"
MAX_RUNS = 1000


def time_ranges() -> tuple[str, ...]:
    """The named ranges a ``time_range`` parameter may take (the reports' own list)."""
    from ..timerange import NAMED_RANGES

    return tuple(NAMED_RANGES)


@dataclass
class Api:
    """Everything the handlers share: settings, tokens, where runs are, caches, refresh jobs."""

    settings: settings_module.ApiSettings
    tokens: TokenTable
    base: str  # the server's base URL without the trailing slash ("" at the root)
    folders: RunFolders
    publications: Publications
    jobs: RefreshJobs
    cache: EntityCache = field(default_factory=EntityCache)

    @classmethod
    def create(
        cls, base_url: str = "/", server_token: str = "", config: settings_module.ApiSettings | None = None
    ) -> Api:
        """The API over ``config`` (default: the settings the environment says now)."""
        config = config or settings_module.api()
        folders = RunFolders(config.reports_dir)
        return cls(
            settings=config,
            tokens=TokenTable.from_settings(config, server_token),
            base=base_url.rstrip("/"),
            folders=folders,
            publications=Publications((folders,)),
            jobs=RefreshJobs(config.reports_dir, config.refresh_per_hour),
        )


def _json_entity(document: Any, last_modified: datetime) -> Entity:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return Entity.build(body, JSON, last_modified)


def _read_payload(path: Path) -> dict[str, Any]:
    """A published data.json; unreadable is a server-side problem (logged, never shown)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"published file {path} is unreadable: {exc}") from exc
    if not isinstance(payload, dict):
        raise RuntimeError(f"published file {path} is not a JSON object")
    return payload


class ApiHandler(tornado.web.RequestHandler):
    """Authentication, CORS, problem answers and conditional, compressed responses."""

    scope_needed = Scope.READ
    query_parameters: tuple[str, ...] = ()

    def initialize(self, api: Api) -> None:
        self.api = api

    # -- every response -----------------------------------------------------------------
    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "private, no-cache")

    def add_vary(self, name: str) -> None:
        present = [v.strip() for v in self._headers.get("Vary", "").split(",") if v.strip()]
        if name not in present:
            self.set_header("Vary", ", ".join([*present, name]))

    def _cors(self) -> bool:
        """Add the CORS headers when the request's Origin is allowed; True if it is."""
        allowed = self.api.settings.cors_origins
        if not allowed:
            return False
        self.add_vary("Origin")
        origin = self.request.headers.get("Origin")
        if not origin or ("*" not in allowed and origin not in allowed):
            return False
        self.set_header("Access-Control-Allow-Origin", "*" if "*" in allowed else origin)
        self.set_header("Access-Control-Expose-Headers", "ETag, Last-Modified, Location, Retry-After, Content-Location")
        return True

    def check_xsrf_cookie(self) -> None:
        """Tokens travel in a header a foreign page cannot set, so no XSRF cookie is needed."""

    # -- authentication -----------------------------------------------------------------
    def prepare(self) -> None:
        self._cors()
        if self.request.method == "OPTIONS":
            return
        scope = self.api.tokens.scope_of(presented_token(self.request.headers.get("Authorization")))
        if scope is None:
            raise unauthorized()
        if scope < self.scope_needed:
            needed = {Scope.READ: "a read", Scope.ADMIN: "the admin"}[self.scope_needed]
            raise Problem("forbidden", f"this token may not do this: it needs {needed} token")
        unknown = sorted(set(self.request.query_arguments) - set(self.query_parameters))
        if unknown:
            allowed = ", ".join(self.query_parameters) or "none"
            raise Problem("bad-parameter", f"unknown query parameter {unknown[0]!r} (allowed: {allowed})")

    def options(self, *args: str) -> None:
        """CORS preflight: answered without a token (browsers send none), empty body."""
        if "Access-Control-Allow-Origin" in self._headers:
            self.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
            self.set_header(
                "Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match, If-Modified-Since"
            )
            self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    # -- errors -------------------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, Problem):
            problem = error
        elif status_code == 404:
            problem = not_found(f"no such resource: {self.request.path}")
        elif status_code == 405:
            problem = Problem("method-not-allowed", f"{self.request.method} is not allowed on {self.request.path}")
        elif status_code == 400:
            problem = Problem("bad-parameter", "the request could not be read")
        else:
            problem = internal()
        self.clear()
        self._cors()
        self.set_status(problem.status)
        for name, value in problem.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", MEDIA_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(problem.to_bytes(self.request.path))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, Problem):
            return  # an answer, not a failure
        super().log_exception(typ, value, tb)

    # -- parameters ---------------------------------------------------------------------
    def time_range(self) -> dict[str, str]:
        """``{"time_range": value}`` when the request pins one, else ``{}``; 400 for a bad one."""
        value = self.get_query_argument("time_range", None)
        if value is None:
            return {}
        allowed = time_ranges()
        if value not in allowed:
            raise Problem(
                "bad-parameter",
                f"time_range {value!r} is not a named range; use one of {', '.join(allowed)}",
                {"parameter": "time_range", "allowed": list(allowed)},
            )
        return {"time_range": value}

    # -- sending ------------------------------------------------------------------------
    def accepts_gzip(self) -> bool:
        for part in self.request.headers.get("Accept-Encoding", "").split(","):
            coding, _, quality = part.strip().partition(";")
            if coding.strip().lower() in ("gzip", "*"):
                return quality.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
        return False

    def not_modified(self, entity: Entity) -> bool:
        """RFC 9110 revalidation: If-None-Match when present, else If-Modified-Since."""
        if_none_match = self.request.headers.get("If-None-Match")
        if if_none_match is not None:
            return entity.matches(if_none_match)
        since = self.request.headers.get("If-Modified-Since")
        if not since:
            return False
        try:
            return entity.last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False

    def send_entity(self, entity: Entity, content_location: str | None = None) -> None:
        gzipped = entity.gzipped is not None and self.accepts_gzip()
        if entity.gzipped is not None:
            self.add_vary("Accept-Encoding")
        self.set_header("ETag", entity.gzip_etag if gzipped else entity.etag)
        self.set_header("Last-Modified", httputil.format_timestamp(entity.last_modified))
        if content_location:
            self.set_header("Content-Location", content_location)
        if self.not_modified(entity):
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Type", entity.content_type)
        if gzipped:
            self.set_header("Content-Encoding", "gzip")
        self.finish(entity.gzipped if gzipped else entity.body)

    def send_json(self, document: Any, status: int = 200) -> None:
        """A small, uncached JSON answer (job status, index): no validators."""
        self.set_status(status)
        self.set_header("Content-Type", JSON)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(document, ensure_ascii=False).encode("utf-8"))

    def compute_etag(self) -> str | None:
        return None  # validators come from the entities only

    def head(self, *args: str) -> None:
        self.get(*args)

    # -- published runs -----------------------------------------------------------------
    def published(self, report: str, parameters: dict[str, str], what: str) -> PublishedRun:
        run = self.api.publications.find(report, parameters)
        if run is None or not run.data_file.is_file():
            pinned = " with " + ", ".join(f"{k}={v}" for k, v in parameters.items()) if parameters else ""
            raise Problem(
                "not-published",
                f"{what}: no published run of report {report!r}{pinned}; "
                f"run `fawkes-analytics run {report}` (or POST /api/v1/analytics/refresh for the dashboard)",
                {"report": report, **parameters},
            )
        return run

    def document_entity(self, run: PublishedRun, key: tuple[Any, ...], build: Callable[[dict], Any]) -> Entity:
        """The cached entity of a document built from ``run``'s data.json by ``build``."""
        identity = file_identity(run.data_file)
        return self.api.cache.get(
            ("document", *key, identity),
            lambda: _json_entity(build(_read_payload(run.data_file)), modified_at(run.data_file)),
        )


class IndexHandler(ApiHandler):
    def get(self) -> None:
        base = self.api.base + API
        self.send_json(
            {
                "openapi": f"{base}/openapi.json",
                "analytics": {name: f"{base}/analytics/{name}" for name in AREAS},
                "refresh": f"{base}/analytics/refresh",
                "runs": f"{base}/runs",
                "metrics": self.api.base + METRICS_PATH,
            }
        )


class OpenApiHandler(ApiHandler):
    def get(self) -> None:
        entity = self.api.cache.get(
            ("openapi", self.api.base),
            lambda: _json_entity(openapi.document(self.api.base), openapi.modified()),
        )
        self.send_entity(entity)


class AreaHandler(ApiHandler):
    """``dashboard``, ``usage-trends``, ``feature-adoption``, ``segments``: a run's data.json."""

    query_parameters = ("time_range",)

    def get(self, area: str) -> None:
        report = AREAS[area].report
        run = self.published(report, self.time_range(), area)
        entity = self.document_entity(
            run, (area,), lambda payload: documents.area_document(area, run, payload, self.api.base)
        )
        self.send_entity(entity)


class ExperimentHandler(ApiHandler):
    """One experiment: the newest experiment_results run for that ``experiment_id``."""

    query_parameters = ("time_range",)

    def get(self, experiment_id: str) -> None:
        pinned = {**self.time_range(), "experiment_id": experiment_id}
        run = self.api.publications.find("experiment_results", pinned)
        if run is None:
            published = sorted(self._published_ids())
            raise Problem(
                "not-published",
                f"experiment {experiment_id!r} has no published readout"
                + (f" for time_range {pinned['time_range']}" if "time_range" in pinned else "")
                + f" (published: {', '.join(published) or 'none'}); "
                f"run `fawkes-analytics run experiment_results -p experiment_id={experiment_id}`",
                {"experiment_id": experiment_id, "published": published},
            )

        def build(payload: dict) -> Any:
            result = documents.experiment_result(payload)
            if result is None:
                raise RuntimeError(f"{run.data_file} has no results.experiment")
            return documents.area_document("experiments", run, result, self.api.base, experiment_id=experiment_id)

        self.send_entity(self.document_entity(run, ("experiment", experiment_id), build))

    def _published_ids(self) -> set[str]:
        return {
            str(run.parameters.get("experiment_id"))
            for run in self.api.folders.runs("experiment_results")
            if run.status == "succeeded" and run.parameters.get("experiment_id")
        }


class ExperimentsHandler(ApiHandler):
    """Every experiment with a published readout: the newest run per ``experiment_id``."""

    query_parameters = ("time_range",)

    def get(self) -> None:
        pinned = self.time_range()
        newest: dict[str, PublishedRun] = {}
        for run in self.api.folders.runs("experiment_results"):
            experiment_id = str(run.parameters.get("experiment_id") or "")
            if (
                experiment_id
                and experiment_id not in newest
                and run.status == "succeeded"
                and run.data_file.is_file()
                and all(str(run.parameters.get(k)) == v for k, v in pinned.items())
            ):
                newest[experiment_id] = run
        if not newest:
            raise Problem(
                "not-published",
                "experiments: no published run of report 'experiment_results'"
                + (f" with time_range={pinned['time_range']}" if pinned else ""),
                {"report": "experiment_results", **pinned},
            )
        chosen = sorted(newest.items())
        key = tuple((experiment_id, file_identity(run.data_file)) for experiment_id, run in chosen)

        def build() -> Entity:
            entries = []
            for experiment_id, run in chosen:
                result = documents.experiment_result(_read_payload(run.data_file)) or {}
                entries.append(documents.experiment_entry(experiment_id, run, result, self.api.base))
            last = max(modified_at(run.data_file) for _, run in chosen)
            return _json_entity({"area": "experiments", "experiments": entries}, last)

        self.send_entity(self.api.cache.get(("experiments", pinned.get("time_range"), key), build))


class FunnelsHandler(ApiHandler):
    """The funnels of the newest funnels run: names and where each one is."""

    query_parameters = ("time_range",)

    def get(self) -> None:
        run = self.published("funnels", self.time_range(), "funnels")
        base = self.api.base

        def build(payload: dict) -> Any:
            names = documents.funnel_names(payload)
            return {
                "area": "funnels",
                "run": documents.run_summary(run, base),
                "funnels": [{"name": name, "href": f"{base}{API}/analytics/funnels/{name}"} for name in names],
            }

        self.send_entity(self.document_entity(run, ("funnels",), build))


class FunnelHandler(ApiHandler):
    """One funnel of the newest funnels run (``results.funnel_<name>``)."""

    query_parameters = ("time_range",)

    def get(self, name: str) -> None:
        run = self.published("funnels", self.time_range(), f"funnel {name!r}")

        def build(payload: dict) -> Any:
            result = documents.funnel_result(payload, name)
            if result is None:
                names = documents.funnel_names(payload)
                raise not_found(
                    f"funnel {name!r} is not in the published funnels run {run.run_id} (funnels: {', '.join(names)})",
                    funnel=name,
                    published=names,
                )
            return documents.area_document("funnels", run, result, self.api.base, funnel=name)

        self.send_entity(self.document_entity(run, ("funnel", name), build))


class RunsHandler(ApiHandler):
    """Run history, newest first: every report or one, optionally by status."""

    query_parameters = ("report", "status", "limit")

    def get(self) -> None:
        report = self.get_query_argument("report", None)
        status = self.get_query_argument("status", None)
        limit_text = self.get_query_argument("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_RUNS:
            raise Problem(
                "bad-parameter",
                f"limit {limit_text!r} must be a whole number from 1 to {MAX_RUNS}",
                {"parameter": "limit"},
            )
        reports = self.api.folders.reports()
        if report is not None and report not in reports:
            raise not_found(f"report {report!r} has no runs (reports with runs: {', '.join(reports) or 'none'})")
        runs = [run for name in ([report] if report else reports) for run in self.api.folders.runs(name)]
        runs = [run for run in runs if status is None or run.status == status]
        runs.sort(key=lambda run: (run.started_at, run.run_id), reverse=True)
        self.send_json({"runs": [documents.run_summary(run, self.api.base) for run in runs[: int(limit_text)]]})


class RunHandler(ApiHandler):
    """One run's summary (``latest`` allowed)."""

    def get(self, report: str, run_id: str) -> None:
        run = self.api.folders.resolve(report, run_id)
        if run is None:
            raise not_found(f"report {report!r} has no run {run_id!r}", report=report, run_id=run_id)
        self.send_json(documents.run_summary(run, self.api.base))


class RunFileHandler(ApiHandler):
    """A published file of a run, with its media type (``latest`` allowed)."""

    def get(self, report: str, run_id: str, name: str) -> None:
        run = self.api.folders.resolve(report, run_id)
        if run is None:
            raise not_found(f"report {report!r} has no run {run_id!r}", report=report, run_id=run_id)
        folder = run.folder.resolve()
        path = (folder / name).resolve()
        if not documents.servable(name) or folder not in path.parents or not path.is_file():
            raise not_found(
                f"run {run.run_id} of report {report!r} has no published file {name!r}",
                report=report,
                run_id=run.run_id,
                file=name,
            )
        identity = file_identity(path)
        entity = self.api.cache.get(
            ("file", identity),
            lambda: Entity.build(path.read_bytes(), documents.media_type(name), modified_at(path)),
        )
        self.set_header("Content-Disposition", f'inline; filename="{Path(name).name}"')
        location = f"{documents.run_href(self.api.base, report, run.run_id)}/{name}" if run_id == LATEST else None
        self.send_entity(entity, location)


class RefreshHandler(ApiHandler):
    """``POST``: start a refresh (admin token), 202 with the job's status URL."""

    scope_needed = Scope.ADMIN
    query_parameters = ("time_range",)

    def post(self) -> None:
        time_range = self.time_range().get("time_range")
        job = self.api.jobs.submit(time_range)
        IOLoop.current().spawn_callback(self._run_job, job)
        location = f"{self.api.base}{API}/analytics/refresh/{job.id}"
        self.set_header("Location", location)
        self.send_json({**job.to_dict(), "href": location}, status=202)

    async def _run_job(self, job: Any) -> None:
        try:
            await self.api.jobs.execute(job)
        except Exception:  # the job file must not stay "running" because of a bug here
            log.exception("refresh job %s failed", job.id)
            job.status, job.error = "failed", "the server could not run the refresh; see its log"
            job.finished_at = datetime.now(timezone.utc).isoformat()
            self.api.jobs.save(job)


class RefreshStatusHandler(ApiHandler):
    """``GET``: a refresh job's status (queued, running, succeeded, failed)."""

    def get(self, job_id: str) -> None:
        job = self.api.jobs.get(job_id)
        if job is None:
            raise not_found(f"no refresh job {job_id!r}", job=job_id)
        document = job.to_dict()
        if job.run:
            document["run"] = {
                **job.run,
                "href": documents.run_href(self.api.base, job.run["report"], job.run["run_id"]),
            }
        self.send_json({**document, "href": f"{self.api.base}{API}/analytics/refresh/{job.id}"})


class MetricsHandler(ApiHandler):
    """The newest published Prometheus exposition, read from the metrics export's textfile.

    Never computed here: the metrics-export schedule writes the file (atomically) every five
    minutes; a scrape is a file read. Before the first export there is nothing to serve: 503
    (Prometheus records the target as down, which is what it is).
    """

    scope_needed = Scope.METRICS

    def get(self) -> None:
        path = self.api.settings.metrics_textfile
        identity = file_identity(path)
        if identity is None:
            raise Problem(
                "unavailable",
                "no metrics exposition has been published yet: the metrics-export schedule writes it "
                "(or run `fawkes-analytics run metrics_export`)",
                headers={"Retry-After": "300"},
            )
        entity = self.api.cache.get(
            ("metrics", identity), lambda: Entity.build(path.read_bytes(), METRICS_MEDIA_TYPE, modified_at(path))
        )
        self.send_entity(entity)


class NotFoundHandler(ApiHandler):
    """Any other path under the API: 404 after authentication (401 first, like every path)."""

    def get(self, *args: str) -> None:
        raise not_found(f"no such resource: {self.request.path}")

    post = get


def routes(
    base_url: str = "/", server_token: str = "", config: settings_module.ApiSettings | None = None
) -> list[tuple[str, type, dict[str, Any]]]:
    """The API's URL specs for a tornado application served under ``base_url``.

    ``server_token`` is the dashboards' token, accepted as a read token. ``config`` is read
    from the environment when not given; a server passes the settings it read before cutting
    its own environment down to what kernels may see. Raises ParameterError when a setting is
    wrong (e.g. a token file that cannot be read).
    """
    api = Api.create(base_url, server_token, config)
    root = api.base
    areas = "|".join(documents.WHOLE_RUN_AREAS)
    item = r"([A-Za-z0-9][A-Za-z0-9_.-]*)"
    table: list[tuple[str, type]] = [
        (rf"{API}/?", IndexHandler),
        (rf"{API}/openapi\.json", OpenApiHandler),
        (rf"{API}/analytics/({areas})/?", AreaHandler),
        (rf"{API}/analytics/experiments/?", ExperimentsHandler),
        (rf"{API}/analytics/experiments/{item}/?", ExperimentHandler),
        (rf"{API}/analytics/funnels/?", FunnelsHandler),
        (rf"{API}/analytics/funnels/{item}/?", FunnelHandler),
        (rf"{API}/analytics/refresh/?", RefreshHandler),
        (rf"{API}/analytics/refresh/([A-Za-z0-9-]+)/?", RefreshStatusHandler),
        (rf"{API}/runs/?", RunsHandler),
        (rf"{API}/runs/([^/]+)/([^/]+)/?", RunHandler),
        (rf"{API}/runs/([^/]+)/([^/]+)/(.+)", RunFileHandler),
        (METRICS_PATH, MetricsHandler),
        (rf"{API}(/.*)?", NotFoundHandler),
    ]
    log.info(
        "API at %s%s (auth %s, CORS %s, reports %s)",
        root,
        API,
        "off (no token configured, loopback only)" if api.tokens.open else "on",
        ", ".join(api.settings.cors_origins) or "off",
        os.fspath(api.settings.reports_dir),
    )
    return [(root + pattern, handler, {"api": api}) for pattern, handler in table]
