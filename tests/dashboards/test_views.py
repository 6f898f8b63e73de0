"""The dashboards without a browser: URL state, the page registry, light first paint, the
precomputed views and the live path writing the same numbers, the kernel cap's arithmetic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import support

from fawkes_analytics import areas, timerange
from fawkes_analytics.columns import cell, column
from fawkes_analytics.dashboard import NAMED_RANGES, PAGES, ViewKey, store
from fawkes_analytics.dashboard.page import DashboardPage
from fawkes_analytics.dashboard.server import default_max_kernels, parse_bytes
from fawkes_analytics.overview import Overview
from fawkes_analytics.views.interactive import figure_data

TILE_VALUE = r'data-kpi="{}".*?class="fwk-value">([^<]+)<'


def test_view_keys_round_trip_through_the_url_and_refuse_junk() -> None:
    key = ViewKey.from_query("range=30d&segment=power&tz=Europe/Berlin&item=onboarding")
    assert key == ViewKey(range="30d", segment="power", tz="Europe/Berlin", item="onboarding")
    assert ViewKey.from_query(key.query()) == key
    custom = ViewKey.from_query("?range=custom&start=2026-11-01&end=2026-11-08&token=abc")
    assert (custom.range, custom.start, custom.end) == ("custom", "2026-11-01", "2026-11-08")
    assert "token" not in custom.query()
    # Unknown ranges, reversed days, unknown zones and markup fall back to the defaults.
    junk = ViewKey.from_query("range=2y&tz=Mars/Olympus&segment=<script>&item=../x")
    assert junk == ViewKey()
    assert ViewKey.from_query("range=custom&start=2026-11-08&end=2026-11-01").range == "7d"
    # A page without a segment control shows every user; the experiments page has no range.
    assert key.for_page(PAGES["segments"]).segment == ""
    assert key.for_page(PAGES["experiments"]) == ViewKey(range="7d", tz="Europe/Berlin", item="onboarding")


def test_pages_and_ranges_agree_with_the_registry_and_timerange() -> None:
    assert NAMED_RANGES == tuple(timerange.NAMED_RANGES)
    for page in PAGES.values():
        assert all(name in areas.BY_NAME for name in page.areas), page.name
        assert (ROOT_NOTEBOOKS / page.notebook).is_file(), page.notebook
    overview_areas = {a.name for a in areas.AREAS if a.in_overview} - {areas.ANOMALIES.name}
    assert set(PAGES["overview"].areas) == overview_areas


ROOT_NOTEBOOKS = support.DASHBOARDS


def test_precomputed_views_cover_every_range_and_segment_and_skip_unchanged_data(
    published: Path, demo_url: str
) -> None:
    from fawkes_analytics import sources
    from fawkes_analytics.dashboard.precompute import publish_views

    views = published / "dashboards"
    latest = store.latest(views)
    assert latest is not None and latest.ranges == list(support.TEST_RANGES)
    assert latest.segments == list(support.TEST_SEGMENTS)
    for label in support.TEST_RANGES:
        for segment in ("", *support.TEST_SEGMENTS):
            for page in PAGES.values():
                key = ViewKey(range=label, segment=segment).for_page(page)
                assert latest.fragment(key, page) is not None, (label, segment, page.name)
    # The tiles of a fragment are the KPIs of the results published beside it.
    overview = Overview.from_dict(json.loads((latest.folder / "30d/_all/overview.json").read_text()))
    fragment = latest.fragment(ViewKey(range="30d"), PAGES["overview"]).read_text()  # type: ignore[union-attr]
    import re

    from fawkes_analytics.formats import kpi_view

    for kpi in overview.kpis:
        assert re.search(TILE_VALUE.format(kpi.name), fragment, re.S).group(1).strip() == kpi_view(kpi).value
    # Same data, same catalog: the next refresh keeps the published views.
    assert publish_views(sources.connect(demo_url), root=views, ranges=support.TEST_RANGES) is None
    assert store.latest(views).id == latest.id  # type: ignore[union-attr]


def test_first_paint_and_a_switch_read_files_without_the_analytics_stack(published: Path) -> None:
    probe = f"""
import sys
from pathlib import Path
from fawkes_analytics.dashboard import show
page = show("usage", query="range=7d&token=secret", root=Path({str(published / "dashboards")!r}), poll=0)
first = page.content.value
page.range.value = "30d"
assert page.origin == "precomputed" and page.key.range == "30d" and page.content.value != first
heavy = sorted(m for m in ("pandas", "numpy", "ibis", "duckdb", "matplotlib", "plotly") if m in sys.modules)
print("HEAVY", heavy, "ORIGIN", page.origin, "STATE", 'data-query="range=30d"' in page.nav.value)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert "HEAVY [] ORIGIN precomputed STATE True" in done.stdout, done.stdout + done.stderr


def test_a_preheated_kernel_gets_its_request_without_loading_voila(tmp_path: Path) -> None:
    # A websocket server speaking Voila's request-info protocol (/voila/query/<kernel id>, one
    # JSON message) hands the waiting page its viewer's query string, as Voila does.
    probe = f"""
import asyncio, json, os, socket, sys, threading
from pathlib import Path
import tornado.web, tornado.websocket

class Query(tornado.websocket.WebSocketHandler):
    def open(self, kernel_id):
        assert kernel_id == "k-123"
        self.write_message(json.dumps({{"QUERY_STRING": "range=30d&segment=power&token=secret"}}))

sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
def serve():
    async def main():
        tornado.web.Application([(r"/voila/query/(.*)", Query)]).listen(port, "127.0.0.1")
        await asyncio.Event().wait()
    asyncio.run(main())
threading.Thread(target=serve, daemon=True).start()
import time; time.sleep(0.5)
os.environ.update(VOILA_PREHEAT="True", VOILA_APP_PORT=str(port), VOILA_KERNEL_ID="k-123", VOILA_SERVER_URL="/")
from fawkes_analytics.dashboard import show
page = show("usage", root=Path({str(tmp_path)!r}), poll=0)  # nothing published: the key is what counts
loaded = sorted(m for m in ("voila", "jupyter_server") if m in sys.modules)
print("KEY", page.key.query(), "LOADED", loaded, "LEFT", "QUERY_STRING" in os.environ, page.origin)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert "KEY range=30d&segment=power LOADED [] LEFT False none" in done.stdout, done.stdout + done.stderr


def test_a_live_view_has_the_numbers_of_the_precomputed_one(published: Path, demo_url: str, monkeypatch) -> None:
    from fawkes_analytics.dashboard.live import compute_page

    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", demo_url)
    views = published / "dashboards"
    stages: list[str] = []
    key = ViewKey(range="7d", segment="power")
    fragment = compute_page(key, PAGES["usage"], stage=stages.append, cancelled=lambda: False, root=views)
    assert fragment.is_relative_to(views / store.LIVE)
    assert stages[:2] == ["Loading the analytics library", "Opening the data"] and "Computing usage" in stages
    live = Overview.from_dict(json.loads((fragment.parent / "overview.json").read_text()))
    published_one = Overview.from_dict(json.loads((views / "latest/7d/power/overview.json").read_text()))
    assert [k.to_dict() for k in live.area_kpis("usage")] == [k.to_dict() for k in published_one.area_kpis("usage")]
    assert "Computed live" in fragment.read_text() and "Usage · power" in fragment.read_text()


def test_a_dashboard_page_without_views_says_so_instead_of_failing(tmp_path: Path) -> None:
    page = DashboardPage("overview", query="", root=tmp_path / "none", poll=0)
    assert page.origin == "none"
    assert "No dashboard views have been published yet" in page.status.value
    assert page.content.value == ""


def test_chart_hover_texts_are_the_table_formats() -> None:
    import pandas as pd

    from fawkes_analytics.views.interactive import chart_html

    class Result:
        granularity = "day"
        time_range = timerange.resolve("7d", as_of=pd.Timestamp("2026-11-15T00:00Z").to_pydatetime())
        timeseries = pd.DataFrame(
            {"start": pd.to_datetime(["2026-11-13", "2026-11-14"], utc=True), "bounce_rate": [12.345, 50.0]}
        )

    spec = areas.USAGE.chart("bounce_rate")
    (figure,) = figure_data(str(chart_html(spec, Result(), "UTC")))
    trace = figure["data"][0]
    # 12.345 shows as "12.3%" in the bounce-rate column of a table; the tooltip says the same.
    assert trace["text"] == [cell(12.345, column("bounce_rate").format), cell(50.0, "percent")] == ["12.3%", "50.0%"]
    assert "Bounce rate" in trace["hovertemplate"]


@pytest.mark.parametrize(
    ("limit", "slots", "expected"),
    [
        # 2 GiB = 2048 MiB; minus the server (200) and 2 live workers (2 x 320) = 1208; / 50 = 24.2 -> 24
        ("2Gi", 2, 24),
        # 1 worker: 2048 - 200 - 320 = 1528 / 50 = 30.6 -> 30
        ("2Gi", 1, 30),
        # 512 MiB leaves no room: the floor is 2 kernels
        ("512Mi", 2, 2),
    ],
)
def test_the_default_cap_fits_the_memory_limit(limit: str, slots: int, expected: int) -> None:
    assert default_max_kernels(parse_bytes(limit), live_slots=slots) == expected


def test_memory_sizes_parse_like_kubernetes_quantities() -> None:
    assert parse_bytes("2Gi") == 2 * 2**30
    assert parse_bytes("1536Mi") == 1536 * 2**20
    assert parse_bytes("2G") == 2 * 10**9
    assert parse_bytes("max") is None
