"""Real HTTP servers on loopback that speak the documented APIs, with injectable faults.

``ApiServer`` is a ``ThreadingHTTPServer`` in a thread. Routes map (method, path) to a
handler returning a ``Reply``; ``faults[path]`` holds replies served first, one per request
(500s, 429s with Retry-After, slow or truncated bodies). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fawkes_analytics.sources.http import ResponseCache, RetryPolicy

# Fast retries for tests: 3 attempts, 10 ms backoff base.
FAST_RETRY = RetryPolicy(attempts=3, backoff_base=0.01, backoff_max=0.05, retry_after_max=5.0)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able object, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (slow server)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class ApiServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable[[Request], Reply]] = {}
        self.faults: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self.down = False  # every request gets a 503 while True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Request(
                    method,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                server.requests.append(request)
                reply = server.reply_for(request)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (read timeout)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def reply_for(self, request: Request) -> Reply:
        if self.down:
            return Reply(503, {"error": "maintenance"})
        queued = self.faults.get(request.path)
        if queued:
            return queued.pop(0)
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            for (method, pattern), candidate in self.routes.items():
                if method == request.method and pattern.endswith("*") and request.path.startswith(pattern[:-1]):
                    handler = candidate
                    break
        if handler is None:
            return Reply(404, {"error": f"no route {request.method} {request.path}"})
        return handler(request)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    server = ApiServer()
    yield server
    server.close()


@pytest.fixture
def cache(tmp_path) -> ResponseCache:
    """A response cache of its own per test (never the project's data/cache)."""
    return ResponseCache(tmp_path / "http-cache")


@pytest.fixture
def sleeps() -> list[float]:
    """Collects the waits a client asked for, instead of sleeping."""
    return []
