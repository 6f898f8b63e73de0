"""The resilient HTTP layer against a real loopback server: retries, timeouts, cache, fallback."""

from __future__ import annotations

import random
import socket
import time
from datetime import UTC, datetime

import httpx
import pytest

from fawkes_analytics.errors import SourceResponseError, SourceUnavailable
from fawkes_analytics.sources.http import NUMBER, HttpClient, ResponseCache, RetryPolicy, check, require

from .conftest import FAST_RETRY, Reply

GOOD = {"value": 42}


def client_for(server, cache, sleeps=None, **options) -> HttpClient:
    options.setdefault("retry", FAST_RETRY)
    if sleeps is not None:
        options["sleep"] = sleeps.append
    return HttpClient(server.url, cache=cache, timeout=httpx.Timeout(2.0, connect=1.0), **options)


def validate_value(body, endpoint):
    require(body, "value", NUMBER, endpoint)


@pytest.fixture
def ok_route(api_server):
    api_server.routes[("GET", "/thing")] = lambda request: Reply(200, GOOD)
    return api_server


def test_retries_5xx_then_succeeds_with_growing_backoff(ok_route, cache, sleeps):
    ok_route.faults["/thing"] = [Reply(500, {"error": "boom"}), Reply(502, b"bad gateway")]
    fetched = client_for(ok_route, cache, sleeps).get_json("/thing", validate=validate_value)
    assert fetched.data == GOOD and not fetched.fallback
    assert ok_route.count("/thing") == 3
    # base 0.01: attempt 0 waits in [0.005, 0.01], attempt 1 in [0.01, 0.02] (equal jitter)
    assert len(sleeps) == 2
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02


def test_429_honours_retry_after_seconds(ok_route, cache, sleeps):
    ok_route.faults["/thing"] = [Reply(429, {"error": "rate limited"}, {"Retry-After": "3"})]
    assert client_for(ok_route, cache, sleeps).get_json("/thing").data == GOOD
    assert sleeps == [3.0]  # the server's wait, not the 10 ms backoff


def test_429_retry_after_as_http_date_really_waits(ok_route, cache):
    # An HTTP-date one second ahead (date resolution is whole seconds): the client sleeps
    # for real until then, so the second request comes at least ~0.3 s after the first.
    when = datetime.fromtimestamp(int(time.time()) + 2, UTC)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    ok_route.faults["/thing"] = [Reply(429, {"error": "slow down"}, {"Retry-After": header})]
    started = time.monotonic()
    assert client_for(ok_route, cache).get_json("/thing").data == GOOD
    assert time.monotonic() - started >= 0.3
    assert ok_route.count("/thing") == 2


def test_retry_after_longer_than_allowed_gives_up_at_once(ok_route, cache, sleeps):
    ok_route.faults["/thing"] = [Reply(429, {"error": "quota"}, {"Retry-After": "3600"})]
    with pytest.raises(SourceUnavailable, match=r"GET http://127.0.0.1:\d+/thing: HTTP 429.*Retry-After 3600s"):
        client_for(ok_route, cache, sleeps).get_json("/thing")
    assert ok_route.count("/thing") == 1 and sleeps == []


def test_slow_response_past_read_timeout_is_retried_then_unavailable(ok_route, cache, sleeps):
    ok_route.faults["/thing"] = [Reply(200, GOOD, delay=0.6) for _ in range(3)]
    client = HttpClient(
        ok_route.url, cache=cache, retry=FAST_RETRY, sleep=sleeps.append, timeout=httpx.Timeout(0.2, connect=1.0)
    )
    with pytest.raises(SourceUnavailable, match=r"/thing: ReadTimeout.*after 3 attempt"):
        client.get_json("/thing")
    assert ok_route.count("/thing") == 3


def test_slow_first_answer_then_fast_one_succeeds(ok_route, cache, sleeps):
    ok_route.faults["/thing"] = [Reply(200, GOOD, delay=0.6)]
    client = HttpClient(
        ok_route.url, cache=cache, retry=FAST_RETRY, sleep=sleeps.append, timeout=httpx.Timeout(0.2, connect=1.0)
    )
    assert client.get_json("/thing").data == GOOD
    assert ok_route.count("/thing") == 2 and len(sleeps) == 1


def test_connection_refused_is_unavailable_after_all_attempts(cache, sleeps):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", cache=cache, retry=FAST_RETRY, sleep=sleeps.append)
    with pytest.raises(SourceUnavailable, match=r"ConnectError.*after 3 attempt.*no earlier data"):
        client.get_json("/thing")
    assert len(sleeps) == 2


def test_truncated_json_names_endpoint_and_body_and_is_not_cached(ok_route, cache):
    ok_route.faults["/thing"] = [Reply(200, b'{"value": 4')]
    client = client_for(ok_route, cache)
    with pytest.raises(SourceResponseError) as error:
        client.get_json("/thing", validate=validate_value)
    assert error.value.field == "body" and "/thing" in error.value.endpoint
    assert "truncated or invalid JSON at character 11 of 11" in str(error.value)
    assert ok_route.count("/thing") == 1  # a malformed body is not retried
    assert list(cache.directory.glob("*.json")) == []


def test_wrong_field_type_names_the_field(ok_route, cache):
    ok_route.faults["/thing"] = [Reply(200, {"value": "42"})]
    with pytest.raises(SourceResponseError, match=r"/thing: field 'value': expected number, got str \"42\""):
        client_for(ok_route, cache).get_json("/thing", validate=validate_value)


def test_client_error_is_not_retried_and_shows_the_servers_message(api_server, cache, sleeps):
    api_server.routes[("GET", "/thing")] = lambda r: Reply(401, {"error": "Invalid API key"})
    with pytest.raises(SourceResponseError, match="field 'status': HTTP 401: Invalid API key"):
        client_for(api_server, cache, sleeps).get_json("/thing")
    assert api_server.count("/thing") == 1 and sleeps == []


def test_cache_serves_within_ttl_and_refreshes_after_it_or_on_demand(ok_route, cache):
    client = client_for(ok_route, cache, ttl=0.3)
    first = client.get_json("/thing")
    second = client.get_json("/thing")
    assert ok_route.count("/thing") == 1 and second.from_cache and second.data == first.data
    assert not client.get_json("/thing", params={"page": 2}).from_cache  # another request, another entry
    client.get_json("/thing", refresh=True)  # manual refresh of one request
    assert ok_route.count("/thing") == 3
    time.sleep(0.35)  # past the TTL
    client.get_json("/thing")
    assert ok_route.count("/thing") == 4
    # manual refresh of the whole client: entries expire (kept as last good data)
    assert client.refresh() == 2
    client.get_json("/thing")
    assert ok_route.count("/thing") == 5


def test_default_ttl_is_five_minutes(ok_route, cache):
    client = client_for(ok_route, cache)
    assert client.ttl == 300
    client.get_json("/thing")
    entry = next(iter(cache.directory.glob("*.json")))
    assert "Authorization" not in entry.read_text()


def test_cache_survives_a_new_client_on_disk(ok_route, cache):
    client_for(ok_route, cache).get_json("/thing")
    again = client_for(ok_route, ResponseCache(cache.directory)).get_json("/thing")
    assert again.from_cache and ok_route.count("/thing") == 1


def test_expire_keeps_entries_but_marks_them_stale(ok_route, cache):
    client_for(ok_route, cache).get_json("/thing")
    assert cache.expire() == 1
    assert cache.expire() == 0  # already expired
    fresh = client_for(ok_route, cache).get_json("/thing")
    assert not fresh.from_cache and ok_route.count("/thing") == 2


def test_falls_back_to_last_good_data_with_a_status_banner(ok_route, cache, sleeps):
    client = client_for(ok_route, cache, sleeps, ttl=0)
    good = client.get_json("/thing")
    assert client.status.available and client.status.banner is None
    ok_route.down = True
    fallback = client.get_json("/thing")
    assert fallback.fallback and fallback.data == GOOD and fallback.fetched_at == good.fetched_at
    status = client.status
    assert not status.available and status.data_as_of == good.fetched_at
    assert status.banner.startswith(f"source unavailable, data as of {good.fetched_at:%Y-%m-%d %H:%M} UTC")
    assert "HTTP 503" in status.banner
    assert status.to_dict()["endpoints"] == [f"GET {ok_route.url}/thing"]


def test_no_last_good_data_fails_clearly(api_server, cache, sleeps):
    api_server.down = True
    with pytest.raises(
        SourceUnavailable, match=r"HTTP 503: maintenance \(after 3 attempt\(s\)\); no earlier data for GET .*/thing"
    ):
        client_for(api_server, cache, sleeps).get_json("/thing")


def test_backoff_is_exponential_with_bounded_jitter():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    rng = random.Random(7)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        waits = [policy.backoff(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > 0  # jitter: not all equal


@pytest.mark.parametrize(
    "value, kind, ok",
    [
        (1, NUMBER, True),
        (1.5, NUMBER, True),
        (True, NUMBER, False),
        ("1", NUMBER, False),
        (True, int, False),
        ([], list, True),
        (None, str, False),
    ],
)
def test_check_kinds(value, kind, ok):
    if ok:
        assert check(value, kind, "GET /x", "f") == value
    else:
        with pytest.raises(SourceResponseError, match="GET /x: field 'f': expected"):
            check(value, kind, "GET /x", "f")


def test_require_names_missing_field_with_its_path():
    with pytest.raises(SourceResponseError, match=r"field 'results\[2\].metrics': missing"):
        require({"dimensions": []}, "metrics", list, "POST /api/v2/query", "results[2]")


def test_refresh_cache_command(ok_route, cache, capsys):
    import argparse

    from fawkes_analytics.sources.cache_cli import register_cli

    client_for(ok_route, cache).get_json("/thing")
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    other = parser.parse_args(
        ["refresh-cache", "--source", "plausible+http://elsewhere:1/site", "--cache-dir", str(cache.directory)]
    )
    assert other.func(other) == 0 and "expired 0" in capsys.readouterr().out
    args = parser.parse_args(["refresh-cache", "--cache-dir", str(cache.directory)])
    assert args.func(args) == 0 and "expired 1 cached response(s)" in capsys.readouterr().out
    assert not client_for(ok_route, cache).get_json("/thing").from_cache
