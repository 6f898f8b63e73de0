"""Plausible Analytics as a source of web usage: the Stats API v2 query and the v1 endpoints.

Source URL: ``plausible://host[:port][/prefix]/<site_id>`` (HTTPS) or
``plausible+http://...`` (plain HTTP, e.g. a self-hosted instance on a private network).
Options as query parameters: ``ttl`` (cache seconds, default 300), ``timeout`` (read
timeout seconds, default 30), ``retries`` (attempts, default 4), ``backoff`` (base seconds,
default 0.5), ``api`` (``v2`` default, or ``v1``). The API key is read from the
environment variable ``FAWKES_ANALYTICS_PLAUSIBLE_API_KEY`` (or the file named by ``..._FILE``; the old name
``PLAUSIBLE_API_KEY`` is still read)
at run time and sent as a Bearer token; it never appears in the URL, the cache or a report.

Plausible answers aggregates only (capability ``aggregate-only``), so this source serves the
usage report (metrics/plausible_usage.py computes it from the client's answers) and not the
event-level reports (funnels, retention, experiments), whose ``events()`` call
raises ``SourceUnavailable`` saying so. The KPIs are Plausible's own numbers, returned
unchanged: visitors, visits, pageviews, views_per_visit, bounce_rate (percent),
visit_duration (seconds).

Time ranges: ``TimeRange`` is half-open ``[start, end)`` with second precision; v2 date
ranges are inclusive, so ``[start, end - 1 s]`` is sent as ISO datetimes with offset. The v1
API only takes whole days (``period=custom&date=YYYY-MM-DD,YYYY-MM-DD``), so the v1 path
covers the calendar days (in the range's time zone) that the range touches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pandas as pd

from .. import settings
from ..errors import ConfigError, ParameterError, SourceResponseError, SourceUnavailable
from ..timerange import TimeRange
from .base import Capability, Source, redact_url
from .fallback import SourceStatus
from .http import NUMBER, HttpClient, RetryPolicy, check, current_run, meaning_of, require

API_KEY_ENV = "FAWKES_ANALYTICS_PLAUSIBLE_API_KEY"
USAGE_METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration")
V2_PAGE_SIZE = 10_000
V1_PAGE_SIZE = 1_000
TIME_DIMENSIONS = {"hour": "time:hour", "day": "time:day", "week": "time:week"}


# -- response validation ---------------------------------------------------------------------


def _validate_v2(metrics: Sequence[str], dimensions: Sequence[str]) -> Any:
    def validate(body: Any, endpoint: str) -> None:
        results = require(body, "results", list, endpoint)
        if "meta" in body:
            require(body, "meta", dict, endpoint)
        for i, row in enumerate(results):
            where = f"results[{i}]"
            values = require(row, "metrics", list, endpoint, where)
            if len(values) != len(metrics):
                raise SourceResponseError(
                    endpoint,
                    f"{where}.metrics",
                    f"has {len(values)} values, asked for {len(metrics)} metrics {list(metrics)}",
                )
            for j, value in enumerate(values):
                check(value, NUMBER, endpoint, f"{where}.metrics[{j}] ({metrics[j]})", nullable=True)
            keys = require(row, "dimensions", list, endpoint, where)
            if len(keys) != len(dimensions):
                raise SourceResponseError(
                    endpoint,
                    f"{where}.dimensions",
                    f"has {len(keys)} values, asked for {len(dimensions)} dimensions {list(dimensions)}",
                )
            for j, value in enumerate(keys):
                check(value, str | int | float, endpoint, f"{where}.dimensions[{j}] ({dimensions[j]})", nullable=True)

    return validate


def _validate_v1_aggregate(metrics: Sequence[str]) -> Any:
    def validate(body: Any, endpoint: str) -> None:
        results = require(body, "results", dict, endpoint)
        for metric in metrics:
            entry = require(results, metric, dict, endpoint, "results")
            require(entry, "value", NUMBER, endpoint, f"results.{metric}", nullable=True)

    return validate


def _validate_v1_rows(key: str, metrics: Sequence[str]) -> Any:
    def validate(body: Any, endpoint: str) -> None:
        results = require(body, "results", list, endpoint)
        for i, row in enumerate(results):
            require(row, key, str, endpoint, f"results[{i}]", nullable=True)
            for metric in metrics:
                require(row, metric, NUMBER, endpoint, f"results[{i}]", nullable=True)

    return validate


# -- the client ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryResult:
    """A v2 query answer: one row per dimension combination, one column per metric."""

    frame: pd.DataFrame
    meta: dict[str, Any]
    fallback: bool = False


def _iso_range(time_range: TimeRange) -> list[str]:
    zone = ZoneInfo(time_range.tz)
    last = time_range.end - timedelta(seconds=1)  # v2 ranges are inclusive; ours is half-open
    return [time_range.start.astimezone(zone).isoformat(), last.astimezone(zone).isoformat()]


def range_label(time_range: TimeRange) -> str:
    """What a range means, whatever its exact timestamps: its label and time zone ('24h UTC',
    'previous 7d Europe/Berlin'); a custom range means its own start and end."""
    if time_range.label.endswith("custom"):
        return f"{time_range.label} {time_range.start.isoformat()}/{time_range.end.isoformat()} {time_range.tz}"
    return f"{time_range.label} {time_range.tz}"


def _meaning(method: str, path: str, query: dict[str, Any], time_range: TimeRange | None) -> dict[str, Any]:
    """``meaning`` and ``covers`` for a request about ``time_range`` (none without a range)."""
    if time_range is None:
        return {}
    return {
        "meaning": meaning_of(method, path, query, range_label(time_range), current_run().get("report")),
        "covers": (time_range.start, time_range.end),
    }


def day_range(time_range: TimeRange) -> str:
    """The v1 ``date`` of a range: the calendar days (in the range's zone) it touches."""
    zone = ZoneInfo(time_range.tz)
    last = time_range.end - timedelta(microseconds=1)
    return f"{time_range.start.astimezone(zone).date().isoformat()},{last.astimezone(zone).date().isoformat()}"


class PlausibleClient:
    """The Plausible Stats API for one site, over the resilient ``HttpClient``."""

    def __init__(self, base_url: str, site_id: str, api_key: str | None = None, **http_options: Any) -> None:
        api_key = api_key if api_key is not None else settings.secret("PLAUSIBLE_API_KEY")
        if not api_key:
            raise ConfigError(
                "environment",
                API_KEY_ENV,
                "not set: create a Stats API key in Plausible (Settings > API keys) and export it",
            )
        self.site_id = site_id
        http_options.setdefault("name", f"plausible {redact_url(base_url)} site {site_id}")
        self.http = HttpClient(base_url, headers={"Authorization": f"Bearer {api_key}"}, **http_options)

    @classmethod
    def from_url(cls, url: str, **http_options: Any) -> PlausibleClient:
        base_url, site_id, options = parse_url(url)
        if "ttl" in options:
            http_options.setdefault("ttl", float(options["ttl"]))
        if "retries" in options or "backoff" in options:
            base = http_options.get("retry", RetryPolicy())
            http_options.setdefault(
                "retry",
                RetryPolicy(
                    attempts=int(options.get("retries", base.attempts)),
                    backoff_base=float(options.get("backoff", base.backoff_base)),
                    backoff_max=base.backoff_max,
                    retry_after_max=base.retry_after_max,
                ),
            )
        if "timeout" in options:
            http_options.setdefault("timeout", httpx.Timeout(float(options["timeout"]), connect=5.0))
        return cls(base_url, site_id, **http_options)

    @property
    def status(self) -> SourceStatus:
        return self.http.status

    def refresh(self) -> int:
        return self.http.refresh()

    # v2 -------------------------------------------------------------------------------------

    def query(
        self,
        metrics: Sequence[str],
        date_range: str | Sequence[str] | TimeRange,
        dimensions: Sequence[str] = (),
        filters: Sequence[Any] = (),
        order_by: Sequence[Sequence[str]] | None = None,
        include: dict[str, Any] | None = None,
        limit: int | None = None,
        page_size: int = V2_PAGE_SIZE,
    ) -> QueryResult:
        """``POST /api/v2/query``, following pagination until ``limit`` rows or the end."""
        if not metrics:
            raise ParameterError("metrics", "at least one metric is needed", list(USAGE_METRICS))
        body: dict[str, Any] = {
            "site_id": self.site_id,
            "metrics": list(metrics),
            "date_range": _iso_range(date_range) if isinstance(date_range, TimeRange) else date_range,
        }
        if dimensions:
            body["dimensions"] = list(dimensions)
        if filters:
            body["filters"] = list(filters)
        if order_by:
            body["order_by"] = [list(pair) for pair in order_by]
        if include:
            body["include"] = include
        rows: list[list[Any]] = []
        meta: dict[str, Any] = {}
        fallback = False
        offset = 0
        time_range = date_range if isinstance(date_range, TimeRange) else None
        while True:
            size = min(page_size, limit - len(rows)) if limit is not None else page_size
            page = {**body, "pagination": {"limit": size, "offset": offset}}
            undated = {k: v for k, v in page.items() if k != "date_range"}
            fetched = self.http.post_json(
                "/api/v2/query",
                page,
                validate=_validate_v2(metrics, dimensions),
                **_meaning("POST", "/api/v2/query", undated, time_range),
            )
            fallback = fallback or fetched.fallback
            results = fetched.data["results"]
            meta = fetched.data.get("meta", {})
            rows.extend([*r["dimensions"], *r["metrics"]] for r in results)
            offset += len(results)
            if len(results) < size or (limit is not None and len(rows) >= limit):
                break
        columns = [*dimensions, *metrics]
        frame = pd.DataFrame(rows, columns=columns)
        for metric in metrics:
            frame[metric] = pd.to_numeric(frame[metric]).astype("float64")
        return QueryResult(frame, meta, fallback)

    # v1 -------------------------------------------------------------------------------------

    def _v1_params(self, metrics: Sequence[str], period: str, date: str | None, filters: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"site_id": self.site_id, "period": period, "metrics": ",".join(metrics)}
        if date:
            params["date"] = date
        if filters:
            params["filters"] = filters
        return params

    def _v1_get(self, path: str, params: dict[str, Any], validate: Any, time_range: TimeRange | None) -> Any:
        undated = {k: v for k, v in params.items() if k != "date"}
        return self.http.get_json(path, params, validate=validate, **_meaning("GET", path, undated, time_range))

    def aggregate(
        self,
        metrics: Sequence[str],
        period: str = "30d",
        date: str | None = None,
        filters: str | None = None,
        time_range: TimeRange | None = None,
    ) -> dict[str, float | None]:
        """``GET /api/v1/stats/aggregate``: ``{metric: value}``. ``time_range`` names what
        ``date`` covers, for the fallback by meaning."""
        fetched = self._v1_get(
            "/api/v1/stats/aggregate",
            self._v1_params(metrics, period, date, filters),
            _validate_v1_aggregate(metrics),
            time_range,
        )
        return {
            m: (None if fetched.data["results"][m]["value"] is None else float(fetched.data["results"][m]["value"]))
            for m in metrics
        }

    def timeseries(
        self,
        metrics: Sequence[str],
        period: str = "30d",
        date: str | None = None,
        interval: str = "date",
        filters: str | None = None,
        time_range: TimeRange | None = None,
    ) -> pd.DataFrame:
        """``GET /api/v1/stats/timeseries``: a ``date`` column and one column per metric."""
        params = {**self._v1_params(metrics, period, date, filters), "interval": interval}
        fetched = self._v1_get("/api/v1/stats/timeseries", params, _validate_v1_rows("date", metrics), time_range)
        return pd.DataFrame(fetched.data["results"], columns=["date", *metrics])

    def breakdown(
        self,
        prop: str,
        metrics: Sequence[str],
        period: str = "30d",
        date: str | None = None,
        filters: str | None = None,
        limit: int = 100,
        time_range: TimeRange | None = None,
    ) -> pd.DataFrame:
        """``GET /api/v1/stats/breakdown`` by ``prop`` (e.g. ``event:page``), paging to ``limit``."""
        key = prop.split(":", 1)[-1]
        rows: list[dict[str, Any]] = []
        page = 1
        while len(rows) < limit:
            size = min(V1_PAGE_SIZE, limit - len(rows))
            params = {**self._v1_params(metrics, period, date, filters), "property": prop, "limit": size, "page": page}
            fetched = self._v1_get("/api/v1/stats/breakdown", params, _validate_v1_rows(key, metrics), time_range)
            rows.extend(fetched.data["results"])
            if len(fetched.data["results"]) < size:
                break
            page += 1
        return pd.DataFrame(rows, columns=[key, *metrics])


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """``plausible[+http|+https]://host[:port][/prefix]/site_id`` -> (base URL, site id, options)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("plausible", "plausible+https", "plausible+http"):
        raise ParameterError(
            "source",
            f"not a Plausible URL: {redact_url(url)}",
            "plausible://host/site_id or plausible+http://host:port/site_id",
        )
    path = parts.path.strip("/")
    if not parts.netloc or not path:
        raise ParameterError(
            "source",
            f"Plausible URL {redact_url(url)} needs a host and a site id",
            "plausible://plausible.io/example.com",
        )
    prefix, _, site_id = path.rpartition("/")
    transport = "http" if scheme == "plausible+http" else "https"
    base_url = f"{transport}://{parts.netloc}" + (f"/{prefix}" if prefix else "")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return base_url, site_id, options


# -- the source ---------------------------------------------------------------------------


class PlausibleSource(Source):
    """A Plausible site as a source: usage aggregates from its API; no event-level tables.

    ``metrics.usage.usage_trends`` turns the client's answers into ``UsageTrends``
    (metrics/plausible_usage.py); this module only talks to the API.
    """

    kind = "plausible"
    capabilities = frozenset({Capability.AGGREGATE_ONLY})

    def __init__(self, url: str, **http_options: Any) -> None:
        self.url = url
        self.options = parse_url(url)[2]
        self.client = PlausibleClient.from_url(url, **http_options)

    def _no_events(self, table: str) -> SourceUnavailable:
        return SourceUnavailable(
            f"source {redact_url(self.url)} (Plausible) offers aggregated usage only, not the '{table}' table; "
            "event-level reports need an events source (duckdb://, file://, parquet://)"
        )

    def events(self) -> Any:
        raise self._no_events("events")

    def assignments(self) -> Any:
        raise self._no_events("assignments")

    def feedback(self) -> Any:
        raise self._no_events("feedback")

    def status(self) -> SourceStatus:
        return self.client.status

    def data_as_of(self) -> Any:
        return self.client.status.data_as_of

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        status = self.client.status
        described.update({"site_id": self.client.site_id, "available": status.available, "status": status.banner})
        return described


def open_plausible(url: str) -> PlausibleSource:
    return PlausibleSource(url)


__all__ = [
    "API_KEY_ENV",
    "USAGE_METRICS",
    "PlausibleClient",
    "PlausibleSource",
    "QueryResult",
    "RetryPolicy",
    "parse_url",
]
