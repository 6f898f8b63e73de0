"""Fixtures of the metrics-export tests: the demo overview (computed once) and promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fawkes_analytics import catalog, sources, timerange
from fawkes_analytics.overview import Overview, build_overview

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="session")
def demo_source(demo_db: object) -> sources.Source:
    return sources.connect(f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def demo_range(demo_source: sources.Source) -> timerange.TimeRange:
    """The 24-hour window of the metrics-export schedule, anchored at the end of the demo data."""
    return timerange.resolve("24h", as_of=demo_source.default_as_of())


@pytest.fixture(scope="session")
def demo_overview(demo_source: sources.Source, demo_range: timerange.TimeRange) -> Overview:
    """The library's overview of the demo data (the numbers every export test compares with)."""
    return build_overview(demo_source, catalog.load(), demo_range)


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool missing: install Debian's prometheus (scripts/install-system-deps.sh)")
    return path


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], input=stdin, capture_output=True, text=True, timeout=60)
