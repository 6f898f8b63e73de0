"""Fixtures of the API tests: a reports folder published by the real runner, and real servers.

``published`` runs every report notebook once on the small demo data set (the runner, the
notebooks, data.json, CSVs, HTML, PDF, charts, the metrics textfile: all real); usage_trends runs
twice, 24h then 7d, so ``latest`` and "newest with time_range=24h" are different runs.
``api_server`` is ``fawkes-analytics serve`` on a free loopback port over that folder, with
every kind of token configured (the admin token from a file, as a mounted Secret would be).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fawkes_analytics import runs

ROOT = Path(__file__).resolve().parents[2]
TINY_DASHBOARDS = ROOT / "tests" / "deploy" / "dashboards"  # Voilà needs a folder; the API does not
CHROMIUM = Path("/usr/bin/chromium")

VIEWER_TOKEN = "viewer-7d1e"  # FAWKES_VOILA_TOKEN: the dashboards' token, a read token for the API
READ_TOKEN = "reader-93b0"
ADMIN_TOKEN = "admin-c5f2"
METRICS_TOKEN = "scraper-40aa"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running ``fawkes-analytics serve`` and how to reach it."""

    process: subprocess.Popen
    url: str
    reports: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_server(work: Path, reports: Path, env: dict[str, str], startup_timeout: float = 90.0) -> Server:
    """Start the server on a free loopback port with ``env`` and wait for /healthz."""
    port = free_port()
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FAWKES_ANALYTICS_API", "FAWKES_ANALYTICS_METRICS", "FAWKES_VOILA_TOKEN"))
    }
    full_env.update(
        PYTHONUNBUFFERED="1",
        FAWKES_ANALYTICS_REPORTS_DIR=str(reports),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        IPYTHONDIR=str(work / "ipython"),
        MPLCONFIGDIR=str(work / "mpl"),
    )
    full_env.pop("FAWKES_METRICS_TEXTFILE", None)
    full_env.update(env)
    log_path = work / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fawkes_analytics.serve",
                "--port",
                str(port),
                "--notebooks-dir",
                str(TINY_DASHBOARDS),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=work,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", reports, log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"server did not answer /healthz within {startup_timeout} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    """SIGTERM this server (and, if it hangs, SIGKILL its own process group)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)


def _publish(reports: Path, source_url: str) -> None:
    textfile = reports / "metrics" / "analytics.prom"
    overview_outputs = ("html", "csv", "json", "pdf") if CHROMIUM.exists() else ("html", "csv", "json")
    chains = [
        # Each chain runs in order; the two chains run side by side (the machine has 2 cores).
        [
            ("usage_trends", {"time_range": "24h"}, ("csv", "json")),
            ("usage_trends", {"time_range": "7d"}, ("html", "csv", "json")),
            ("overview", {"time_range": "7d"}, overview_outputs),
            ("funnels", {}, ("csv", "json")),
        ],
        [
            ("experiment_results", {}, ("csv", "json")),
            ("feature_adoption", {}, ("csv", "json")),
            ("user_segments", {}, ("csv", "json")),
            ("metrics_export", {"textfile_path": str(textfile), "push": False}, ("json",)),
        ],
    ]

    def run_chain(chain: list) -> list[str]:
        failures = []
        for report, parameters, outputs in chain:
            record = runs.run_report(
                report, parameters, reports_dir=reports, source_url=source_url, outputs=outputs, timeout=600
            )
            if not record.succeeded:
                failures.append(f"{report}: {record.error}")
        return failures

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for chain_failures in pool.map(run_chain, chains) for f in chain_failures]
    assert failures == [], failures


@pytest.fixture(scope="session")
def published(demo_db: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder with one published run of every report (usage_trends: 24h, then 7d)."""
    reports = tmp_path_factory.mktemp("api-reports")
    _publish(reports, f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
    return reports


@pytest.fixture(scope="session")
def api_server(published: Path, demo_db: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server over ``published``, with a viewer, a read, an admin (from a file) and a metrics token."""
    work = tmp_path_factory.mktemp("api-server")
    admin_file = work / "admin-token"
    admin_file.write_text(f"# mounted from the Secret\n{ADMIN_TOKEN}\n", encoding="utf-8")
    env = {
        "FAWKES_ANALYTICS_SOURCE": f"duckdb://{demo_db.path}",  # type: ignore[attr-defined]
        "FAWKES_VOILA_TOKEN": VIEWER_TOKEN,
        "FAWKES_ANALYTICS_API_TOKENS": READ_TOKEN,
        "FAWKES_ANALYTICS_API_ADMIN_TOKEN_FILE": str(admin_file),
        "FAWKES_ANALYTICS_METRICS_TOKEN": METRICS_TOKEN,
    }
    server = start_server(work, published, env)
    yield server
    stop_server(server)
