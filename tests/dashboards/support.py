"""Helpers shared by the browser tests and bench/bench_voila.py: publish a run, start Voilà,
open Chromium. Real components only: a Voilà subprocess on a free loopback port and
Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "notebooks" / "dashboards"
ARTIFACTS = ROOT / "test-artifacts" / "dashboards"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KPI_SELECTOR = ".fwk-tile .fwk-value"
FORMULA_PAGE = '=HYPERLINK("http://evil.example","click")'
TEST_RANGES = ("7d", "30d")
TEST_SEGMENTS = ("power",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_formula_page(path: Path) -> None:
    """80 demo users view a page whose name starts a spreadsheet formula, twice each, on the
    last full day of the demo data: it ranks among the exit pages of the 7d and 30d views."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        last = con.sql("select max(timestamp) from events").fetchone()[0]
        con.execute(
            """insert into events (event_id, timestamp, user_id, event_name, session_id, page)
               select 'formula-' || u || '-' || k, ?::timestamp - interval 1 day + (u * 3 + k) * interval 1 minute,
                      'u' || u, 'pageview', null, ?
               from range(1, 81) t(u), range(0, 2) s(k)""",
            [last, FORMULA_PAGE],
        )


def publish(reports_dir: Path, source_url: str) -> None:
    """An overview run (for the report links) and the dashboards' views, as a refresh publishes them."""
    from fawkes_analytics import rollups, sources
    from fawkes_analytics.dashboard.precompute import publish_views

    source = sources.connect(source_url)
    rollups.refresh_source(source)
    publish_overview_direct(reports_dir, source_url, "7d")
    (reports_dir / "overview" / "latest" / "report.html").write_text(
        "<!DOCTYPE html><html><body><h1>Product overview report</h1></body></html>", encoding="utf-8"
    )
    publish_views(source, root=reports_dir / "dashboards", ranges=TEST_RANGES, segments=TEST_SEGMENTS)


def publish_overview(reports_dir: Path, source_url: str, time_range: str = "7d") -> Path:
    """Publish one overview run into ``reports_dir`` and return its folder.

    With notebooks/overview.ipynb present the real runner executes it; otherwise data.json
    is written the way ``Report.payload`` would (header fields + ``Overview.to_dict()``)
    into ``overview/<id>/`` with the runner's own ``latest`` link swap.
    """
    from fawkes_analytics import runs

    if (ROOT / "notebooks" / "overview.ipynb").exists():
        record = runs.run_report(
            "overview",
            {"time_range": time_range},
            reports_dir=reports_dir,
            source_url=source_url,
            outputs=("html", "json"),
        )
        assert record.succeeded, record.error
        return record.path
    return publish_overview_direct(reports_dir, source_url, time_range)


def publish_overview_direct(reports_dir: Path, source_url: str, time_range: str = "7d") -> Path:
    """Publish without the notebook: data.json as ``Report.payload`` writes it for the overview
    report (the same KPI tiles and ``results["overview"]``), swapped in like the runner does."""
    from fawkes_analytics import catalog, runs, sources, timerange
    from fawkes_analytics.export.json import write_json
    from fawkes_analytics.overview import build_overview
    from fawkes_analytics.report import Report

    source = sources.connect(source_url)
    resolved = timerange.resolve(time_range, as_of=source.default_as_of())
    overview = build_overview(source, catalog.load(), resolved)
    report = Report("overview", "Product overview", source, resolved, {"time_range": time_range, "tz": "UTC"})
    report.add("overview", overview)
    report.kpis(overview.kpis)
    payload = report.payload()
    base = Path(reports_dir) / "overview"
    base.mkdir(parents=True, exist_ok=True)
    run_id = runs._new_run_id(base)
    work = base / f".tmp-{run_id}"
    work.mkdir()
    write_json(payload, work / "data.json")
    write_json(
        {"report": "overview", "run_id": run_id, "status": "succeeded", "started_at": datetime.now(UTC).isoformat()},
        work / "run.json",
    )
    os.rename(work, base / run_id)
    runs._update_latest(base, run_id)
    return base / run_id


class Voila:
    """A Voilà server started with the production settings of ``fawkes_analytics.serve``."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        token: str = "",
        preheat: int = 0,
        max_kernels: int = 12,
        log_path: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or Path(env.get("FAWKES_ANALYTICS_REPORTS_DIR", "/tmp")) / f"voila-{self.port}.log"
        full_env = dict(os.environ, **env)
        if token:
            full_env["FAWKES_VOILA_TOKEN"] = token
        else:
            full_env.pop("FAWKES_VOILA_TOKEN", None)
        command = [
            sys.executable,
            "-m",
            "fawkes_analytics.serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--notebooks-dir",
            str(DASHBOARDS),
            "--preheat",
            str(preheat),
            "--max-kernels",
            str(max_kernels),
        ]
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"voila exited with {self.process.returncode}: {self.log()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"voila did not answer within {timeout} s: {self.log()[-3000:]}")

    def page(self, name: str = "overview") -> str:
        suffix = f"?token={self.token}" if self.token else ""
        return f"{self.url}/voila/render/{name}.ipynb{suffix}"

    def kernels(self) -> list[Any]:
        """The kernel processes this server started (psutil processes)."""
        import psutil

        children = psutil.Process(self.process.pid).children(recursive=True)
        return [p for p in children if "ipykernel" in " ".join(p.cmdline())]

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Stop this server and the kernels it started (its own process group only)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> Voila:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright (the browser object)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def leave(page: Any) -> None:
    """Close the tab the way a browser does (``beforeunload`` runs: Voilà shuts its kernel down)."""
    with contextlib.suppress(Exception):
        page.close(run_before_unload=True)
        time.sleep(0.3)


def screenshot(page: Any, path: Path) -> None:
    """The whole dashboard: Voila scrolls inside its own container, so grow the viewport first."""
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    width = page.viewport_size["width"] if page.viewport_size else 1280
    page.set_viewport_size({"width": width, "height": min(max(int(height), 600), 8000)})
    page.screenshot(path=str(path), full_page=True)


def kpi_values(page: Any) -> dict[str, str]:
    """The KPI tiles on the page: name -> the value text shown."""
    return page.eval_on_selector_all(
        ".fwk-tile[data-kpi]",
        "els => Object.fromEntries(els.map(e => [e.dataset.kpi, e.querySelector('.fwk-value').innerText.trim()]))",
    )


def server_env(source_url: str, reports: Path, poll: float = 2.0) -> dict[str, str]:
    """Environment of a test Voilà: the demo source, the reports folder (views in its
    dashboards/), a fast poll, no live slots waiting on other test servers."""
    return {
        "FAWKES_ANALYTICS_SOURCE": source_url,
        "FAWKES_ANALYTICS_REPORTS_DIR": str(reports),
        "FAWKES_ANALYTICS_VIEWS_DIR": str(reports / "dashboards"),
        "FAWKES_ANALYTICS_DASHBOARD_POLL_SECONDS": str(poll),
        "FAWKES_ANALYTICS_DASHBOARD_TZ": "UTC",
    }


def page_url(server: Voila, name: str, query: str = "") -> str:
    """A dashboard's address (with the token, when the server has one)."""
    parts = [p for p in (query, f"token={server.token}" if server.token else "") if p]
    return f"{server.url}/voila/render/{name}.ipynb" + ("?" + "&".join(parts) if parts else "")


def wait_for_view(page: Any, query_part: str, origin: str, timeout_ms: int = 120_000) -> None:
    """Wait until the widgets show a view whose state holds ``query_part`` and comes from
    ``origin`` (the server's first paint, which has no state, is gone: the controls work)."""
    page.wait_for_function(
        """([part, origin]) => { const s = document.querySelector('.fwk-state');
             return s && s.dataset.query.includes(part) && s.dataset.origin === origin
                && !document.querySelector('.fwk-stage') && document.querySelector('.fwk-header')
                && !document.querySelector('.fwk-first-paint'); }""",
        arg=[query_part, origin],
        timeout=timeout_ms,
    )


def run_async(coroutine: Any) -> Any:
    """Run ``coroutine`` to its end on an event loop of its own, in a worker thread: once
    Playwright's sync API has started, this thread has an event loop running already."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
