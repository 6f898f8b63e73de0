"""Fixtures for the dashboard tests: a published overview run and Voilà servers on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import support  # noqa: E402


@pytest.fixture(scope="session")
def demo_url(demo_db: object) -> str:
    return f"duckdb://{demo_db.path}"  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def published(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder holding one published overview run (7d) of the demo data."""
    reports = tmp_path_factory.mktemp("reports")
    support.publish_overview(reports, demo_url, "7d")
    return reports


@pytest.fixture(scope="session")
def voila(demo_url: str, published: Path) -> Iterator[support.Voila]:
    """Voilà with the production settings, no token (loopback), serving the published run."""
    with support.Voila(support.server_env(demo_url, published)) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(support.CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with support.chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return support.ARTIFACTS
