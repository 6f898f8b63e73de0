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
    # The overview page shows the registry's overview areas in its order: unusual changes first.
    assert PAGES["overview"].areas == tuple(a.name for a in areas.AREAS if a.in_overview)
    assert PAGES["overview"].areas[0] == areas.ANOMALIES.name


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


def test_the_overview_dashboard_leads_with_the_unusual_changes(published: Path) -> None:
    import re

    latest = store.latest(published / "dashboards")
    assert latest is not None
    report = Overview.from_dict(json.loads((latest.folder / "7d/_all/overview.json").read_text())).results["anomalies"]
    sections = {}
    for segment in ("", "power"):
        fragment = latest.fragment(ViewKey(range="7d", segment=segment), PAGES["overview"]).read_text()  # type: ignore[union-attr]
        titles = re.findall(r"<h2>([^<]+)</h2>", fragment)
        # The key numbers, then the unusual changes before every other area's section.
        assert titles[:3] == ["Key numbers", "Unusual changes", "Usage"], titles
        sections[segment] = fragment.split("Unusual changes</h2>", 1)[1].split("<h2>", 1)[0]
    # The demo ends Sun 15 Nov 12:00: the 7d range is 8-15 Nov 00:00, its days Sun 8 to Sat 14 Nov.
    assert (report.first_day.isoformat(), report.last_day.isoformat()) == ("2026-11-08", "2026-11-14")
    everyone = sections[""]
    if report.flags:
        assert all(flag.sentence in everyone for flag in report.flags[:12])
    else:
        assert "No unusual changes on Sun 8 Nov – Sat 14 Nov" in everyone
    # Onboarding (14-day window) is judged on 25-31 Oct: 38 days after the first full day (17 Sep)
    # of the 60-day demo, fewer than the 42 a verdict needs.
    assert report.check("conversion.onboarding").status == "not_enough_history"
    assert "Onboarding conversion (not enough history)" in everyone
    # They are every user's: a segment's overview shows the same section, which says so.
    assert sections["power"] == everyone and "Unusual changes cover every user" in everyone


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


def test_interactive_charts_ring_the_unusual_days_with_observed_and_expected() -> None:
    from datetime import date

    import pandas as pd

    from fawkes_analytics.anomalies import usage_kpis
    from fawkes_analytics.anomalies.results import DAY_COLUMNS, AnomalyReport, Flag, KpiCheck
    from fawkes_analytics.views.interactive import chart_html

    visits = next(k for k in usage_kpis() if k.name == "visits")
    # 530 visits where 1,020 were expected: 530 / 1,020 - 1 = -48.04%. The flag on 1 Nov lies
    # before the chart's first day and is not drawn.
    flags = [
        Flag(
            "visits", "Visits", date(2026, 11, d), obs, 1020.0, 100 * (obs / 1020 - 1), "percent", z, "down", False, ""
        )
        for d, obs, z in ((14, 530.0, -6.1), (1, 600.0, -5.0))
    ]
    check = KpiCheck(visits, "flagged", "medium", 4.0, pd.DataFrame(columns=list(DAY_COLUMNS)), flags)
    as_of = pd.Timestamp("2026-11-15T00:00Z").to_pydatetime()
    report = AnomalyReport(as_of, "UTC", date(2026, 11, 1), date(2026, 11, 14), [check], flags, {})

    class Result:
        granularity = "day"
        segment = None
        time_range = timerange.resolve("7d", as_of=as_of)
        timeseries = pd.DataFrame(
            {
                "start": pd.date_range("2026-11-08", periods=7, freq="D", tz="UTC"),
                "visitors": [700, 710, 720, 730, 740, 750, 400],
                "visits": [1000, 1010, 1020, 1030, 1040, 1050, 530],
                "pageviews": [4000, 4010, 4020, 4030, 4040, 4050, 2100],
            }
        )

    spec = areas.USAGE.chart("traffic")
    (figure,) = figure_data(str(chart_html(spec, Result(), "UTC", report)))
    rings, *lines = figure["data"]  # the rings first, under the lines' own markers
    assert [t["name"] for t in lines] == ["Visitors", "Visits", "Pageviews"]
    assert (rings["name"], rings["mode"], rings["marker"]["symbol"]) == ("unusual day", "markers", "circle-open")
    # The ring sits on the visits line's point of Sat 14 Nov; hovering it reads both values.
    assert rings["x"] == [lines[1]["x"][6]] == ["2026-11-14T00:00:00"] and rings["y"] == [530.0] == [lines[1]["y"][6]]
    said = "Unusual change, Sat 14 Nov: Visits 530, expected 1,020 (-48%)"
    assert rings["text"] == [said] and rings["hovertemplate"] == "%{text}<extra></extra>"
    # The visits line's own point of that day says so too (whichever of the two the pointer finds).
    assert lines[1]["customdata"] == [""] * 6 + [f"<br>{said}"] and "%{customdata}" in lines[1]["hovertemplate"]
    assert "customdata" not in lines[0]
    # One segment's chart: the flags are every user's, so no ring is drawn over it.
    Result.segment = "power"
    assert [t["name"] for t in figure_data(str(chart_html(spec, Result(), "UTC", report)))[0]["data"]] == [
        "Visitors",
        "Visits",
        "Pageviews",
    ]


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
