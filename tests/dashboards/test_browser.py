"""The dashboards in Debian's Chromium against one Voilà started for this module.

Expected numbers are never typed in: they come from the published views' ``overview.json``
(rebuilt with ``Overview.from_dict``) or from the library itself for a range the viewer
picked, formatted with ``formats.kpi_view`` / ``columns.cell`` exactly like the page.
"""

from __future__ import annotations

import html
import json
import re
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest
import support
from tornado.httpclient import HTTPClientError

from fawkes_analytics import formats, sources, timerange
from fawkes_analytics.columns import cell, column
from fawkes_analytics.dashboard import PAGES
from fawkes_analytics.formats import kpi_view
from fawkes_analytics.metrics import usage_trends
from fawkes_analytics.overview import Overview

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ERROR_TEXT = re.compile(r"Traceback|Error:|Exception|could not be computed|took too long", re.IGNORECASE)
SOURCE_TEXT = ("import fawkes_analytics", 'show("overview")', "from fawkes_analytics")
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def voila(demo_url: str, published: Path) -> support.Voila:
    with support.Voila(support.server_env(demo_url, published), max_kernels=12) as server:
        yield server


def overview_of(published: Path, folder: str) -> Overview:
    path = published / "dashboards" / "latest" / folder / "overview.json"
    return Overview.from_dict(json.loads(path.read_text(encoding="utf-8")))


def tiles_of(kpis: list) -> dict[str, str]:
    return {k.name: kpi_view(k).value for k in kpis}


def assert_clean(page: object) -> str:
    text = page.inner_text("body")  # type: ignore[attr-defined]
    assert not ERROR_TEXT.search(text), ERROR_TEXT.search(text)
    content = page.content()  # type: ignore[attr-defined]
    for snippet in SOURCE_TEXT:
        assert snippet not in text and snippet not in content, snippet
    assert "data:text/html;base64" not in content  # reports are links, never embedded
    return text


def click_range(page: object, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()  # type: ignore[attr-defined]


def choose(page: object, label: str, option: str) -> None:
    """Pick ``option`` in the ipywidgets dropdown labelled ``label``."""
    page.locator(f".widget-dropdown:has(label:text-is('{label}')) select").select_option(label=option)  # type: ignore[attr-defined]


def test_landing_page_navigation_and_url_state(
    voila: support.Voila, published: Path, page: object, artifacts: Path
) -> None:
    page.goto(voila.url + "/")  # type: ignore[attr-defined]
    cards = page.eval_on_selector_all(  # type: ignore[attr-defined]
        ".fwk-card", "els => els.map(e => [e.dataset.page, e.querySelector('p').innerText.trim()])"
    )
    assert cards == [[p.name, p.description] for p in PAGES.values()]
    index = json.loads((published / "dashboards" / "latest" / "index.json").read_text(encoding="utf-8"))
    text = page.inner_text("body")  # type: ignore[attr-defined]
    assert f"Data as of {formats.when(index['data_as_of'], 'UTC')}" in text
    report = page.locator("a[href='fawkes/reports/overview/']")  # type: ignore[attr-defined]
    assert report.get_attribute("target") == "_blank"
    opened = httpx.get(voila.url + "/fawkes/reports/overview/", timeout=30)
    assert opened.status_code == 200 and opened.headers["content-type"].startswith("text/html")
    assert opened.headers["content-disposition"] == "inline" and "Product overview report" in opened.text
    support.screenshot(page, artifacts / "landing.png")

    page.click(".fwk-card[data-page=usage]")  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "precomputed")
    click_range(page, "30d")
    support.wait_for_view(page, "range=30d", "precomputed")
    choose(page, "Segment", "Power")
    support.wait_for_view(page, "segment=power", "precomputed")
    page.wait_for_function("() => location.search.includes('segment=power')")  # type: ignore[attr-defined]
    assert "range=30d" in page.url  # type: ignore[attr-defined]
    assert page.inner_text(".fwk-header h1") == "Usage · power"  # type: ignore[attr-defined]

    page.click(".fwk-nav a[data-page=features]")  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=30d&segment=power", "precomputed")
    assert "/features.ipynb?range=30d&segment=power" in page.url  # type: ignore[attr-defined]
    assert page.inner_text(".fwk-header h1") == "Feature adoption · power"  # type: ignore[attr-defined]
    shown = support.kpi_values(page)
    assert shown == tiles_of(overview_of(published, "30d/power").area_kpis("features"))

    shared = page.url  # type: ignore[attr-defined]
    page.goto(shared)  # type: ignore[attr-defined]  # the shared link opens the same view
    support.wait_for_view(page, "range=30d&segment=power", "precomputed")
    assert support.kpi_values(page) == shown
    assert_clean(page)


def test_the_served_page_shows_the_view_before_the_widgets_load(
    voila: support.Voila, published: Path, page: object, artifacts: Path
) -> None:
    # Voilà's front end (its JavaScript, hence the widget manager) blocked: the precomputed view
    # the URL asks for is on screen all the same, from the HTML the server sent.
    view = "range=30d&segment=power"
    expected = tiles_of(overview_of(published, "30d/power").area_kpis("usage"))
    page.route("**/voila/static/**", lambda route: route.abort())  # type: ignore[attr-defined]
    page.goto(support.page_url(voila, "usage", view), wait_until="commit")  # type: ignore[attr-defined]
    page.wait_for_selector(f".fwk-first-paint {support.KPI_SELECTOR}", timeout=30_000)  # type: ignore[attr-defined]
    assert support.kpi_values(page) == expected
    assert page.inner_text(".fwk-first-paint .fwk-header h1") == "Usage · power"  # type: ignore[attr-defined]
    link = page.get_attribute(".fwk-first-paint .fwk-nav a[data-page=features]", "href")  # type: ignore[attr-defined]
    assert link == f"./features.ipynb?{view}"
    assert page.locator(".widget-toggle-buttons").count() == 0  # type: ignore[attr-defined]
    support.screenshot(page, artifacts / "usage_first_paint.png")

    # With the front end, the widgets take over: the same numbers, the first paint gone.
    page.unroute("**/voila/static/**")  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    support.wait_for_view(page, view, "precomputed")
    assert page.locator(".fwk-first-paint").count() == 0  # type: ignore[attr-defined]
    assert support.kpi_values(page) == expected
    click_range(page, "7d")
    support.wait_for_view(page, "range=7d&segment=power", "precomputed")


def test_the_first_paint_shows_while_voilas_scripts_and_styles_are_still_loading(
    voila: support.Voila, published: Path, page: object
) -> None:
    # Every script and stylesheet of Voilà's held (neither answered nor refused): the head
    # holds nothing back, so the view is on screen from the HTML alone. Once they arrive the
    # widgets take over, with JupyterLab's stylesheets applied.
    held: list[object] = []
    holding = [True]

    def hold(route: object) -> None:
        if holding[0]:
            held.append(route)
        else:
            route.continue_()  # type: ignore[attr-defined]

    page.route("**/voila/{static,templates}/**", hold)  # type: ignore[attr-defined]
    page.goto(support.page_url(voila, "overview"), wait_until="commit")  # type: ignore[attr-defined]
    page.wait_for_selector(f".fwk-first-paint {support.KPI_SELECTOR}", state="visible", timeout=30_000)  # type: ignore[attr-defined]
    assert support.kpi_values(page) == tiles_of(overview_of(published, "7d/_all").kpis)
    pending = {str(route.request.url).split("/")[-1].split("?")[0] for route in held}  # type: ignore[attr-defined]
    assert {"voila-style.js", "index.css", "theme-light.css"} <= pending  # the head's, requested and held
    holding[0] = False
    for route in held:
        route.continue_()  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "precomputed")
    assert page.evaluate(
        "() => [...document.styleSheets].some(s => (s.href || '').includes('index.css') && s.media.mediaText === 'all')"
    )  # type: ignore[attr-defined]


def test_hover_tooltip_shows_the_value_of_the_point(voila: support.Voila, published: Path, page: object) -> None:
    usage = overview_of(published, "7d/_all").results["usage"]
    first = usage.timeseries["active_users"].iloc[0]
    expected = cell(first, column("active_users").format)  # e.g. "41"
    page.goto(support.page_url(voila, "usage"))  # type: ignore[attr-defined]
    point = ".fwk-chartbox[data-chart=active_users] .scatterlayer .trace .points path"
    page.wait_for_selector(point, timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    page.locator(point).first.hover(force=True)  # type: ignore[attr-defined]
    tooltip = page.wait_for_selector(".fwk-chartbox[data-chart=active_users] .hoverlayer .hovertext", timeout=10_000)  # type: ignore[attr-defined]
    text = tooltip.text_content()
    assert "Active users" in text and expected in text, text


def test_switching_to_a_precomputed_view_reads_a_file(voila: support.Voila, published: Path, page: object) -> None:
    page.goto(support.page_url(voila, "overview"))  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "precomputed")
    assert support.kpi_values(page) == tiles_of(overview_of(published, "7d/_all").kpis)
    click_range(page, "30d")
    support.wait_for_view(page, "range=30d", "precomputed")
    thirty = tiles_of(overview_of(published, "30d/_all").kpis)
    assert support.kpi_values(page) == thirty
    assert thirty["pageviews"] != tiles_of(overview_of(published, "7d/_all").kpis)["pageviews"]
    # The kernels never loaded the analytics stack: no pandas, DuckDB or plotly library mapped.
    for kernel in voila.kernels():
        maps = Path(f"/proc/{kernel.pid}/maps").read_text()
        assert "pandas/_libs" not in maps and "duckdb" not in maps, kernel.pid


def test_first_paint_and_recompute_show_equal_kpis(
    voila: support.Voila, published: Path, page: object, artifacts: Path
) -> None:
    page.goto(support.page_url(voila, "overview"))  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "precomputed")
    first = support.kpi_values(page)
    assert first == tiles_of(overview_of(published, "7d/_all").kpis)
    assert len(first) >= 8
    page.get_by_role("button", name="Recompute").click()  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "live")
    assert support.kpi_values(page) == first
    assert "Computed live" in page.inner_text(".fwk-header")  # type: ignore[attr-defined]
    assert_clean(page)
    support.screenshot(page, artifacts / "overview_recomputed.png")


def test_a_custom_range_computes_live_with_stages_and_cancel(
    voila: support.Voila, demo_url: str, page: object, artifacts: Path
) -> None:
    source = sources.connect(demo_url)
    start, end = date(2026, 11, 2), date(2026, 11, 9)
    custom = usage_trends(source, timerange.resolve(None, start=start.isoformat(), end=end.isoformat()))
    page.goto(support.page_url(voila, "usage"))  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "precomputed")
    click_range(page, "Custom")
    page.locator("input[type=date]").nth(0).fill(start.isoformat())  # type: ignore[attr-defined]
    page.locator("input[type=date]").nth(1).fill(end.isoformat())  # type: ignore[attr-defined]
    page.get_by_role("button", name="Show range").click()  # type: ignore[attr-defined]
    stage = page.wait_for_selector(".fwk-stage", timeout=30_000)  # type: ignore[attr-defined]
    assert "Computing this view live" in stage.inner_text()
    page.get_by_role("button", name="Cancel").click()  # type: ignore[attr-defined]
    page.wait_for_function("() => document.body.innerText.includes('Cancelled')", timeout=30_000)  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "precomputed")

    click_range(page, "Custom")  # the days picked before are kept
    page.get_by_role("button", name="Show range").click()  # type: ignore[attr-defined]
    support.wait_for_view(page, f"start={start}", "live")
    wanted = f"range=custom&start={start}&end={end}"
    # The page script writes the view into the address bar just after showing it.
    page.wait_for_function("s => location.search.includes(s)", arg=wanted, timeout=10_000)  # type: ignore[attr-defined]
    assert wanted in page.url  # type: ignore[attr-defined]
    shown = support.kpi_values(page)
    assert shown == tiles_of(custom.kpis)
    assert_clean(page)
    support.screenshot(page, artifacts / "usage_custom_live.png")


@pytest.mark.parametrize("name", list(PAGES))
def test_every_dashboard_renders_with_charts(voila: support.Voila, name: str, page: object, artifacts: Path) -> None:
    page.goto(support.page_url(voila, name))  # type: ignore[attr-defined]
    support.wait_for_view(page, "range=7d", "precomputed")
    charts = page.locator(".fwk-plotly[data-figure]").count()  # type: ignore[attr-defined]
    if name != "experiments":
        assert charts >= 1, name
        page.wait_for_function(  # type: ignore[attr-defined]
            "n => document.querySelectorAll('.fwk-plotly .main-svg').length >= n", arg=charts, timeout=30_000
        )
    text = assert_clean(page)
    assert PAGES[name].title in page.inner_text(".fwk-header h1")  # type: ignore[attr-defined]
    assert "Precomputed" in text and "Times in UTC" in text
    if name == "funnels":
        choose(page, "Funnel", "Deployment")
        support.wait_for_view(page, "item=deployment", "precomputed")
        assert "Build complete" in page.inner_text("body")  # type: ignore[attr-defined]
    if name == "experiments":
        assert "sample ratio mismatch" in text.lower()
    support.screenshot(page, artifacts / f"{name}.png")


def test_the_benchs_protocol_viewer_gets_what_a_browser_gets(voila: support.Voila, published: Path) -> None:
    # bench/viewer_protocol.py stands for a viewer's browser in the bench's server-delivery
    # figure: the page with the view's first paint, then the widgets' state over the kernel's
    # websocket with the same messages Voilà's page sends, then leaving (the kernel ends).
    sys.path.insert(0, str(support.ROOT / "bench"))
    import viewer_protocol

    view = "range=30d&segment=power"
    url = support.page_url(voila, "usage", view)
    times = support.run_async(viewer_protocol.view(voila.url, url, read_seconds=0))
    assert times.error is None
    assert 0 < times.first_kpi <= times.page <= times.widgets  # type: ignore[operator]
    page = httpx.get(url, timeout=120).text  # a second viewer, to read the page and its kernel
    kernel = json.loads(viewer_protocol.CONFIG.search(page).group(1))["kernelId"]  # type: ignore[union-attr]
    channels = f"ws://127.0.0.1:{voila.port}/api/kernels/{kernel}/channels"
    states = support.run_async(viewer_protocol.widget_states(channels, 60))
    assert viewer_protocol.shows_the_view(states)
    header = next(
        s["state"]["value"] for s in states["states"].values() if 'class="fwk-state"' in str(s["state"].get("value"))
    )
    assert f'data-query="{view}' in html.unescape(header) and 'data-origin="precomputed"' in header
    assert not viewer_protocol.shows_the_view({"states": {"m": {"state": {"value": "<p>Computing…</p>"}}}})
    assert httpx.post(f"{voila.url}/voila/api/shutdown/{kernel}", timeout=30).status_code == 204  # leaving
    with pytest.raises(HTTPClientError, match="404"):  # the kernel is gone
        support.run_async(viewer_protocol.widget_states(channels, 10))
