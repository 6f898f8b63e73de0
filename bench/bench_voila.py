"""Time to the first rendered KPI tile in Chromium, served by Voilà with the production settings.

Scenarios (each repeated, medians printed):
- cold:      a fresh server, first viewer (kernel start + imports + first paint);
- warm:      the same server, a later viewer (Voilà still starts a kernel per page view);
- preheated: a server with a pool of preheated kernels for overview.ipynb;
- 20 viewers: 20 pages (separate browser contexts) opening the overview at once on a
  preheated server; all must render their KPI tiles without error.

First paint reads the latest published overview run's data.json; the run is published once
(directly from the library) into a temporary reports folder on demo data.

    .venv/bin/python bench/bench_voila.py [--runs 3] [--viewers 20] [--events 40000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dashboards"))

import support  # noqa: E402

TIMEOUT_MS = 180_000


def time_to_kpi(browser: object, url: str) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(support.KPI_SELECTOR, timeout=TIMEOUT_MS)
        elapsed = time.perf_counter() - started
        text = page.inner_text("body")
        if "could not be computed" in text or "Traceback" in text:
            raise RuntimeError(f"error shown on {url}")
        return elapsed
    finally:
        context.close()


def wait_for_pool(server: support.Voila, size: int, timeout: float = 120.0) -> None:
    """Wait until the preheated kernels have run the notebook (their count stops rising)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kernels = [
            p
            for p in psutil.Process(server.process.pid).children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())
        ]
        if len(kernels) >= size:
            break
        time.sleep(0.5)
    time.sleep(8.0)  # let the pooled kernels finish executing the notebook


def one_viewer_round(browser: object, env: dict[str, str], preheat: int, warm_views: int) -> tuple[float, list[float]]:
    with support.Voila(env, preheat=preheat) as server:
        if preheat:
            wait_for_pool(server, preheat)
        first = time_to_kpi(browser, server.page("overview"))
        later = [time_to_kpi(browser, server.page("overview")) for _ in range(warm_views)]
        return first, later


def many_viewers(env: dict[str, str], viewers: int, preheat: int) -> tuple[list[float], int]:
    """``viewers`` pages (one browser, a context each) opening the overview at the same moment."""
    import asyncio

    from playwright.async_api import async_playwright

    async def run(url: str) -> list[float | None]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=support.CHROMIUM, args=support.CHROMIUM_ARGS)

            async def viewer() -> float | None:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                try:
                    page = await context.new_page()
                    started = time.perf_counter()
                    await page.goto(url, timeout=TIMEOUT_MS)
                    await page.wait_for_selector(support.KPI_SELECTOR, timeout=TIMEOUT_MS)
                    elapsed = time.perf_counter() - started
                    text = await page.inner_text("body")
                    if "could not be computed" in text or "Traceback" in text:
                        raise RuntimeError("error shown")
                    return elapsed
                except Exception as exc:  # noqa: BLE001 - counted as a failure
                    print(f"  viewer failed: {exc}", flush=True)
                    return None
                finally:
                    await context.close()

            try:
                return await asyncio.gather(*(viewer() for _ in range(viewers)))
            finally:
                await browser.close()

    with support.Voila(env, preheat=preheat) as server:
        if preheat:
            wait_for_pool(server, preheat)
        results = asyncio.run(run(server.page("overview")))
    ok = [r for r in results if r is not None]
    return ok, len(results) - len(ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions per scenario (default 3)")
    parser.add_argument("--viewers", type=int, default=20, help="concurrent viewers (default 20)")
    parser.add_argument("--events", type=int, default=40_000, help="demo events (default 40000)")
    parser.add_argument("--preheat", type=int, default=3, help="preheated kernels (default 3)")
    args = parser.parse_args()

    from fawkes_analytics import demo

    work = Path(tempfile.mkdtemp(prefix="bench-voila-"))
    db = demo.generate(
        work / "demo.duckdb",
        events=args.events,
        seed=3,
        days=60,
        end=datetime.fromisoformat("2026-11-15T12:00:00+00:00"),
        progress=False,
    )
    reports = work / "reports"
    support.publish_overview_direct(reports, f"duckdb://{db.path}", "7d")
    env = {
        "FAWKES_ANALYTICS_SOURCE": f"duckdb://{db.path}",
        "FAWKES_ANALYTICS_REPORTS_DIR": str(reports),
        "FAWKES_ANALYTICS_DASHBOARD_POLL_SECONDS": "30",
    }

    cold, warm, preheated_first, preheated_later = [], [], [], []
    with support.chromium() as browser:
        for i in range(args.runs):
            first, later = one_viewer_round(browser, env, 0, 2)
            cold.append(first)
            warm.extend(later)
            first, later = one_viewer_round(browser, env, args.preheat, 1)
            preheated_first.append(first)
            preheated_later.extend(later)
            print(
                f"run {i + 1}: cold {cold[-1]:.2f}s, warm {', '.join(f'{w:.2f}' for w in warm[-2:])}s, "
                f"preheated {preheated_first[-1]:.2f}s then {preheated_later[-1]:.2f}s",
                flush=True,
            )
    concurrent, failures = many_viewers(env, args.viewers, max(args.preheat, 1))

    def line(name: str, values: list[float]) -> str:
        return f"{name:<38} median {statistics.median(values):6.2f} s   (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"

    print("\nTime to first rendered KPI tile (Chromium, Voila, published run on first paint)")
    print(line("cold server, first viewer", cold))
    print(line("warm server, next viewers", warm))
    print(line(f"preheated ({args.preheat} kernels), first viewer", preheated_first))
    print(line("preheated, next viewer (pool refilling)", preheated_later))
    if concurrent:
        print(line(f"{args.viewers} viewers at once (preheated {max(args.preheat, 1)})", concurrent))
    print(f"{args.viewers} viewers at once: {len(concurrent)} served, {failures} failed")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
