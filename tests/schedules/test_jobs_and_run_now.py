"""Command jobs (a fawkes-analytics sub-command on a schedule) under the same locks, timeouts,
retries, failure emails and history as reports; and `schedule --run-now NAME`.

The lead's `refresh` command does not exist yet; `refresh-cache` (cheap, harmless) and
`import-logs` on a FIFO (blocks forever: a hung job) stand in for it."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import sched_support
import yaml
from sched_support import FakeClock, read_calls

from fawkes_analytics.errors import ConfigError
from fawkes_analytics.schedules import Scheduler, load_schedule, parse_schedule
from fawkes_analytics.schedules.cli import main as schedule_main
from fawkes_analytics.schedules.config import KNOWN_REPORTS
from fawkes_analytics.schedules.history import collect

NOW = datetime(2026, 5, 4, 5, 30, tzinfo=UTC)


def command_schedule(tmp_path: Path, **raw) -> object:
    raw = {"name": "refresh", "cron": "*/5 * * * *", "timezone": "UTC", **raw}
    return parse_schedule(raw, tmp_path / "refresh.yaml", known_reports=None, known_commands=None)


def make(tmp_path: Path, schedules: list, **kwargs) -> Scheduler:
    return Scheduler(
        schedules,
        state_dir=tmp_path / "state",
        reports_dir=tmp_path / "reports",
        clock=FakeClock(NOW),
        isolation="inline",
        **kwargs,
    )


@pytest.mark.slow
def test_a_command_job_runs_in_its_slot_and_is_listed_in_history(tmp_path: Path) -> None:
    schedule = command_schedule(tmp_path, command="refresh-cache", args=["--cache-dir", str(tmp_path / "cache")])
    (result,) = make(tmp_path, [schedule]).run_once()
    (attempt,) = result.attempts
    assert attempt.status == "succeeded" and attempt.report == "command:refresh-cache"
    assert "expired 0 cached response(s)" in Path(attempt.extra["log"]).read_text()
    (row,) = collect(tmp_path / "reports", tmp_path / "state")
    assert row.schedule == "refresh" and row.status == "succeeded"
    assert row.report == f"fawkes-analytics refresh-cache --cache-dir {tmp_path / 'cache'}"


@pytest.mark.slow
def test_a_failing_command_is_retried_and_the_owners_are_mailed_once(tmp_path: Path, smtp_server) -> None:
    schedule = command_schedule(
        tmp_path, command="refresh-cache", args=["--bogus"], retries=1, retry_backoff=30, owners=["ops@example.com"]
    )
    scheduler = make(tmp_path, [schedule], env=smtp_server.env())
    (result,) = scheduler.run_once()
    assert [a.status for a in result.attempts] == ["failed", "failed"]
    assert "exited with code 2" in result.attempts[-1].error and "--bogus" in result.attempts[-1].error
    assert scheduler.clock.sleeps == [30.0]
    (_, rcpt, _) = smtp_server.handler.messages[0]
    assert len(smtp_server.handler.messages) == 1 and rcpt == ["ops@example.com"]
    assert str(smtp_server.handler.parsed()["Subject"]).startswith("[FAILED]")


@pytest.mark.slow
def test_a_hung_command_is_killed_at_its_timeout(tmp_path: Path) -> None:
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: never
    schedule = command_schedule(
        tmp_path, command="import-logs", args=[str(fifo), "--output", str(tmp_path / "x.duckdb")], timeout=3
    )
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    (result,) = make(tmp_path, [schedule]).run_once()
    (attempt,) = result.attempts
    assert attempt.status == "timed_out" and "timeout of 3 s" in attempt.error
    assert attempt.extra["duration_seconds"] < 20
    assert [p for p in psutil.Process().children(recursive=True) if p.pid not in before] == []


@pytest.mark.parametrize(("command", "fragment"), [("refresh-cach", "unknown command"), ("serve", "unknown command")])
def test_unknown_or_long_running_commands_are_refused_when_the_file_is_loaded(
    tmp_path: Path, command: str, fragment: str
) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"cron: '*/5 * * * *'\ncommand: {command}\n")
    with pytest.raises(ConfigError) as caught:
        load_schedule(path, KNOWN_REPORTS)
    assert caught.value.key == "command" and caught.value.line == 2 and fragment in caught.value.problem
    assert "refresh-cache" in caught.value.problem and "'schedule'" not in caught.value.problem


def test_a_command_job_has_no_report_email(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a command job has no report"):
        command_schedule(tmp_path, command="refresh-cache", email={"to": ["a@example.com"]})


def test_run_now_runs_a_schedule_outside_its_slots_without_consuming_one(tmp_path: Path) -> None:
    raw = {"name": "weekly", "cron": "0 6 * * 1", "timezone": "UTC", "report": "overview"}
    weekly = parse_schedule(raw, Path("weekly.yaml"), known_reports=None)
    scheduler = make(tmp_path, [weekly], runner=sched_support.ok_runner)
    scheduler.run_once()  # Monday 06:00 slot of this week... not yet due on Monday 05:30: last week's slot runs
    before = scheduler.read_state(weekly)["last_slot"]
    result = scheduler.run_now(weekly)
    assert result.outcome == "ran" and result.slot == NOW.isoformat()
    assert scheduler.read_state(weekly)["last_slot"] == before, "the cron slot is untouched"
    assert len(read_calls(tmp_path / "reports")) == 2


def test_schedule_run_now_command(tmp_path: Path, capsys) -> None:
    (tmp_path / "schedules").mkdir()
    raw = {"name": "weekly", "cron": "0 6 * * 1", "timezone": "UTC", "report": "overview"}
    (tmp_path / "schedules" / "weekly.yaml").write_text(yaml.safe_dump(raw))
    common = ["schedule", "--dir", str(tmp_path / "schedules"), "--reports-dir", str(tmp_path / "reports")]
    common += ["--runner", "sched_support:ok_runner", "--inline"]
    assert schedule_main([*common, "--run-now", "weekly"]) == 0
    assert "weekly: slot " in capsys.readouterr().out and len(read_calls(tmp_path / "reports")) == 1
    assert schedule_main([*common, "--run-now", "daily"]) == 2
    assert "unknown schedule(s) daily" in capsys.readouterr().err
