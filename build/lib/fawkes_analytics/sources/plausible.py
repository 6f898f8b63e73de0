"""Plausible Analytics as a source of web usage: the Stats API v2 query and the v1 endpoints.

Source URL: ``plausible://host[:port][/prefix]/<site_id>`` (HTTPS) or
``plausible+http://...`` (plain HTTP, e.g. a self-hosted instance on a private network).
Options as query parameters: ``ttl`` (cache seconds, default 300), ``timeout`` (read
timeout seconds), ``api`` (``v2`` default, or ``v1``). The API key is read from the
environment variable ``PLAUSIBLE_API_KEY`` at run time and sent as a Bearer token; it never
appears in the URL, the cache or a report.

Plausible answers aggregates only, so this source serves the usage report (``usage``) and
not the event-level reports (funnels, retention, experiments), whose ``events()`` call
raises ``SourceUnavailable`` saying so. The KPIs are Plausible's own numbers, returned
unchanged: visitors, visits, pageviews, views_per_visit, bounce_rate (percent),
visit_duration (seconds).

Time ranges: ``TimeRange`` is half-open ``[start, end)`` with second precision; v2 date
ranges are inclusive, so ``[start, end - 1 s]`` is sent as ISO datetimes with offset. The v1
API only takes whole days (``period=custom&date=YYYY-MM-DD,YYYY-MM-DD``), so the v1 path
covers the calendar days (in the range's time zone) that the range touches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pandas as pd

from ..errors import ConfigError, ParameterError, SourceResponseError, SourceUnavailable
from ..results import Result, percent_change, point_change
from ..timerange import TimeRange
from .base import Source, redact_url
from .fallback import SourceStatus
from .http import NUMBER, HttpClient, RetryPolicy, check, require

API_KEY_ENV = "PLAUSIBLE_API_KEY"
USAGE_METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration")
POINT_CHANGE_METRICS = frozenset({"bounce_rate"})  # changes in percentage points, not percent
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


def _day_range(time_range: TimeRange) -> str:
    zone = ZoneInfo(time_range.tz)
    last = time_range.end - timedelta(microseconds=1)
    return f"{time_range.start.astimezone(zone).date().isoformat()},{last.astimezone(zone).date().isoformat()}"


class PlausibleClient:
    """The Plausible Stats API for one site, over the resilient ``HttpClient``."""

    def __init__(self, base_url: str, site_id: str, api_key: str | None = None, **http_options: Any) -> None:
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
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
        while True:
            size = min(page_size, limit - len(rows)) if limit is not None else page_size
            page = {**body, "pagination": {"limit": size, "offset": offset}}
            fetched = self.http.post_json("/api/v2/query", page, validate=_validate_v2(metrics, dimensions))
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

    def aggregate(
        self, metrics: Sequence[str], period: str = "30d", date: str | None = None, filters: str | None = None
    ) -> dict[str, float | None]:
        """``GET /api/v1/stats/aggregate``: ``{metric: value}``."""
        fetched = self.http.get_json(
            "/api/v1/stats/aggregate",
            self._v1_params(metrics, period, date, filters),
            validate=_validate_v1_aggregate(metrics),
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
    ) -> pd.DataFrame:
        """``GET /api/v1/stats/timeseries``: a ``date`` column and one column per metric."""
        params = {**self._v1_params(metrics, period, date, filters), "interval": interval}
        fetched = self.http.get_json("/api/v1/stats/timeseries", params, validate=_validate_v1_rows("date", metrics))
        return pd.DataFrame(fetched.data["results"], columns=["date", *metrics])

    def breakdown(
        self,
        prop: str,
        metrics: Sequence[str],
        period: str = "30d",
        date: str | None = None,
        filters: str | None = None,
        limit: int = 100,
    ) -> pd.DataFrame:
        """``GET /api/v1/stats/breakdown`` by ``prop`` (e.g. ``event:page``), paging to ``limit``."""
        key = prop.split(":", 1)[-1]
        rows: list[dict[str, Any]] = []
        page = 1
        while len(rows) < limit:
            size = min(V1_PAGE_SIZE, limit - len(rows))
            params = {**self._v1_params(metrics, period, date, filters), "property": prop, "limit": size, "page": page}
            fetched = self.http.get_json("/api/v1/stats/breakdown", params, validate=_validate_v1_rows(key, metrics))
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


# -- usage --------------------------------------------------------------------------------


@dataclass
class PlausibleUsage(Result):
    """Plausible's usage KPIs for a period, its previous period and the changes between them.

    ``kpis``/``previous``/``changes`` map each of ``USAGE_METRICS`` to a number (changes in
    percent, bounce_rate in percentage points, as Plausible shows them). ``timeseries`` has
    ``bucket`` (label from Plausible, in the site's time zone) and one column per metric;
    ``top_pages`` has ``page, visitors, pageviews``; ``top_sources`` has ``source, visitors,
    visits``.
    """

    time_range: dict[str, str]
    granularity: str
    kpis: dict[str, float | None]
    previous: dict[str, float | None]
    changes: dict[str, float | None]
    timeseries: pd.DataFrame
    top_pages: pd.DataFrame
    top_sources: pd.DataFrame
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def total_users(self) -> float | None:
        return self.kpis.get("visitors")


def _totals(client: PlausibleClient, time_range: TimeRange, api: str) -> dict[str, float | None]:
    if api == "v1":
        return client.aggregate(USAGE_METRICS, period="custom", date=_day_range(time_range))
    frame = client.query(USAGE_METRICS, time_range).frame
    if frame.empty:
        return dict.fromkeys(USAGE_METRICS, 0.0)
    row = frame.iloc[0]
    return {m: (None if pd.isna(row[m]) else float(row[m])) for m in USAGE_METRICS}


def plausible_usage(
    client: PlausibleClient, time_range: TimeRange, top: int = 10, granularity: str | None = None, api: str = "v2"
) -> PlausibleUsage:
    """Usage KPIs, their change against the previous period, a time series and top lists.

    The numbers are Plausible's, unchanged (the reference for the web usage metrics).
    """
    if api not in ("v1", "v2"):
        raise ParameterError("api", f"unknown Plausible API {api!r}", ["v1", "v2"])
    granularity = granularity or time_range.default_granularity()
    if granularity not in TIME_DIMENSIONS:
        raise ParameterError("granularity", f"unknown granularity {granularity!r}", list(TIME_DIMENSIONS))
    current = _totals(client, time_range, api)
    previous = _totals(client, time_range.previous(), api)
    changes = {
        m: (point_change if m in POINT_CHANGE_METRICS else percent_change)(current[m], previous[m])
        for m in USAGE_METRICS
    }
    if api == "v1":
        days = _day_range(time_range)
        interval = {"hour": "hour", "day": "date", "week": "date"}[granularity]
        series = client.timeseries(USAGE_METRICS, "custom", days, interval=interval).rename(columns={"date": "bucket"})
        pages = client.breakdown("event:page", ("visitors", "pageviews"), "custom", days, limit=top)
        sources = client.breakdown("visit:source", ("visitors", "visits"), "custom", days, limit=top)
    else:
        series = client.query(USAGE_METRICS, time_range, dimensions=[TIME_DIMENSIONS[granularity]]).frame
        series = series.rename(columns={TIME_DIMENSIONS[granularity]: "bucket"}).sort_values(
            "bucket", ignore_index=True
        )
        pages = client.query(
            ("visitors", "pageviews"), time_range, ["event:page"], order_by=[["visitors", "desc"]], limit=top
        ).frame
        pages = pages.rename(columns={"event:page": "page"})
        sources = client.query(
            ("visitors", "visits"), time_range, ["visit:source"], order_by=[["visitors", "desc"]], limit=top
        ).frame
        sources = sources.rename(columns={"visit:source": "source"})
    return PlausibleUsage(
        time_range=time_range.to_dict(),
        granularity=granularity,
        kpis=current,
        previous=previous,
        changes=changes,
        timeseries=series,
        top_pages=pages,
        top_sources=sources,
        status=client.status.to_dict(),
    )


# -- the source ---------------------------------------------------------------------------


class PlausibleSource(Source):
    """A Plausible site as a source: usage from its API; no event-level tables."""

    kind = "plausible"

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

    def usage(self, time_range: TimeRange, top: int = 10, granularity: str | None = None) -> PlausibleUsage:
        """The usage KPIs for ``time_range`` from the API (v2 unless the URL says ``api=v1``)."""
        return plausible_usage(self.client, time_range, top, granularity, api=self.options.get("api", "v2"))

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


def _register() -> None:
    from . import register

    for scheme in ("plausible", "plausible+http", "plausible+https"):
        register(scheme, open_plausible)


_register()

__all__ = [
    "API_KEY_ENV",
    "USAGE_METRICS",
    "PlausibleClient",
    "PlausibleSource",
    "PlausibleUsage",
    "QueryResult",
    "RetryPolicy",
    "parse_url",
    "plausible_usage",
]
