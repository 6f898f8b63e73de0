"""Plausible Analytics as a source of web usage: the Stats API v2 query and the v1 endpoints.

Source URL: ``plausible://host[:port][/prefix]/<site_id>`` (HTTPS) or
``plausible+http://...`` (plain HTTP, e.g. a self-hosted instance on a private network).
Options as query parameters: ``ttl`` (cache seconds, default 300), ``timeout`` (read
timeout seconds, default 30), ``retries`` (attempts, default 4), ``backoff`` (base seconds,
default 0.5), ``api`` (``v2`` default, or ``v1``). The API key is read from the
environment variable ``PLAUSIBLE_API_KEY`` (or the file named by ``PLAUSIBLE_API_KEY_FILE``)
at run time and sent as a Bearer token; it never appears in the URL, the cache or a report.

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pandas as pd

from ..errors import ConfigError, ParameterError, SourceResponseError, SourceUnavailable
from ..timerange import TimeRange
from .base import Source, read_secret, redact_url
from .fallback import SourceStatus
from .http import NUMBER, HttpClient, RetryPolicy, check, current_run, meaning_of, require

if TYPE_CHECKING:
    from ..metrics.usage import UsageTrends

API_KEY_ENV = "PLAUSIBLE_API_KEY"
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


def _day_range(time_range: TimeRange) -> str:
    zone = ZoneInfo(time_range.tz)
    last = time_range.end - timedelta(microseconds=1)
    return f"{time_range.start.astimezone(zone).date().isoformat()},{last.astimezone(zone).date().isoformat()}"


class PlausibleClient:
    """The Plausible Stats API for one site, over the resilient ``HttpClient``."""

    def __init__(self, base_url: str, site_id: str, api_key: str | None = None, **http_options: Any) -> None:
        api_key = api_key if api_key is not None else read_secret(API_KEY_ENV)
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


# -- usage --------------------------------------------------------------------------------

SESSION_METRICS = ("visitors", "visits", "bounce_rate", "visit_duration")
BREAKDOWNS = {  # UsageTrends field -> (Plausible property, column name)
    "entry_pages": ("visit:entry_page", "page"),
    "sources": ("visit:source", "source"),
    "utm_campaigns": ("visit:utm_campaign", "utm_campaign"),
}
NOT_SET = ("", "(not set)", "(none)")


def _totals(client: PlausibleClient, time_range: TimeRange, api: str) -> dict[str, float]:
    if api == "v1":
        values = client.aggregate(USAGE_METRICS, period="custom", date=_day_range(time_range), time_range=time_range)
    else:
        frame = client.query(USAGE_METRICS, time_range).frame
        values = {
            m: (None if frame.empty or pd.isna(frame[m].iloc[0]) else float(frame[m].iloc[0])) for m in USAGE_METRICS
        }
    return {m: 0.0 if v is None else v for m, v in values.items()}


def _series(client: PlausibleClient, time_range: TimeRange, granularity: str, api: str) -> pd.DataFrame:
    """Plausible's time series placed on the report's calendar (every bucket, empty ones 0)."""
    from ..metrics import buckets
    from ..metrics.usage import TIMESERIES_COLUMNS  # metrics imports sources: import late

    if api == "v1":
        interval = "hour" if granularity == "hour" else "date"
        raw = client.timeseries(
            USAGE_METRICS, "custom", _day_range(time_range), interval=interval, time_range=time_range
        ).rename(columns={"date": "label"})
    else:
        dimension = TIME_DIMENSIONS[granularity]
        raw = client.query(USAGE_METRICS, time_range, dimensions=[dimension]).frame.rename(columns={dimension: "label"})
    cal = buckets.calendar(time_range.start, time_range.end, time_range.tz, granularity).buckets[["bucket", "start"]]
    cal = cal.assign(local=cal["start"].dt.tz_localize(None)).sort_values("local")
    raw = raw.assign(local=pd.to_datetime(raw["label"]).astype(cal["local"].dtype)).sort_values("local")
    # Each Plausible bucket (labelled by its local start) goes to the calendar bucket it falls in;
    # v1 daily rows are summed into weeks when the report is weekly (visitors then over-count).
    placed = pd.merge_asof(raw, cal[["local", "bucket"]], on="local", direction="backward").dropna(subset=["bucket"])
    sums = placed.groupby("bucket")[["visitors", "visits", "pageviews"]].sum()
    weights = (
        placed.assign(
            bounces=placed["bounce_rate"] * placed["visits"] / 100.0,
            duration=placed["visit_duration"] * placed["visits"],
        )
        .groupby("bucket")[["bounces", "duration"]]
        .sum()
    )
    frame = (
        cal[["bucket", "start"]]
        .merge(sums.join(weights), left_on="bucket", right_index=True, how="left")
        .fillna({"visitors": 0, "visits": 0, "pageviews": 0, "bounces": 0.0, "duration": 0.0})
    )
    visits = frame["visits"].where(frame["visits"] > 0)
    frame = frame.assign(
        active_users=frame["visitors"].astype("int64"),
        visitors=frame["visitors"].astype("int64"),
        visits=frame["visits"].astype("int64"),
        pageviews=frame["pageviews"].astype("int64"),
        views_per_visit=(frame["pageviews"] / visits).fillna(0.0),
        bounce_rate=(100.0 * frame["bounces"] / visits).fillna(0.0),
        visit_duration=(frame["duration"] / visits).fillna(0.0),
    )
    return frame[list(TIMESERIES_COLUMNS)].sort_values("bucket", ignore_index=True)


def _breakdown(
    client: PlausibleClient, time_range: TimeRange, prop: str, name: str, metrics: Sequence[str], top: int, api: str
) -> pd.DataFrame:
    if api == "v1":
        frame = client.breakdown(
            prop, metrics, "custom", _day_range(time_range), limit=top, time_range=time_range
        ).rename(columns={prop.split(":", 1)[1]: name})
    else:
        frame = client.query(metrics, time_range, [prop], order_by=[["visitors", "desc"]], limit=top).frame.rename(
            columns={prop: name}
        )
    if name == "utm_campaign":
        frame = frame[~frame[name].isin(NOT_SET) & frame[name].notna()]
    for column in ("visitors", "visits", "pageviews"):
        if column in frame:
            frame[column] = frame[column].astype("int64")
    return frame[[name, *metrics]].reset_index(drop=True)


def _fallback_window(client: PlausibleClient, time_range: TimeRange) -> TimeRange | None:
    """The window of the last good data when it differs from ``time_range``, else None."""
    status = client.status
    if status.available or not status.data_range:
        return None
    start, end = (datetime.fromisoformat(v) for v in status.data_range)
    if (start, end) == (time_range.start, time_range.end):
        return None
    return TimeRange(start, end, time_range.tz, time_range.label)


def plausible_usage(
    client: PlausibleClient, time_range: TimeRange, granularity: str | None = None, *, top: int = 10, api: str = "v2"
) -> UsageTrends:
    """Plausible's usage numbers as the events engine's ``UsageTrends``, values unchanged.

    Plausible knows visitors, not all-time users, so ``total_users`` and ``active_users``
    show the period's visitors (a note says so). Changes follow the same rules as the
    engine (percent; bounce rate in points). When an answer came from last good data the
    banner "source unavailable, data as of ..." is the first note.

    When Plausible is down and the first answer is the last good data of *another* window
    with the same meaning (yesterday's 24h), the whole report switches to that window, so
    every number and bucket comes from the one earlier run that fetched it (the banner
    names the run and the window) instead of mixing windows.
    """
    from ..metrics import buckets
    from ..metrics.kpis import Kpi
    from ..metrics.usage import POINT_KPIS, UsageTrends

    if api not in ("v1", "v2"):
        raise ParameterError("api", f"unknown Plausible API {api!r}", ["v1", "v2"])
    granularity = buckets.check_granularity(granularity or time_range.default_granularity())
    current = _totals(client, time_range, api)
    shown = _fallback_window(client, time_range)
    if shown is not None:
        time_range = shown
        current = _totals(client, time_range, api)
    previous = _totals(client, time_range.previous(), api)
    for values in (current, previous):
        values["total_users"] = values["active_users"] = values["visitors"]
        for name in ("total_users", "active_users", "visitors", "visits", "pageviews"):
            values[name] = int(values[name])
    change = {n: Kpi.compare(n, "", current[n], previous[n], n in POINT_KPIS).change for n in current}
    breakdowns = {
        field_name: _breakdown(client, time_range, prop, column, SESSION_METRICS, top, api)
        for field_name, (prop, column) in BREAKDOWNS.items()
    }
    usage = UsageTrends(
        time_range=time_range,
        granularity=granularity,
        **{n: current[n] for n in ("total_users", "active_users", *USAGE_METRICS)},
        previous=previous,
        change=change,
        timeseries=_series(client, time_range, granularity, api),
        top_pages=_breakdown(
            client, time_range, "event:page", "page", ("visitors", "pageviews", "time_on_page"), top, api
        ),
        exit_pages=_breakdown(
            client, time_range, "visit:exit_page", "page", ("visitors", "visits", "exit_rate"), top, api
        ),
        **breakdowns,
        notes=[f"Usage from Plausible ({client.http.name}); total and active users show Plausible's visitors."],
    )
    if client.status.banner:
        usage.notes.insert(0, client.status.banner)
    return usage


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

    def usage_trends(
        self,
        time_range: TimeRange,
        granularity: str | None = None,
        *,
        segment: str | None = None,
        catalog: Any = None,
        top: int = 10,
    ) -> UsageTrends:
        """``metrics.usage.usage_trends`` for this source: the numbers come from the API.

        Same signature; ``segment`` is refused (engagement segments need events).
        """
        if segment is not None:
            raise ParameterError("segment", "Plausible gives aggregates only; segments need an events source", [None])
        return plausible_usage(self.client, time_range, granularity, top=top, api=self.options.get("api", "v2"))

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
    "QueryResult",
    "RetryPolicy",
    "parse_url",
    "plausible_usage",
]
