"""Fixtures for the dashboard tests: published views of the demo data, Voilà servers on loopback.

One data set and one publication for the whole session (the small demo data plus a page
whose name starts a spreadsheet formula), one server per test module.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import support  # noqa: E402


@pytest.fixture(scope="session")
def demo_url(demo_db: object, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the session's demo data with a hostile page name (a formula) among the top pages."""
    folder = tmp_path_factory.mktemp("dashdata")
    path = folder / "demo.duckdb"
    shutil.copy(demo_db.path, path)  # type: ignore[attr-defined]
    support.add_formula_page(path)
    return f"duckdb://{path}"


@pytest.fixture(scope="session")
def published(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder with one overview run and the dashboards' views (7d and 30d; everyone and 'power')."""
    reports = tmp_path_factory.mktemp("reports")
    support.publish(reports, demo_url)
    return reports


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(support.CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with support.chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)  # type: ignore[attr-defined]
    tab = context.new_page()
    yield tab
    support.leave(tab)  # like closing the tab: Voilà shuts the page's kernel down
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return support.ARTIFACTS
