"""Last good data by meaning, not by request: during a Plausible outage a report falls back on
the newest successful answer for the same report, range label and parameters, whatever the
exact timestamps; the banner names the run and the data time it shows.

The server answers each totals query with visitors = 10 x the day of month of the range's
first day, so a number tells which window it came from.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from fawkes_analytics.errors import SourceUnavailable
from fawkes_analytics.metrics.usage import plausible_usage
from fawkes_analytics.sources.plausible import USAGE_METRICS, PlausibleClient
from fawkes_analytics.timerange import resolve

from .conftest import FAST_RETRY, Reply

SITE, KEY = "example.com", "test-key"
T = datetime.fromisoformat("2026-11-14T09:30:00+00:00")


def totals(request) -> Reply:
    body = request.body
    if body.get("dimensions"):
        return Reply(200, {"results": [], "meta": {}})
    day = int(body["date_range"][0][8:10])
    values = {"visitors": 10 * day, "visits": 12 * day, "pageviews": 30 * day, "views_per_visit": 2.5}
    values |= {"bounce_rate": 40, "visit_duration": 90}
    return Reply(200, {"results": [{"metrics": [values[m] for m in body["metrics"]], "dimensions": []}]})


@pytest.fixture
def plausible(api_server):
    api_server.routes[("POST", "/api/v2/query")] = totals
    return api_server


def usage_in_run(plausible, cache, monkeypatch, run_id: str, time_range, report: str = "usage_trends"):
    """What the usage report computes in run ``run_id`` (a fresh client, as in a new kernel)."""
    monkeypatch.setenv("FAWKES_ANALYTICS_RUN_DIR", f"/reports/{report}/.tmp-{run_id}")
    client = PlausibleClient(
        plausible.url, SITE, api_key=KEY, cache=cache, retry=FAST_RETRY, sleep=lambda _: None, ttl=0
    )
    return plausible_usage(client, time_range, top=5)


@pytest.mark.parametrize(
    ("label", "later"),
    [
        ("24h", timedelta(minutes=15)),  # the same report a quarter hour later: other exact timestamps
        ("7d", timedelta(days=1)),  # the next day: other whole days
    ],
)
def test_a_named_range_falls_back_on_the_last_good_run_of_the_same_meaning(
    plausible, cache, monkeypatch, label: str, later: timedelta
) -> None:
    good_range = resolve(label, as_of=T)
    good = usage_in_run(plausible, cache, monkeypatch, "20261114T093000Z", good_range)
    assert good.visitors == 10 * good_range.start.day and not good.notes[0].startswith("source unavailable")

    plausible.down = True
    wanted = resolve(label, as_of=T + later)
    assert (wanted.start, wanted.end) != (good_range.start, good_range.end)
    shown = usage_in_run(plausible, cache, monkeypatch, "20261115T093000Z", wanted)

    # The numbers and the window are the earlier run's, all of them from that one run.
    assert (shown.visitors, shown.previous["visitors"]) == (good.visitors, good.previous["visitors"])
    assert (shown.time_range.start, shown.time_range.end) == (good_range.start, good_range.end)
    banner = shown.notes[0]
    assert banner.startswith("source unavailable, data as of ") and "from run 20261114T093000Z" in banner
    assert f"covering {good_range.start:%Y-%m-%d %H:%M} UTC to {good_range.end:%Y-%m-%d %H:%M} UTC" in banner


def test_a_custom_range_falls_back_on_the_same_custom_range_only(plausible, cache, monkeypatch) -> None:
    custom = resolve(start="2026-11-01", end="2026-11-08")
    good = usage_in_run(plausible, cache, monkeypatch, "20261110T070000Z", custom)
    assert good.visitors == 10  # 1 November
    plausible.down = True
    again = usage_in_run(
        plausible, cache, monkeypatch, "20261111T070000Z", resolve(start="2026-11-01", end="2026-11-08")
    )
    assert again.visitors == 10 and "from run 20261110T070000Z" in again.notes[0]
    with pytest.raises(SourceUnavailable, match="no earlier data"):
        usage_in_run(plausible, cache, monkeypatch, "20261111T070001Z", resolve(start="2026-11-02", end="2026-11-09"))


def test_no_fallback_across_reports_or_range_labels(plausible, cache, monkeypatch) -> None:
    usage_in_run(plausible, cache, monkeypatch, "20261114T093000Z", resolve("24h", as_of=T))
    plausible.down = True
    later = T + timedelta(minutes=20)  # another quarter hour: other exact timestamps
    with pytest.raises(SourceUnavailable):
        usage_in_run(plausible, cache, monkeypatch, "20261114T093500Z", resolve("24h", as_of=later), report="overview")
    with pytest.raises(SourceUnavailable):
        usage_in_run(plausible, cache, monkeypatch, "20261114T093501Z", resolve("6h", as_of=later))


def test_every_totals_request_is_the_same_meaning_whatever_the_timestamps(plausible, cache, monkeypatch) -> None:
    usage_in_run(plausible, cache, monkeypatch, "r1", resolve("24h", as_of=T))
    usage_in_run(plausible, cache, monkeypatch, "r2", resolve("24h", as_of=T + timedelta(hours=1)))
    indexed = list((cache.directory / "by-meaning").glob("*.json"))
    # current and previous totals, series and five breakdowns: 8 meanings, not 16 requests
    assert len(indexed) == 8 and len(list(cache.directory.glob("*.json"))) == 16
    assert set(USAGE_METRICS) <= set(plausible.requests[0].body["metrics"])
