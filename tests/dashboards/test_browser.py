"""The dashboards in Debian's Chromium against a Voilà started by the test.

Expected numbers are never typed in: they come from the published run's data.json (first
paint) or from the library itself for the range the viewer picked (live recompute),
formatted with ``formats.kpi_view`` exactly like the tiles.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import support

from fawkes_analytics import areas, sources, timerange
from fawkes_analytics.formats import kpi_view
from fawkes_analytics.kpi import Kpi
from fawkes_analytics.metrics import usage_trends

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ERROR_TEXT = re.compile(r"Traceback|Error:|Exception|could not be computed|took too long", re.IGNORECASE)
SOURCE_TEXT = ("import fawkes_analytics", "build_overview(", 'show("overview")', "from fawkes_analytics")
TIMEOUT_MS = 120_000


def published_data(reports: Path) -> dict:
    return json.loads((reports / "overview" / "latest" / "data.json").read_text(encoding="utf-8"))


def expected_tiles(kpis: dict) -> dict[str, str]:
    return {name: kpi_view(Kpi.from_dict(k, name)).value for name, k in kpis.items()}


def wait_idle(page: object, label: str) -> None:
    """Wait until the header shows ``label`` and no 'Computing…' note is left."""
    page.wait_for_function(  # type: ignore[attr-defined]
        """label => { const h = document.querySelector('.fwk-asof');
                     return h && h.innerText.includes('Range ' + label + ' ')
                        && !document.body.innerText.includes('Computing ') && document.querySelector('.fwk-tile .fwk-value'); }""",
        arg=label,
        timeout=TIMEOUT_MS,
    )


def assert_clean(page: object) -> str:
    text = page.inner_text("body")  # type: ignore[attr-defined]
    assert "\uf0ce" not in text and "\uf1dc" not in text  # no stray Font Awesome glyphs
    assert not ERROR_TEXT.search(text), ERROR_TEXT.search(text)
    content = page.content()  # type: ignore[attr-defined]
    for snippet in SOURCE_TEXT:
        assert snippet not in text and snippet not in content, snippet
    return text


def test_overview_first_paint_shows_the_published_kpis(
    voila: support.Voila, published: Path, page: object, artifacts: Path
) -> None:
    data = published_data(published)
    page.goto(voila.page("overview"))  # type: ignore[attr-defined]
    page.wait_for_selector(support.KPI_SELECTOR, timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    shown = support.kpi_values(page)
    assert shown == expected_tiles(data["kpis"])
    assert len(shown) >= 8  # the eight usage KPIs at least
    text = assert_clean(page)
    run_id = (published / "overview" / "latest").resolve().name
    assert f"Published run {run_id}" in text
    as_of = datetime.fromisoformat(data["source"]["data_as_of"]).astimezone(UTC)
    assert f"Data as of {as_of:%Y-%m-%d %H:%M} UTC" in text
    for area in areas.AREAS:  # every overview area of the registry has its section
        assert (area.title in text) == area.in_overview, area.title
    for funnel in ("Onboarding", "Deployment", "Service creation"):
        assert funnel in text
    csv_names = page.eval_on_selector_all("a.fwk-csv", "els => els.map(e => e.download)")  # type: ignore[attr-defined]
    assert "overview_7d_kpis.csv" in csv_names
    support.screenshot(page, artifacts / "overview_published.png")  # type: ignore[attr-defined]


def test_changing_the_time_range_recomputes_with_the_library(
    voila: support.Voila, demo_url: str, page: object, artifacts: Path
) -> None:
    source = sources.connect(demo_url)
    thirty = usage_trends(source, timerange.resolve("30d", as_of=source.default_as_of()))
    expected = {k.name: kpi_view(k).value for k in thirty.kpis}
    page.goto(voila.page("overview"))  # type: ignore[attr-defined]
    page.wait_for_selector(support.KPI_SELECTOR, timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    before = support.kpi_values(page)
    page.get_by_role("button", name="30d", exact=True).click()  # type: ignore[attr-defined]
    wait_idle(page, "30d")
    after = support.kpi_values(page)
    assert {name: after[name] for name in expected} == expected
    assert after["pageviews"] != before["pageviews"]  # 30 days of demo data hold more than 7
    text = assert_clean(page)
    assert "Computed live from the source" in text
    support.screenshot(page, artifacts / "overview_30d_live.png")  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["usage", "features", "experiments", "segments", "funnels"])
def test_area_pages_render_without_errors(voila: support.Voila, name: str, page: object, artifacts: Path) -> None:
    page.goto(voila.page(name))  # type: ignore[attr-defined]
    page.wait_for_selector(".fwk-asof", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    page.wait_for_selector(".fwk-dash h2", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    text = assert_clean(page)
    assert "Published run" in text
    if name == "experiments":
        assert "sample ratio mismatch" in text.lower()
        page.get_by_role("combobox").select_option(label="Pipeline templates gallery")  # type: ignore[attr-defined]
        page.wait_for_function("() => document.body.innerText.includes('gallery_compact')", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    if name == "funnels":
        page.get_by_role("combobox").select_option(label="Deployment")  # type: ignore[attr-defined]
        page.wait_for_function("() => !document.body.innerText.includes('Sign up')", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
        assert "Build complete" in page.inner_text("body")  # type: ignore[attr-defined]
    support.screenshot(page, artifacts / f"{name}.png")  # type: ignore[attr-defined]


def test_an_open_dashboard_picks_up_a_newer_run(
    demo_url: str, published: Path, tmp_path: Path, page: object, artifacts: Path
) -> None:

    reports = tmp_path / "reports"
    shutil.copytree(published, reports, symlinks=True)
    with support.Voila(support.server_env(demo_url, reports, poll=2)) as server:
        page.goto(server.page("overview"))  # type: ignore[attr-defined]
        page.wait_for_selector(support.KPI_SELECTOR, timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
        newer = support.publish_overview_direct(reports, demo_url, "24h")
        page.wait_for_function(  # type: ignore[attr-defined]
            "id => document.body.innerText.includes('Published run ' + id)", arg=newer.name, timeout=TIMEOUT_MS
        )
        data = json.loads((newer / "data.json").read_text(encoding="utf-8"))
        visits = expected_tiles(data["kpis"])["visits"]
        page.wait_for_function(  # type: ignore[attr-defined]
            "v => document.querySelector('[data-kpi=visits] .fwk-value').innerText.trim() === v",
            arg=visits,
            timeout=TIMEOUT_MS,
        )
        assert support.kpi_values(page) == expected_tiles(data["kpis"])
        assert_clean(page)
        support.screenshot(page, artifacts / "overview_auto_refreshed.png")  # type: ignore[attr-defined]


def test_without_a_published_run_it_says_so_and_errors_stay_friendly(
    tmp_path: Path, page: object, artifacts: Path
) -> None:

    empty = tmp_path / "reports"
    empty.mkdir()
    missing = f"duckdb://{tmp_path / 'missing.duckdb'}"
    with support.Voila(support.server_env(missing, empty)) as server:
        page.goto(server.page("overview"))  # type: ignore[attr-defined]
        page.wait_for_selector(".fwk-infobox", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
        text = page.inner_text("body")  # type: ignore[attr-defined]
        assert "No overview report has been published yet" in text
        assert page.query_selector(support.KPI_SELECTOR) is None  # type: ignore[attr-defined]
        support.screenshot(page, artifacts / "overview_unpublished.png")  # type: ignore[attr-defined]
        page.get_by_role("button", name="Compute now").click()  # type: ignore[attr-defined]
        page.wait_for_selector(".fwk-error", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
        text = page.inner_text("body")  # type: ignore[attr-defined]
        assert "could not be computed right now" in text
        assert "Traceback" not in text and "missing.duckdb" not in text and str(tmp_path) not in text
        assert page.query_selector(support.KPI_SELECTOR) is None  # type: ignore[attr-defined]
        support.screenshot(page, artifacts / "overview_error.png")  # type: ignore[attr-defined]
        assert "Traceback" in server.log()  # the details went to the server log


def test_token_auth_refuses_requests_without_the_token(
    demo_url: str, published: Path, page: object, artifacts: Path
) -> None:

    token = "s3cret-test-token"
    with support.Voila(support.server_env(demo_url, published), token=token) as server:
        bare = f"{server.url}/voila/render/overview.ipynb"
        refused = httpx.get(bare, timeout=30, follow_redirects=False)
        assert refused.status_code in (302, 401, 403)
        if refused.status_code == 302:
            assert "login" in refused.headers["location"]
        assert "fwk-tile" not in refused.text
        wrong = httpx.get(bare, params={"token": "wrong"}, timeout=30, follow_redirects=False)
        assert wrong.status_code in (302, 401, 403)
        page.goto(server.page("overview"))  # type: ignore[attr-defined]
        page.wait_for_selector(support.KPI_SELECTOR, timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
        assert support.kpi_values(page) == expected_tiles(published_data(published)["kpis"])
        support.screenshot(page, artifacts / "overview_with_token.png")  # type: ignore[attr-defined]
