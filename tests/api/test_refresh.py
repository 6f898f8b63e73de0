"""POST /api/v1/analytics/refresh end to end, and the admission rules on their own."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fawkes_analytics.api.problems import Problem
from fawkes_analytics.api.refresh import ABANDONED_AFTER_SECONDS, RefreshJob, RefreshJobs

from . import openapi_check
from .conftest import ADMIN_TOKEN, READ_TOKEN, Server


@pytest.mark.slow
def test_refresh_through_the_api_completes_and_moves_latest(api_server: Server) -> None:
    latest = api_server.reports / "overview" / "latest"
    before = latest.resolve().name
    with openapi_check.client(api_server.url, ADMIN_TOKEN) as admin:
        accepted = admin.post("/api/v1/analytics/refresh")
        assert accepted.status_code == 202
        job = accepted.json()
        status_url = accepted.headers["location"]
        assert status_url == job["href"] == f"/api/v1/analytics/refresh/{job['id']}"
        assert [s["command"][:2] for s in job["steps"]] == [
            ["fawkes-analytics", "refresh"],
            ["fawkes-analytics", "run"],
        ]

        # One at a time: a second request while this one is queued or running is refused.
        busy = admin.post("/api/v1/analytics/refresh")
        assert busy.status_code == 429
        assert busy.json()["type"] == "urn:fawkes-analytics:problem:refresh-running"
        assert busy.json()["running"] == job["id"] and int(busy.headers["retry-after"]) > 0

        deadline = time.monotonic() + 300
        seen = {job["status"]}
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = admin.get(status_url).json()
            seen.add(job["status"])
        assert job["status"] == "succeeded", job
        assert "running" in seen
        assert [(s["status"], s["exit_code"]) for s in job["steps"]] == [("succeeded", 0), ("succeeded", 0)]

    new = latest.resolve().name
    assert new != before and job["run"]["run_id"] == new
    record = json.loads((latest / "run.json").read_text())
    assert record["status"] == "succeeded" and record["started_at"] >= job["started_at"]
    with openapi_check.client(api_server.url, READ_TOKEN) as reader:
        dashboard = reader.get("/api/v1/analytics/dashboard").json()
        assert dashboard["run"]["run_id"] == new
        assert dashboard["data"] == json.loads((latest / "data.json").read_text())
        assert reader.get(job["run"]["href"]).json()["run_id"] == new
        assert reader.get("/api/v1/analytics/refresh/20990101T000000Z-00000000").status_code == 404


def _job(jobs: RefreshJobs, epoch: float, status: str = "succeeded") -> RefreshJob:
    job = RefreshJob(f"20260101T000000Z-{int(epoch):08x}", status, requested_at="", requested_epoch=epoch)
    jobs.save(job)
    return job


def test_hourly_budget_counts_a_rolling_hour(tmp_path: Path) -> None:
    now = 10_000.0
    jobs = RefreshJobs(tmp_path, per_hour=3, clock=lambda: now)
    # Three finished jobs at now-3500 s, now-1000 s and now-10 s: the hour holds 3 = the budget.
    history = [_job(jobs, now - age) for age in (3500, 1000, 10)]
    with pytest.raises(Problem) as refused:
        jobs.check(history, now)
    assert refused.value.kind == "rate-limited"
    # The oldest leaves the hour at now-3500+3600 = now+100: retry after 100 s.
    assert refused.value.headers["Retry-After"] == "100"
    jobs.check(history, now + 100)  # one left the hour: admitted (no exception)
    jobs.check(history[1:], now)  # two in the hour: admitted


def test_one_at_a_time_and_abandoned_jobs_stop_blocking(tmp_path: Path) -> None:
    now = 50_000.0
    jobs = RefreshJobs(tmp_path, per_hour=10, clock=lambda: now)
    running = _job(jobs, now - 60, "running")
    with pytest.raises(Problem) as refused:
        jobs.check([jobs.get(running.id)], now)
    assert refused.value.kind == "refresh-running" and refused.value.extra == {"running": running.id}
    # A job still "running" long after any step could have finished: its server died.
    stuck = _job(jobs, now - ABANDONED_AFTER_SECONDS - 1, "running")
    seen = jobs.get(stuck.id)
    assert seen.status == "failed" and "stopped" in seen.error
    jobs.check([seen], now)  # does not block


def test_zero_per_hour_turns_refresh_off(tmp_path: Path) -> None:
    jobs = RefreshJobs(tmp_path, per_hour=0)
    with pytest.raises(Problem) as refused:
        jobs.submit(None)
    assert refused.value.status == 403


def test_submit_saves_a_queued_job_with_the_cli_commands(tmp_path: Path) -> None:
    jobs = RefreshJobs(tmp_path, per_hour=2, clock=lambda: 1_796_000_000.0, python="/opt/py/bin/python")
    job = jobs.submit("30d")
    saved = jobs.get(job.id)
    assert saved.status == "queued" and saved.time_range == "30d"
    assert saved.steps[1].command[-2:] == ["-p", "time_range=30d"]
    # The children run this interpreter's CLI, into this reports folder; the status shows neither.
    argv = jobs._argv(saved.steps[1].command)
    assert argv[:3] == ["/opt/py/bin/python", "-m", "fawkes_analytics.cli"] and argv[-2:] == [
        "--reports-dir",
        str(tmp_path),
    ]
    assert str(tmp_path) not in json.dumps(saved.to_dict())
    with pytest.raises(Problem):
        jobs.submit(None)  # the queued job blocks the next one


def test_children_do_not_inherit_the_servers_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    from fawkes_analytics.api.refresh import _child_environment

    monkeypatch.setenv("FAWKES_ANALYTICS_API_ADMIN_TOKEN", "boss")
    monkeypatch.setenv("FAWKES_ANALYTICS_API_TOKENS_FILE", "/run/secrets/tokens")
    monkeypatch.setenv("FAWKES_ANALYTICS_METRICS_TOKEN", "scraper")
    monkeypatch.setenv("FAWKES_VOILA_TOKEN", "viewer")
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", "duckdb:///data/x.duckdb")
    env = _child_environment()
    assert not {"boss", "scraper", "viewer", "/run/secrets/tokens"} & set(env.values())
    assert env["FAWKES_ANALYTICS_SOURCE"] == "duckdb:///data/x.duckdb"
