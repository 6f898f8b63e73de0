"""p95 latency of the JSON API against a static file of the same size, from the same server.

The API's endpoints are file reads of published JSON (cached per file version), so they should
cost about what serving a file costs. This bench publishes one overview run on demo data, starts
``fawkes-analytics serve`` (Voilà + the API, token auth on), puts a file exactly as large as the
``/api/v1/analytics/dashboard`` answer into the dashboards folder (served by Voilà's own tornado
StaticFileHandler at ``/voila/files/``), and lets 50 concurrent clients fetch each in turn:

    .venv/bin/python bench/bench_api.py [--clients 50] [--requests 2000] [--rounds 5]

Rounds alternate which URL goes first; the figures are the medians over rounds of each round's
p95 (and p50). Both sides send identity encoding (the static handler does not gzip). Target:
API p95 <= 2x static p95. The client runs on the same machine (one asyncio process), so the
ratio, not the absolute latency, is the result; the load average is printed next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "dashboards"))

import support  # noqa: E402

TOKEN = "bench-token"
TARGET = 2.0


async def fetch_all(url: str, clients: int, requests: int) -> list[float]:
    """``requests`` GETs of ``url`` by ``clients`` concurrent workers; each request's seconds."""
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"token {TOKEN}", "Accept-Encoding": "identity"}
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=60) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {response.status_code}")

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000, help="requests per URL per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=40_000)
    args = parser.parse_args()

    from fawkes_analytics import demo

    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        work = Path(scratch)
        db = work / "demo.duckdb"
        demo.generate(
            db, events=args.events, seed=3, days=60, end=datetime.fromisoformat(support_end()), progress=False
        )
        reports = work / "reports"
        support.publish_overview_direct(reports, f"duckdb://{db}", "7d")
        dashboards = work / "dashboards"
        dashboards.mkdir()
        (dashboards / "overview.ipynb").write_bytes(
            (ROOT / "tests" / "deploy" / "dashboards" / "visible.ipynb").read_bytes()
        )
        env = {
            "FAWKES_ANALYTICS_REPORTS_DIR": str(reports),
            "FAWKES_ANALYTICS_SOURCE": f"duckdb://{db}",
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        }
        server, url = start_server(work, dashboards, env)
        try:
            api_url = f"{url}/api/v1/analytics/dashboard"
            answer = httpx.get(api_url, headers={"Authorization": f"token {TOKEN}", "Accept-Encoding": "identity"})
            answer.raise_for_status()
            (dashboards / "same-size.png").write_bytes(os.urandom(len(answer.content)))
            static_url = f"{url}/voila/files/same-size.png"
            assert len(httpx.get(static_url).content) == len(answer.content)

            asyncio.run(fetch_all(api_url, args.clients, 200))  # warm both paths (caches, connections)
            asyncio.run(fetch_all(static_url, args.clients, 200))
            p95 = {"api": [], "static": []}
            p50 = {"api": [], "static": []}
            for round_ in range(args.rounds):
                order = [("api", api_url), ("static", static_url)]
                for name, url in order if round_ % 2 == 0 else reversed(order):
                    latencies = asyncio.run(fetch_all(url, args.clients, args.requests))
                    p95[name].append(p(latencies, 95))
                    p50[name].append(p(latencies, 50))
        finally:
            server.terminate()
            server.wait(timeout=30)

    load = os.getloadavg()
    api95, static95 = statistics.median(p95["api"]), statistics.median(p95["static"])
    print(
        f"body: {len(answer.content):,} bytes; {args.clients} clients; {args.requests} requests x {args.rounds} rounds"
    )
    print(f"{'':28}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'GET /api/v1/analytics/dashboard':28}{statistics.median(p50['api']) * 1e3:>10.1f}{api95 * 1e3:>10.1f}")
    print(f"{'GET static file, same size':28}{statistics.median(p50['static']) * 1e3:>10.1f}{static95 * 1e3:>10.1f}")
    ratio = api95 / static95
    print(f"p95 ratio API / static: {ratio:.2f} (target <= {TARGET:g}) {'OK' if ratio <= TARGET else 'MISSED'}")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)")
    return 0


def support_end() -> str:
    return "2026-11-15T12:00:00+00:00"


def start_server(work: Path, dashboards: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``fawkes-analytics serve`` on a free loopback port with a token; waits for /healthz."""
    port = support.free_port()
    log = (work / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "fawkes_analytics.serve", "--port", str(port), "--notebooks-dir", str(dashboards)],
        env={**os.environ, **env, "FAWKES_ANALYTICS_VOILA_TOKEN": TOKEN},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((work / "server.log").read_text())
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


if __name__ == "__main__":
    sys.exit(main())
