"""HTTP done properly, against the real server: access, validators, gzip, CORS, problems."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from . import openapi_check
from .conftest import READ_TOKEN, VIEWER_TOKEN, Server, start_server, stop_server

pytestmark = pytest.mark.slow

# Paths that exist, paths that do not and paths whose resource is missing: without a valid
# token every one of them gets the very same answer.
PROBE_PATHS = [
    "/api/v1",
    "/api/v1/openapi.json",
    "/api/v1/analytics/dashboard",
    "/api/v1/analytics/experiments/onboarding_checklist",
    "/api/v1/analytics/experiments/no-such-experiment",
    "/api/v1/analytics/funnels/onboarding",
    "/api/v1/runs",
    "/api/v1/runs/overview/latest/data.json",
    "/api/v1/runs/no_such_report/latest/data.json",
    "/api/v1/no/such/path",
    "/metrics",
]
ORIGIN = "https://portal.fawkes.example"


@pytest.fixture(scope="module")
def client(api_server: Server) -> Iterator[httpx.Client]:
    with openapi_check.client(api_server.url, READ_TOKEN) as http:
        yield http


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {READ_TOKEN}", "Bearer"])
def test_without_a_valid_token_every_path_gets_the_same_401(api_server: Server, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with openapi_check.client(api_server.url, headers=headers) as anonymous:
        answers = [anonymous.get(path) for path in PROBE_PATHS]
        answers.append(anonymous.post("/api/v1/analytics/refresh"))
    assert {a.status_code for a in answers} == {401}
    assert {a.headers["www-authenticate"] for a in answers} == {'Bearer realm="fawkes-analytics"'}
    # The body differs only by the path it echoes: nothing says whether the resource exists.
    bodies = {json.dumps({k: v for k, v in a.json().items() if k != "instance"}) for a in answers}
    assert len(bodies) == 1
    assert {len(a.content) - len(a.request.url.path) for a in answers[:-1]} == {
        len(answers[0].content) - len(PROBE_PATHS[0])
    }


def test_a_token_in_the_url_is_not_accepted(api_server: Server) -> None:
    with openapi_check.client(api_server.url) as anonymous:
        assert anonymous.get("/api/v1/analytics/dashboard", params={"token": VIEWER_TOKEN}).status_code == 401


def test_refresh_needs_the_admin_token(api_server: Server) -> None:
    for token in (READ_TOKEN, VIEWER_TOKEN):
        with openapi_check.client(api_server.url, token) as reader:
            answer = reader.post("/api/v1/analytics/refresh")
        assert answer.status_code == 403
        assert answer.json()["type"] == "urn:fawkes-analytics:problem:forbidden"
        assert "admin" in answer.json()["detail"]
    assert not list((api_server.reports / ".api" / "refresh").glob("*.json")) or all(
        json.loads(p.read_text())["status"] != "queued"
        for p in (api_server.reports / ".api" / "refresh").glob("*.json")
    )


def test_etag_revalidation_answers_304_and_a_new_file_a_new_tag(client: httpx.Client, api_server: Server) -> None:
    first = client.get("/api/v1/analytics/usage-trends")
    tag = first.headers["etag"]
    assert tag.startswith('"') and first.headers["cache-control"] == "private, no-cache"
    again = client.get("/api/v1/analytics/usage-trends", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    other = client.get("/api/v1/analytics/usage-trends", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.json() == first.json()
    # Another representation (the 24h run) has another tag; the old tag does not match it.
    day = client.get("/api/v1/analytics/usage-trends", params={"time_range": "24h"}, headers={"If-None-Match": tag})
    assert day.status_code == 200 and day.headers["etag"] != tag


def test_last_modified_revalidation(client: httpx.Client, api_server: Server) -> None:
    first = client.get("/api/v1/runs/usage_trends/latest/data.json")
    modified = parsedate_to_datetime(first.headers["last-modified"])
    data_file = (api_server.reports / "usage_trends" / "latest" / "data.json").resolve()
    assert abs(modified.timestamp() - data_file.stat().st_mtime) < 1
    same = client.get(
        "/api/v1/runs/usage_trends/latest/data.json", headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    assert same.status_code == 304
    earlier = format_datetime(modified.replace(year=modified.year - 1), usegmt=True)
    changed = client.get("/api/v1/runs/usage_trends/latest/data.json", headers={"If-Modified-Since": earlier})
    assert changed.status_code == 200 and changed.content == data_file.read_bytes()


def test_gzip_when_accepted_and_identity_otherwise(api_server: Server) -> None:
    with openapi_check.client(api_server.url, READ_TOKEN, headers={"Accept-Encoding": "gzip"}) as gzipping:
        packed = gzipping.get("/api/v1/analytics/dashboard")
        refused = gzipping.get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
    with openapi_check.client(api_server.url, READ_TOKEN, headers={"Accept-Encoding": "identity"}) as plain_client:
        plain = plain_client.get("/api/v1/analytics/dashboard")
    assert packed.headers["content-encoding"] == "gzip" and "Accept-Encoding" in packed.headers["vary"]
    assert "content-encoding" not in plain.headers
    # httpx decodes the gzip body (a broken stream would raise): the same document, a third the bytes.
    assert packed.json() == plain.json()
    assert int(packed.headers["content-length"]) < int(plain.headers["content-length"]) / 3
    assert packed.headers["etag"] != plain.headers["etag"]  # two representations, two tags
    assert "content-encoding" not in refused.headers


def test_head_answers_headers_only(client: httpx.Client) -> None:
    get = client.get("/api/v1/analytics/dashboard")
    head = client.head("/api/v1/analytics/dashboard")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == get.headers["content-length"]


def test_cors_is_off_by_default(client: httpx.Client) -> None:
    answer = client.get("/api/v1/analytics/dashboard", headers={"Origin": ORIGIN})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    preflight = client.options(
        "/api/v1/analytics/dashboard", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_wrong_method_is_a_405_problem(client: httpx.Client) -> None:
    answer = client.post("/api/v1/analytics/dashboard")
    assert answer.status_code == 405 and answer.headers["content-type"] == "application/problem+json"
    assert "POST" in answer.json()["detail"]


# --- a second server: loopback without any token, CORS configured, a broken run -------------


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No token at all (allowed on loopback only), one allowed origin, a corrupt published run
    and a source that cannot be opened (so a refresh fails)."""
    work = tmp_path_factory.mktemp("open-server")
    reports = work / "reports"
    broken = reports / "overview" / "20260101T000000Z"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text(
        json.dumps({"report": "overview", "status": "succeeded", "outputs": ["data.json"]})
    )
    (broken / "data.json").write_text('{"report": "overview", "results": {')  # cut off mid-write
    (reports / "overview" / "latest").symlink_to(broken.name)
    env = {
        "FAWKES_ANALYTICS_API_CORS_ORIGINS": ORIGIN,
        "FAWKES_ANALYTICS_SOURCE": f"duckdb://{work / 'missing' / 'folder' / 'events.duckdb'}",
    }
    server = start_server(work, reports, env)
    yield server
    stop_server(server)


def test_no_token_configured_on_loopback_means_open_like_the_dashboards(open_server: Server) -> None:
    with openapi_check.client(open_server.url) as anonymous:
        assert anonymous.get("/api/v1/runs").status_code == 200
        assert anonymous.get("/api/v1/analytics/usage-trends").status_code == 404  # open, and nothing published


def test_allowed_origin_gets_cors_headers_and_preflight(open_server: Server) -> None:
    with openapi_check.client(open_server.url) as browser:
        answer = browser.get("/api/v1/runs", headers={"Origin": ORIGIN})
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "Origin" in answer.headers["vary"]
        assert "ETag" in answer.headers["access-control-expose-headers"]
        stranger = browser.get("/api/v1/runs", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers
        preflight = browser.options(
            "/api/v1/analytics/refresh",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
        problem = browser.get("/api/v1/analytics/funnels/x", headers={"Origin": ORIGIN})
        assert problem.status_code == 404 and problem.headers["access-control-allow-origin"] == ORIGIN


def test_a_corrupt_published_file_is_a_500_problem_without_traceback(open_server: Server) -> None:
    with openapi_check.client(open_server.url) as anonymous:
        answer = anonymous.get("/api/v1/analytics/dashboard")
    assert answer.status_code == 500
    problem = answer.json()
    assert problem["type"] == "urn:fawkes-analytics:problem:internal"
    for leak in ("Traceback", "JSONDecodeError", "data.json", str(open_server.reports), "line "):
        assert leak not in answer.text
    deadline = time.monotonic() + 10
    while "JSONDecodeError" not in open_server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Traceback" in open_server.log() and "unreadable" in open_server.log()  # the details: server side


def test_a_failing_refresh_is_reported_failed_and_latest_stays(open_server: Server) -> None:
    before = (open_server.reports / "overview" / "latest").resolve()
    with openapi_check.client(open_server.url) as anonymous:
        accepted = anonymous.post("/api/v1/analytics/refresh", params={"time_range": "24h"})
        assert accepted.status_code == 202
        status_url = accepted.headers["location"]
        assert accepted.json()["steps"][1]["command"][-2:] == ["-p", "time_range=24h"]
        deadline = time.monotonic() + 120
        job = accepted.json()
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = anonymous.get(status_url).json()
    assert job["status"] == "failed", job
    assert job["steps"][0]["status"] == "failed" and job["steps"][0]["exit_code"] not in (0, None)
    assert job["steps"][1]["status"] == "pending"  # the run never started
    assert job["error"].startswith("step 'refresh' exited with code")
    assert "Traceback" not in job["error"]
    assert (open_server.reports / "overview" / "latest").resolve() == before
