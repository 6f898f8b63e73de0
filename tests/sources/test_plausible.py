"""The Plausible client and source against a loopback server speaking the Stats API v2 and v1."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from fawkes_analytics import sources
from fawkes_analytics.errors import ConfigError, ParameterError, SourceResponseError, SourceUnavailable
from fawkes_analytics.metrics import usage_trends
from fawkes_analytics.sources.plausible import USAGE_METRICS, PlausibleClient, PlausibleSource, parse_url
from fawkes_analytics.timerange import resolve

from .conftest import FAST_RETRY, Reply

SITE = "example.com"
KEY = "test-key-123"
# The report's range: 7 days in UTC; the previous period is the 7 days before.
RANGE = resolve(start="2024-03-04T00:00:00Z", end="2024-03-11T00:00:00Z")
TOTALS = {  # keyed by the first day of the requested range
    "2024-03-04": {
        "visitors": 120,
        "visits": 150,
        "pageviews": 420,
        "views_per_visit": 2.8,
        "bounce_rate": 40,
        "visit_duration": 95.5,
    },
    "2024-02-26": {
        "visitors": 100,
        "visits": 125,
        "pageviews": 300,
        "views_per_visit": 2.4,
        "bounce_rate": 44,
        "visit_duration": 80,
    },
}
DAYS = {  # 2024-03-06 has no traffic: Plausible leaves the day out, the report shows 0
    "2024-03-04": (20, 25, 70, 2.8, 40, 90),
    "2024-03-05": (30, 35, 100, 2.857, 20, 120),
    "2024-03-07": (10, 10, 10, 1.0, 100, 0),
    "2024-03-08": (25, 30, 90, 3.0, 50, 100),
    "2024-03-09": (15, 20, 60, 3.0, 25, 80),
    "2024-03-10": (20, 30, 90, 3.0, 40, 100),
}
PAGES = [(f"/page-{i:02d}", 100 - i, 2 * (100 - i), 30.0 + i) for i in range(25)]  # visitors desc
SOURCES = [
    ("Direct / None", 60, 70, 42.0, 88.0),
    ("google.com", 40, 50, 38.5, 101.25),
    ("news.ycombinator.com", 20, 30, 10.0, 130.0),
]
ENTRY = [("/", 80, 100, 45.0, 70.0), ("/pricing", 40, 50, 30.0, 145.0)]
EXITS = [("/pricing", 50, 60, 37.5), ("/", 30, 40, 20.0)]  # page, visitors, visits (exits), exit_rate
CAMPAIGNS = [("(not set)", 100, 120, 40.0, 90.0), ("spring_sale", 20, 30, 40.0, 117.5)]


def v2_rows(dimension: str, metrics: list[str]) -> list[dict]:
    """The rows a Plausible v2 query returns for one dimension (shape of the docs)."""
    names = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]
    if dimension == "time:day":
        table = [(day, dict(zip(names, values, strict=True))) for day, values in DAYS.items()]
    elif dimension == "event:page":
        table = [(p, {"visitors": v, "pageviews": pv, "time_on_page": t}) for p, v, pv, t in PAGES]
    elif dimension == "visit:exit_page":
        table = [(p, {"visitors": v, "visits": n, "exit_rate": r}) for p, v, n, r in EXITS]
    else:
        rows = {"visit:source": SOURCES, "visit:entry_page": ENTRY, "visit:utm_campaign": CAMPAIGNS}[dimension]
        table = [
            (k, dict(zip(["visitors", "visits", "bounce_rate", "visit_duration"], v, strict=True))) for k, *v in rows
        ]
    return [{"dimensions": [key], "metrics": [values[m] for m in metrics]} for key, values in table]


def plausible_v2(request) -> Reply:
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return Reply(401, {"error": "Invalid API key or site ID."})
    body = request.body
    if body.get("site_id") != SITE:
        return Reply(400, {"error": f"Invalid site ID {body.get('site_id')!r}"})
    metrics, dimensions = body["metrics"], body.get("dimensions", [])
    if not dimensions:
        totals = TOTALS.get(body["date_range"][0][:10], dict.fromkeys(metrics, 0))
        rows = [{"metrics": [totals[m] for m in metrics], "dimensions": []}]
    else:
        rows = v2_rows(dimensions[0], metrics)
    page = body.get("pagination", {"limit": 10000, "offset": 0})
    rows = rows[page["offset"] : page["offset"] + page["limit"]]
    return Reply(200, {"results": rows, "meta": {}, "query": body})


def plausible_v1(request) -> Reply:
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return Reply(401, {"error": "Invalid API key"})
    q = request.query
    metrics = q["metrics"].split(",")
    first_day = q["date"].split(",")[0]
    if request.path.endswith("/aggregate"):
        return Reply(200, {"results": {m: {"value": TOTALS[first_day][m]} for m in metrics}})
    names = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]
    if request.path.endswith("/timeseries"):
        rows = [{"date": day, **{m: dict(zip(names, v, strict=True))[m] for m in metrics}} for day, v in DAYS.items()]
        return Reply(200, {"results": rows})
    prop = q["property"]
    key = prop.split(":", 1)[1]
    rows = [{key: r["dimensions"][0], **dict(zip(metrics, r["metrics"], strict=True))} for r in v2_rows(prop, metrics)]
    limit, page = int(q["limit"]), int(q["page"])
    return Reply(200, {"results": rows[(page - 1) * limit : page * limit]})


@pytest.fixture
def plausible(api_server):
    api_server.routes[("POST", "/api/v2/query")] = plausible_v2
    for name in ("aggregate", "timeseries", "breakdown"):
        api_server.routes[("GET", f"/api/v1/stats/{name}")] = plausible_v1
    return api_server


@pytest.fixture
def client(plausible, cache, sleeps):
    return PlausibleClient(plausible.url, SITE, api_key=KEY, cache=cache, retry=FAST_RETRY, sleep=sleeps.append)


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAUSIBLE_API_KEY", KEY)
    monkeypatch.setenv("FAWKES_ANALYTICS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("plausible://plausible.io/example.com", ("https://plausible.io", "example.com", {})),
        ("plausible+http://127.0.0.1:8000/example.com?ttl=60", ("http://127.0.0.1:8000", "example.com", {"ttl": "60"})),
        ("plausible+https://stats.corp/analytics/shop.corp", ("https://stats.corp/analytics", "shop.corp", {})),
    ],
)
def test_parse_url(url, expected):
    assert parse_url(url) == expected


def test_parse_url_without_site_is_an_error():
    with pytest.raises(ParameterError, match="needs a host and a site id"):
        parse_url("plausible://plausible.io/")


def test_missing_api_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("PLAUSIBLE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="PLAUSIBLE_API_KEY"):
        PlausibleClient("http://127.0.0.1:1", SITE)


def test_v2_query_sends_documented_body_and_follows_pagination(client, plausible):
    filters = [["is", "visit:country_name", ["Estonia"]]]
    result = client.query(
        ["visitors", "pageviews"],
        RANGE,
        dimensions=["event:page"],
        filters=filters,
        order_by=[["visitors", "desc"]],
        page_size=10,
    )
    # 25 rows in pages of 10: offsets 0, 10, 20 -> 3 requests, all 25 rows in order
    assert plausible.count("/api/v2/query") == 3
    assert [r.body["pagination"] for r in plausible.requests] == [{"limit": 10, "offset": o} for o in (0, 10, 20)]
    body = plausible.requests[0].body
    assert (
        body["site_id"] == SITE
        and body["metrics"] == ["visitors", "pageviews"]
        and body["dimensions"] == ["event:page"]
    )
    assert body["filters"] == filters and body["order_by"] == [["visitors", "desc"]]
    # half-open [2024-03-04, 2024-03-11) is sent as the inclusive range up to the last second
    assert body["date_range"] == ["2024-03-04T00:00:00+00:00", "2024-03-10T23:59:59+00:00"]
    assert plausible.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert list(result.frame.columns) == ["event:page", "visitors", "pageviews"]
    assert len(result.frame) == 25 and result.frame["visitors"].tolist() == [100.0 - i for i in range(25)]


def test_v2_query_limit_stops_paging(client, plausible):
    frame = client.query(["visitors", "pageviews"], RANGE, ["event:page"], limit=12, page_size=10).frame
    assert len(frame) == 12 and plausible.count("/api/v2/query") == 2


def test_v2_wrong_metric_type_names_the_field(client, plausible):
    plausible.faults["/api/v2/query"] = [
        Reply(200, {"results": [{"metrics": ["120", 150], "dimensions": []}], "meta": {}})
    ]
    with pytest.raises(SourceResponseError) as error:
        client.query(["visitors", "visits"], RANGE)
    assert error.value.field == "results[0].metrics[0] (visitors)"
    assert error.value.endpoint == f"POST {plausible.url}/api/v2/query"


def test_v2_missing_results_and_wrong_lengths_are_errors(client, plausible):
    plausible.faults["/api/v2/query"] = [
        Reply(200, {"result": []}),
        Reply(200, {"results": [{"metrics": [1], "dimensions": []}]}),
        Reply(200, {"results": {"metrics": [1]}}),
    ]
    with pytest.raises(SourceResponseError, match="field 'results': missing"):
        client.query(["visitors"], RANGE)
    with pytest.raises(SourceResponseError, match=r"field 'results\[0\].metrics': has 1 values, asked for 2"):
        client.query(["visitors", "visits"], RANGE)
    with pytest.raises(SourceResponseError, match="field 'results': expected array, got dict"):
        client.query(["pageviews"], RANGE)


def test_v2_truncated_body(client, plausible):
    plausible.faults["/api/v2/query"] = [Reply(200, b'{"results": [{"metrics": [12')]
    with pytest.raises(SourceResponseError, match=r"/api/v2/query: field 'body': truncated or invalid JSON"):
        client.query(["visitors"], RANGE)


def test_v2_bad_key_is_reported_not_retried(plausible, cache, sleeps):
    bad = PlausibleClient(plausible.url, SITE, api_key="wrong", cache=cache, retry=FAST_RETRY, sleep=sleeps.append)
    with pytest.raises(SourceResponseError, match="HTTP 401: Invalid API key or site ID"):
        bad.query(["visitors"], RANGE)
    assert plausible.count("/api/v2/query") == 1


def test_v1_aggregate_timeseries_breakdown(client, plausible):
    totals = client.aggregate(USAGE_METRICS, period="custom", date="2024-03-04,2024-03-10")
    assert totals == {k: float(v) for k, v in TOTALS["2024-03-04"].items()}
    series = client.timeseries(["visitors", "pageviews"], "custom", "2024-03-04,2024-03-10")
    assert series["date"].tolist() == list(DAYS) and series["visitors"].tolist() == [20, 30, 10, 25, 15, 20]
    pages = client.breakdown("event:page", ["visitors", "pageviews"], "custom", "2024-03-04,2024-03-10", limit=12)
    assert pages["page"].tolist()[:2] == ["/page-00", "/page-01"] and len(pages) == 12
    query = plausible.requests[0].query
    assert query == {
        "site_id": SITE,
        "period": "custom",
        "metrics": ",".join(USAGE_METRICS),
        "date": "2024-03-04,2024-03-10",
    }


def test_v1_wrong_type(client, plausible):
    plausible.faults["/api/v1/stats/aggregate"] = [Reply(200, {"results": {"visitors": {"value": True}}})]
    with pytest.raises(SourceResponseError, match=r"field 'results.visitors.value': expected number, got bool"):
        client.aggregate(["visitors"], date="2024-03-04,2024-03-10")


def check_usage(usage) -> None:
    """The usage result carries exactly the server's numbers."""
    current, previous = TOTALS["2024-03-04"], TOTALS["2024-02-26"]
    for metric in USAGE_METRICS:
        assert getattr(usage, metric) == pytest.approx(current[metric]), metric
        assert usage.previous[metric] == pytest.approx(previous[metric]), metric
    assert usage.total_users == usage.active_users == 120
    # changes worked out by hand: visitors 100 -> 120 = +20 %, pageviews 300 -> 420 = +40 %,
    # views per visit 2.4 -> 2.8 = +16.67 %, duration 80 -> 95.5 = +19.375 %,
    # bounce rate 44 -> 40 = -4 percentage points (not -9.09 %).
    assert usage.change["visitors"] == pytest.approx(20.0)
    assert usage.change["pageviews"] == pytest.approx(40.0)
    assert usage.change["views_per_visit"] == pytest.approx(100 * 0.4 / 2.4)
    assert usage.change["visit_duration"] == pytest.approx(19.375)
    assert usage.change["bounce_rate"] == pytest.approx(-4.0)
    series = usage.timeseries
    assert len(series) == 7 and series["start"].iloc[0] == pd.Timestamp("2024-03-04", tz="UTC")
    assert series["visitors"].tolist() == [20, 30, 0, 10, 25, 15, 20]  # the empty day is 0
    assert series["pageviews"].tolist() == [70, 100, 0, 10, 90, 60, 90]
    assert series["bounce_rate"].tolist() == pytest.approx([40, 20, 0, 100, 50, 25, 40])
    assert usage.top_pages["page"].tolist() == [f"/page-{i:02d}" for i in range(10)]
    assert usage.sources.to_dict("list") == {
        "source": ["Direct / None", "google.com", "news.ycombinator.com"],
        "visitors": [60, 40, 20],
        "visits": [70, 50, 30],
        "bounce_rate": [42.0, 38.5, 10.0],
        "visit_duration": [88.0, 101.25, 130.0],
    }
    assert usage.entry_pages["page"].tolist() == ["/", "/pricing"]
    assert usage.utm_campaigns["utm_campaign"].tolist() == ["spring_sale"]  # "(not set)" is not a campaign


def test_usage_from_plausible_source_has_the_servers_kpis(plausible, env):
    source = sources.connect(f"plausible+http://127.0.0.1:{plausible.port}/{SITE}?retries=2&backoff=0.01")
    assert isinstance(source, PlausibleSource)
    usage = usage_trends(source, RANGE)
    check_usage(usage)
    # the exported shapes (data.json, kpis.csv) hold the same values
    kpis = usage.to_frames()["kpis"].set_index("name")
    assert kpis.loc["visitors", "value"] == 120 and kpis.loc["bounce_rate", "change_unit"] == "points"
    assert usage.to_dict()["visit_duration"] == 95.5
    assert not any(n.startswith("source unavailable") for n in usage.notes)
    described = source.describe()
    assert described["kind"] == "plausible" and described["available"] and KEY not in str(described)


def test_usage_over_v1(plausible, env):
    source = sources.connect(f"plausible+http://127.0.0.1:{plausible.port}/{SITE}?api=v1")
    usage = usage_trends(source, RANGE)
    for metric in USAGE_METRICS:
        assert getattr(usage, metric) == pytest.approx(TOTALS["2024-03-04"][metric])
    assert usage.timeseries["visitors"].tolist() == [20, 30, 0, 10, 25, 15, 20]
    assert usage.sources["source"].tolist() == ["Direct / None", "google.com", "news.ycombinator.com"]


def test_usage_falls_back_to_last_good_data_when_plausible_is_down(plausible, env):
    url = f"plausible+http://127.0.0.1:{plausible.port}/{SITE}?retries=2&backoff=0.01"
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    usage_trends(sources.connect(url), RANGE)  # a good run fills the cache
    plausible.down = True
    source = sources.connect(url)
    source.client.refresh()  # a manual refresh forces requests: they fail, last good data is used
    usage = usage_trends(source, RANGE)
    check_usage(usage)
    assert usage.notes[0].startswith("source unavailable, data as of ")
    as_of = datetime.strptime(
        usage.notes[0][len("source unavailable, data as of ") :][:20], "%Y-%m-%d %H:%M UTC"
    ).replace(tzinfo=UTC)
    assert before <= as_of <= datetime.now(UTC)  # the time of the good run, not of this one
    assert "HTTP 503" in usage.notes[0]
    assert source.describe()["status"] == usage.notes[0] and source.describe()["available"] is False


def test_usage_fails_clearly_without_earlier_data(plausible, env):
    plausible.down = True
    source = sources.connect(f"plausible+http://127.0.0.1:{plausible.port}/{SITE}?retries=2&backoff=0.01")
    with pytest.raises(SourceUnavailable, match="no earlier data for POST .*/api/v2/query to fall back on"):
        usage_trends(source, RANGE)


def test_events_are_not_offered(plausible, env):
    source = sources.connect(f"plausible+http://127.0.0.1:{plausible.port}/{SITE}")
    with pytest.raises(SourceUnavailable, match="aggregated usage only"):
        source.events()
    with pytest.raises(ParameterError, match="segment"):
        usage_trends(source, RANGE, segment="power")


@pytest.mark.slow
def test_usage_report_renders_from_a_plausible_server(plausible, env, monkeypatch, tmp_path):
    """The whole usage report on Plausible alone: data.json and HTML show the server's numbers."""
    import json as json_module

    from fawkes_analytics import runs

    url = f"plausible+http://127.0.0.1:{plausible.port}/{SITE}?retries=2&backoff=0.01"
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", url)
    record = runs.run_report(
        "usage_trends",
        {"start": "2024-03-04T00:00:00Z", "end": "2024-03-11T00:00:00Z"},
        reports_dir=tmp_path / "reports",
    )
    assert record.succeeded, record.error
    folder = tmp_path / "reports" / "usage_trends" / "latest"
    data = json_module.loads((folder / "data.json").read_text(encoding="utf-8"))
    current, previous = TOTALS["2024-03-04"], TOTALS["2024-02-26"]
    for metric in USAGE_METRICS:
        assert data["kpis"][metric]["value"] == pytest.approx(current[metric]), metric
        assert data["kpis"][metric]["previous"] == pytest.approx(previous[metric]), metric
    assert data["source"]["kind"] == "plausible" and data["demo"] is False
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Demo data" not in html and "/page-00" in html and "420" in html
    for published in folder.rglob("*"):
        if published.is_file():
            assert KEY not in published.read_text(encoding="utf-8", errors="ignore"), (
                f"API key leaked into {published.name}"
            )
