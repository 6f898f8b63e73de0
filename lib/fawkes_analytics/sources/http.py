"""The resilient HTTP layer every HTTP source uses: timeouts, retries, a cache, validation.

- Timeouts: connect and read are separate (``httpx.Timeout``), defaults 5 s and 30 s.
- Retries: connection errors and timeouts, 5xx and 429, up to ``RetryPolicy.attempts``
  tries, waiting ``min(backoff_max, backoff_base * 2**n)`` seconds with "equal jitter" (half
  fixed, half random) between tries; a 429/503 ``Retry-After`` header (seconds or an HTTP
  date) is honoured instead when present. Other 4xx answers are not retried: the request
  itself is wrong (bad key, bad query) and the error says so.
- Cache: validated JSON answers are kept on disk (``FAWKES_ANALYTICS_CACHE_DIR``, default
  ``data/cache/http``) keyed by method, URL and body, never by credentials. An answer
  younger than the TTL (default 5 minutes) is served without a request; ``refresh=True`` or
  ``HttpClient.refresh()`` skips that. Older answers stay on disk as "last good data".
- Fallback: when the source stays unavailable after the retries, the last good answer is
  returned and the client's ``status`` says "source unavailable, data as of ... from run
  ..."; with no such answer ``SourceUnavailable`` is raised (see ``fallback.py``). The last
  good answer is the exact request's, or else the newest answer with the same *meaning*: a
  caller passes ``meaning`` (the query without its timestamps, with the range label and the
  report) and the range it covers; the cache keeps an index from meaning to newest answer,
  with the run (``FAWKES_ANALYTICS_RUN_DIR``) that fetched it.
- Validation: bodies are parsed and checked before they are cached; a truncated body or a
  field of the wrong type raises ``SourceResponseError(endpoint, field, problem)``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from .. import atomic, settings
from ..errors import ParameterError, SourceResponseError, SourceUnavailable
from .base import redact_url
from .fallback import SourceStatus, StatusTracker, with_last_good

DEFAULT_TTL = 300.0
CACHE_ENV_VAR = "FAWKES_ANALYTICS_CACHE_DIR"
RUN_DIR_ENV = "FAWKES_ANALYTICS_RUN_DIR"  # set by the run layer in report kernels
MEANING_DIR = "by-meaning"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
NUMBER = "number"  # a kind for ``require``: int or float, never bool


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a failing request."""

    attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # a longer Retry-After gives up (and falls back) at once

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ParameterError("retries", f"{self.attempts} attempts means no request at all", ">= 1")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Wait before retry number ``attempt + 1``: exponential, equal jitter."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def current_run() -> dict[str, Any]:
    """The run this process computes (from the run layer's ``FAWKES_ANALYTICS_RUN_DIR``), or {}."""
    folder = settings.get("RUN_DIR")
    if not folder:
        return {}
    path = Path(folder)
    return {"run_id": path.name.removeprefix(".tmp-"), "report": path.parent.name}


def meaning_of(method: str, path: str, query: Any, range_label: str, report: str | None = None) -> str:
    """A request's meaning: what it asks (without timestamps) for which range label and report."""
    return json.dumps([method.upper(), path, query, range_label, report], sort_keys=True, default=str)


@dataclass(frozen=True)
class CacheEntry:
    """One validated answer on disk, and which run fetched it for which range (when known)."""

    data: Any
    fetched_at: datetime
    expired: bool = False
    origin: dict[str, Any] | None = None

    def is_fresh(self, ttl: float, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return not self.expired and (now - self.fetched_at).total_seconds() < ttl


class ResponseCache:
    """Validated JSON answers on disk, one file per request, written atomically."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = settings.resolve_path(directory) if directory else settings.cache_dir()

    @staticmethod
    def key(method: str, url: str, params: Mapping[str, Any] | None, body: Any) -> str:
        """A digest of what identifies an answer (credentials are never part of it)."""
        material = json.dumps([method.upper(), url, sorted((params or {}).items()), body], sort_keys=True, default=str)
        return hashlib.sha256(material.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        path = self._path(key)
        try:
            record = json.loads(path.read_text())
            return CacheEntry(
                record["data"],
                datetime.fromisoformat(record["fetched_at"]),
                bool(record.get("expired")),
                record.get("origin"),
            )
        except (OSError, ValueError, KeyError):
            return None  # absent or unreadable entries are simply not cached

    def _meaning_path(self, meaning: str) -> Path:
        return self.directory / MEANING_DIR / f"{hashlib.sha256(meaning.encode()).hexdigest()}.json"

    def put(
        self,
        key: str,
        endpoint: str,
        data: Any,
        fetched_at: datetime | None = None,
        *,
        meaning: str | None = None,
        origin: dict[str, Any] | None = None,
    ) -> None:
        """Store an answer; with ``meaning``, it becomes the newest answer of that meaning."""
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"endpoint": endpoint, "fetched_at": (fetched_at or datetime.now(UTC)).isoformat(), "data": data}
        if origin:
            record["origin"] = origin
        atomic.write_text(self._path(key), json.dumps(record))
        if meaning is not None:
            atomic.write_text(self._meaning_path(meaning), json.dumps({"key": key, "fetched_at": record["fetched_at"]}))

    def newest(self, meaning: str) -> CacheEntry | None:
        """The newest stored answer with this meaning, whatever its exact request."""
        try:
            index = json.loads(self._meaning_path(meaning).read_text())
        except (OSError, ValueError):
            return None
        return self.get(index.get("key", ""))

    def expire(self, endpoint_prefix: str = "") -> int:
        """Mark entries (of endpoints starting with the prefix) stale; keep them as fallback."""
        count = 0
        for path in sorted(self.directory.glob("*.json")) if self.directory.exists() else []:
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if str(record.get("endpoint", "")).split(" ", 1)[-1].startswith(endpoint_prefix) and not record.get(
                "expired"
            ):
                record["expired"] = True
                atomic.write_text(path, json.dumps(record))
                count += 1
        return count


@dataclass(frozen=True)
class Fetched:
    """A validated answer and where it came from."""

    data: Any
    fetched_at: datetime
    from_cache: bool = False
    fallback: bool = False


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])[:300]
    except ValueError:
        pass
    return response.text[:300]


class HttpClient:
    """JSON over HTTP with timeouts, retries, a TTL cache and last-good-data fallback."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        cache: ResponseCache | None = None,
        ttl: float = DEFAULT_TTL,
        use_cache: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or redact_url(self.base_url)
        self.retry = retry
        self.cache = (cache or ResponseCache()) if use_cache else None
        self.ttl = ttl
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.tracker = StatusTracker(self.name)
        self._refresh = False
        self._client = httpx.Client(
            headers=dict(headers or {}),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def status(self) -> SourceStatus:
        """Live, or "source unavailable, data as of ..." if any answer was a fallback."""
        return self.tracker.status

    def refresh(self) -> int:
        """Manual refresh: skip fresh cache entries from now on and expire this client's entries."""
        self._refresh = True
        return self.cache.expire(self.base_url) if self.cache else 0

    def endpoint(self, method: str, path: str) -> str:
        return f"{method.upper()} {redact_url(self.base_url + path)}"

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, **options: Any) -> Fetched:
        return self.request_json("GET", path, params=params, **options)

    def post_json(self, path: str, body: Any, **options: Any) -> Fetched:
        return self.request_json("POST", path, body=body, **options)

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        validate: Callable[[Any, str], None] | None = None,
        refresh: bool = False,
        meaning: str | None = None,
        covers: tuple[datetime, datetime] | None = None,
    ) -> Fetched:
        """One JSON request: fresh cache, else the network (validated), else last good data.

        ``meaning`` (see :func:`meaning_of`) lets an outage fall back to the newest answer of
        the same meaning when this exact request was never answered; ``covers`` is the time
        range the answer covers, named in the banner when it is shown as a fallback.
        """
        endpoint = self.endpoint(method, path)
        key = ResponseCache.key(method, self.base_url + path, params, body)
        entry = self.cache.get(key) if self.cache else None
        if entry and not (refresh or self._refresh) and entry.is_fresh(self.ttl):
            return Fetched(entry.data, entry.fetched_at, from_cache=True)

        def fetch() -> Any:
            data = self._parse(self._send(method, path, params, body, endpoint), endpoint)
            if validate:
                validate(data, endpoint)
            return data

        def last_good() -> tuple[Any, datetime, dict[str, Any]] | None:
            previous = entry or (self.cache.newest(meaning) if self.cache and meaning else None)
            if previous is None:
                return None
            return previous.data, previous.fetched_at, previous.origin or {}

        data, as_of, is_fallback = with_last_good(fetch, last_good, self.tracker, endpoint)
        if not is_fallback and self.cache:
            origin = current_run()
            if covers is not None:
                origin["range"] = [covers[0].isoformat(), covers[1].isoformat()]
            self.cache.put(key, endpoint, data, as_of, meaning=meaning, origin=origin or None)
        return Fetched(data, as_of, from_cache=is_fallback, fallback=is_fallback)

    def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Any, endpoint: str
    ) -> httpx.Response:
        problem = "no attempt made"
        for attempt in range(self.retry.attempts):
            wait: float | None
            try:
                response = self._client.request(method, self.base_url + path, params=params, json=body)
            except httpx.TransportError as exc:  # connect/read timeouts, refused, reset, protocol
                problem = f"{type(exc).__name__}: {exc or 'no detail'}"
                wait = self.retry.backoff(attempt, self.rng)
            else:
                code = response.status_code
                if code < 400:
                    return response
                if code != 429 and code < 500:
                    raise SourceResponseError(endpoint, "status", f"HTTP {code}: {_error_text(response)}")
                problem = f"HTTP {code}: {_error_text(response)}"
                wait = _retry_after(response)
                if wait is not None and wait > self.retry.retry_after_max:
                    problem += f" (Retry-After {wait:.0f}s is longer than {self.retry.retry_after_max:.0f}s)"
                    break
                wait = self.retry.backoff(attempt, self.rng) if wait is None else wait
            if attempt + 1 < self.retry.attempts:
                self.sleep(wait)
        raise SourceUnavailable(f"{endpoint}: {problem} (after {attempt + 1} attempt(s))")

    @staticmethod
    def _parse(response: httpx.Response, endpoint: str) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            position = getattr(exc, "pos", None)
            where = f" at character {position} of {len(response.content)}" if position is not None else ""
            raise SourceResponseError(endpoint, "body", f"truncated or invalid JSON{where}: {exc}") from exc


# -- validation helpers ----------------------------------------------------------------------

_KIND_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def _matches(value: Any, kind: Any) -> bool:
    if kind == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _kind_name(kind: Any) -> str:
    return "number" if kind == NUMBER else _KIND_NAMES.get(kind, getattr(kind, "__name__", str(kind)))


def check(value: Any, kind: Any, endpoint: str, field: str, *, nullable: bool = False) -> Any:
    """``value`` if it is of ``kind`` (a type or ``NUMBER``), else ``SourceResponseError``."""
    if value is None and nullable:
        return None
    if not _matches(value, kind):
        shown = json.dumps(value, default=str)[:80]
        raise SourceResponseError(endpoint, field, f"expected {_kind_name(kind)}, got {type(value).__name__} {shown}")
    return value


def require(obj: Any, key: str, kind: Any, endpoint: str, where: str = "", *, nullable: bool = False) -> Any:
    """``obj[key]`` checked against ``kind``; ``where`` is the path of ``obj`` for messages."""
    field = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise SourceResponseError(endpoint, where or "body", f"expected object, got {type(obj).__name__}")
    if key not in obj:
        raise SourceResponseError(endpoint, field, f"missing (has: {sorted(obj)[:10]})")
    return check(obj[key], kind, endpoint, field, nullable=nullable)


# -- CLI -------------------------------------------------------------------------------------


__all__ = [
    "DEFAULT_TTL",
    "NUMBER",
    "CacheEntry",
    "Fetched",
    "HttpClient",
    "ResponseCache",
    "RetryPolicy",
    "check",
    "require",
]
