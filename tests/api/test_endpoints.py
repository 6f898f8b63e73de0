"""Every endpoint against the file it publishes, through the real server (OpenAPI-checked).

Each expected value is read from the run folder at assertion time (``latest`` resolved then),
so the tests hold whatever order they run in, the refresh test's new overview run included.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fawkes_analytics import catalog
from fawkes_analytics.api.documents import MEDIA_TYPES
from fawkes_analytics.export import prometheus as prom

from . import openapi_check
from .conftest import METRICS_TOKEN, READ_TOKEN, VIEWER_TOKEN, Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(api_server: Server) -> httpx.Client:
    with openapi_check.client(api_server.url, READ_TOKEN) as http:
        yield http


def latest(reports: Path, report: str) -> Path:
    return (reports / report / "latest").resolve()


def data_of(folder: Path) -> dict:
    return json.loads((folder / "data.json").read_text(encoding="utf-8"))


def run_json(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("area", "report"),
    [
        ("dashboard", "overview"),
        ("usage-trends", "usage_trends"),
        ("feature-adoption", "feature_adoption"),
        ("segments", "user_segments"),
    ],
)
def test_area_answers_the_latest_runs_data_json(
    client: httpx.Client, api_server: Server, area: str, report: str
) -> None:
    answer = client.get(f"/api/v1/analytics/{area}")
    folder = latest(api_server.reports, report)
    assert answer.status_code == 200
    body = answer.json()
    assert body["area"] == area
    assert body["data"] == data_of(folder)  # the published file, every number untouched
    assert body["run"]["run_id"] == folder.name and body["run"]["report"] == report
    assert body["run"]["status"] == run_json(folder)["status"] == "succeeded"
    assert body["run"]["time_range"] == run_json(folder)["data_range"]
    # Links of the run summary lead to its files.
    data_link = body["run"]["files"]["data.json"]
    assert client.get(data_link).content == (folder / "data.json").read_bytes()


def test_time_range_picks_the_newest_run_with_that_range(client: httpx.Client, api_server: Server) -> None:
    newest = latest(api_server.reports, "usage_trends")
    assert data_of(newest)["parameters"]["time_range"] == "7d"
    (older,) = [
        p for p in (api_server.reports / "usage_trends").iterdir() if p.is_dir() and not p.is_symlink() and p != newest
    ]
    day = client.get("/api/v1/analytics/usage-trends", params={"time_range": "24h"}).json()
    assert day["run"]["run_id"] == older.name != newest.name
    assert day["data"] == data_of(older)
    assert day["data"]["time_range"]["label"] == "24h"
    week = client.get("/api/v1/analytics/usage-trends", params={"time_range": "7d"}).json()
    assert week["run"]["run_id"] == newest.name


def test_time_range_without_a_run_is_a_404_naming_report_and_range(client: httpx.Client) -> None:
    answer = client.get("/api/v1/analytics/usage-trends", params={"time_range": "90d"})
    assert answer.status_code == 404
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert "'usage_trends'" in problem["detail"] and "time_range=90d" in problem["detail"]
    assert problem["report"] == "usage_trends" and problem["time_range"] == "90d"


def test_bad_time_range_is_a_400_naming_the_parameter_and_the_allowed_values(client: httpx.Client) -> None:
    answer = client.get("/api/v1/analytics/dashboard", params={"time_range": "2w"})
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["parameter"] == "time_range" and problem["allowed"] == ["1h", "6h", "24h", "7d", "30d", "90d"]
    assert "'2w'" in problem["detail"]
    unknown = client.get("/api/v1/analytics/dashboard", params={"range": "7d"})
    assert unknown.status_code == 400 and "'range'" in unknown.json()["detail"]


def test_experiments_list_and_one_experiment(client: httpx.Client, api_server: Server) -> None:
    folder = latest(api_server.reports, "experiment_results")
    published = data_of(folder)
    experiment_id = published["parameters"]["experiment_id"]
    listing = client.get("/api/v1/analytics/experiments").json()
    (entry,) = listing["experiments"]
    assert entry["experiment_id"] == experiment_id
    assert entry["name"] == published["results"]["experiment"]["name"]
    assert entry["decision"] == published["results"]["experiment"]["recommendation"]["decision"]
    one = client.get(entry["href"]).json()
    assert one["experiment_id"] == experiment_id and one["run"]["run_id"] == folder.name
    assert one["data"] == published["results"]["experiment"]


def test_unpublished_experiment_is_a_404_listing_the_published_ones(client: httpx.Client, api_server: Server) -> None:
    published_id = data_of(latest(api_server.reports, "experiment_results"))["parameters"]["experiment_id"]
    other = next(e for e in catalog.load().experiment_ids if e != published_id)
    answer = client.get(f"/api/v1/analytics/experiments/{other}")
    assert answer.status_code == 404
    problem = answer.json()
    assert problem["experiment_id"] == other and problem["published"] == [published_id]
    assert f"experiment_id={other}" in problem["detail"]  # says how to publish it


def test_every_catalog_funnel_and_an_unknown_one(client: httpx.Client, api_server: Server) -> None:
    folder = latest(api_server.reports, "funnels")
    results = data_of(folder)["results"]
    names = list(catalog.load().funnels)
    listing = client.get("/api/v1/analytics/funnels").json()
    assert [f["name"] for f in listing["funnels"]] == names
    for funnel in listing["funnels"]:
        body = client.get(funnel["href"]).json()
        assert body["funnel"] == funnel["name"] and body["run"]["run_id"] == folder.name
        assert body["data"] == results[f"funnel_{funnel['name']}"]
    missing = client.get("/api/v1/analytics/funnels/checkout")
    assert missing.status_code == 404
    assert "'checkout'" in missing.json()["detail"] and missing.json()["published"] == names


def test_run_history_is_every_run_json_newest_first(client: httpx.Client, api_server: Server) -> None:
    on_disk = [
        json.loads(p.read_text())
        for p in api_server.reports.glob("*/*/run.json")
        if not p.parent.is_symlink() and not p.parent.name.startswith(".")
    ]
    listed = client.get("/api/v1/runs", params={"limit": 1000}).json()["runs"]
    assert sorted((r["report"], r["run_id"]) for r in listed) == sorted((r["report"], r["run_id"]) for r in on_disk)
    starts = [r["started_at"] for r in listed]
    assert starts == sorted(starts, reverse=True)
    by_id = {(r["report"], r["run_id"]): r for r in on_disk}
    for run in listed:
        record = by_id[(run["report"], run["run_id"])]
        assert (run["status"], run["started_at"], run["duration_seconds"]) == (
            record["status"],
            record["started_at"],
            record["duration_seconds"],
        )
        assert "run_dir" not in run and "delivery" not in run  # no server paths, no recipients
    two = client.get("/api/v1/runs", params={"report": "usage_trends", "limit": 2}).json()["runs"]
    assert [r["report"] for r in two] == ["usage_trends", "usage_trends"]
    assert client.get("/api/v1/runs", params={"report": "nope"}).status_code == 404
    assert client.get("/api/v1/runs", params={"limit": "0"}).status_code == 400


def test_run_files_are_the_published_bytes_with_their_media_types(client: httpx.Client, api_server: Server) -> None:
    folder = latest(api_server.reports, "overview")
    files = [p for p in folder.rglob("*") if p.is_file()]
    served = [p for p in files if p.suffix in MEDIA_TYPES]
    assert {p.suffix for p in served} >= {".json", ".csv", ".html", ".png"}
    for path in served:
        name = path.relative_to(folder).as_posix()
        answer = client.get(f"/api/v1/runs/overview/{folder.name}/{name}")
        assert answer.status_code == 200, name
        assert answer.content == path.read_bytes()
        assert answer.headers["content-type"] == MEDIA_TYPES[path.suffix]
    via_latest = client.get("/api/v1/runs/overview/latest/report.html")
    assert via_latest.content == (folder / "report.html").read_bytes()
    assert via_latest.headers["content-location"] == f"/api/v1/runs/overview/{folder.name}/report.html"
    summary = client.get("/api/v1/runs/overview/latest").json()
    assert summary["run_id"] == folder.name and "report.html" in summary["files"]


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="PDF output needs Debian's chromium")
def test_pdf_is_served_as_a_pdf(client: httpx.Client, api_server: Server) -> None:
    folder = latest(api_server.reports, "overview")
    answer = client.get("/api/v1/runs/overview/latest/report.pdf")
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content == (folder / "report.pdf").read_bytes() and answer.content.startswith(b"%PDF-")


@pytest.mark.parametrize(
    "name",
    [
        "notebook.ipynb",
        "run.log",
        "%2E%2E/%2E%2E/usage_trends/latest/data.json",  # a published type, outside the run folder
        "%2E%2E/%2E%2E/metrics/analytics.prom",
        ".hidden.json",
        "nope.csv",
    ],
)
def test_unpublished_or_outside_files_are_404(client: httpx.Client, name: str) -> None:
    answer = client.get(f"/api/v1/runs/overview/latest/{name}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_metrics_is_the_published_exposition_with_every_family(api_server: Server) -> None:
    textfile = api_server.reports / "metrics" / "analytics.prom"
    with openapi_check.client(api_server.url, METRICS_TOKEN) as scraper:
        answer = scraper.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert answer.content == textfile.read_bytes()
    families = {f.name for f in text_string_to_metric_families(answer.text)}
    # Counters lose their _total suffix in the parser; every documented family is there.
    expected = {s.name.removesuffix("_total") for s in prom.SPECS}
    assert families == expected


def test_metrics_token_reads_metrics_only_and_viewer_token_reads_everything(api_server: Server) -> None:
    with openapi_check.client(api_server.url, METRICS_TOKEN) as scraper:
        refused = scraper.get("/api/v1/analytics/dashboard")
    assert refused.status_code == 403
    with openapi_check.client(api_server.url, VIEWER_TOKEN) as viewer:
        assert viewer.get("/api/v1/analytics/dashboard").status_code == 200
        assert viewer.get("/metrics").status_code == 200


def test_openapi_document_is_served(client: httpx.Client) -> None:
    answer = client.get("/api/v1/openapi.json")
    assert answer.json() == openapi_check.document()
    index = client.get("/api/v1").json()
    assert index["openapi"] == "/api/v1/openapi.json"
    for href in index["analytics"].values():
        assert client.get(href).status_code == 200, href
