"""The scheduler with a fake clock: catch-up, locks, concurrency, timeouts, retries, delivery."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import sched_support
from sched_support import FakeClock, SmtpServer, read_calls

from fawkes_analytics.errors import ParameterError
from fawkes_analytics.schedules import Scheduler, parse_schedule
from fawkes_analytics.schedules.history import collect


def schedule(name="hourly", cron="0 * * * *", tz="UTC", **extra):
    raw = {"name": name, "cron": cron, "timezone": tz, "report": "overview", **extra}
    return parse_schedule(raw, Path(f"{name}.yaml"), known_reports=None)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make(tmp_path, schedules, clock, runner=sched_support.ok_runner, **kwargs):
    kwargs.setdefault("isolation", "inline")
    return Scheduler(
        schedules, state_dir=tmp_path / "state", reports_dir=tmp_path / "reports", runner=runner, clock=clock, **kwargs
    )


def test_catch_up_runs_once_after_downtime(tmp_path):
    clock = FakeClock(utc("2026-05-01T10:00:30"))
    s = make(tmp_path, [schedule()], clock)
    assert [r.slot for r in s.run_once()] == ["2026-05-01T10:00:00+00:00"]
    clock.current = utc("2026-05-01T15:30")  # down from 10:00 to 15:30: slots 11..15 missed
    results = s.run_once()
    assert [r.slot for r in results] == ["2026-05-01T15:00:00+00:00"]
    assert s.run_once() == []  # nothing more at 15:30
    clock.current = utc("2026-05-01T16:00")
    assert [r.slot for r in s.run_once()] == ["2026-05-01T16:00:00+00:00"]
    assert len(read_calls(tmp_path / "reports")) == 3  # 10:00, 15:00 (once), 16:00
    assert s.read_state(s.schedules[0])["last_slot"] == "2026-05-01T16:00:00+00:00"


def test_catchup_off_skips_a_missed_slot(tmp_path):
    clock = FakeClock(utc("2026-05-01T10:00:10"))
    s = make(tmp_path, [schedule(catchup=False)], clock)
    s.run_once()
    clock.current = utc("2026-05-01T15:30")  # 15:00 is 30 min old, beyond the 5 min grace: skipped
    assert [r.outcome for r in s.run_once()] == ["missed"]
    clock.current = utc("2026-05-01T16:04")  # 16:00 is 4 min old: runs
    assert [r.outcome for r in s.run_once()] == ["ran"]
    assert len(read_calls(tmp_path / "reports")) == 2


def test_two_schedulers_never_run_the_same_slot(tmp_path):
    # Two schedulers (own lock objects, own clocks) start the same slots at the same instant.
    sched = schedule(parameters={"sleep": 0.4})
    for hour in ("10", "11", "12"):
        outcomes = []
        barrier = threading.Barrier(2)

        def go(outcomes=outcomes, barrier=barrier, hour=hour):
            s = make(tmp_path, [sched], FakeClock(utc(f"2026-05-01T{hour}:00:05")), runner=sched_support.slow_runner)
            barrier.wait()
            outcomes.extend(r.outcome for r in s.run_once())

        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) in (["locked", "ran"], ["already_done", "ran"], ["ran"])
    starts = [c for c in read_calls(tmp_path / "reports") if c.get("phase") == "start"]
    assert len(starts) == 3


def test_global_concurrency_limit(tmp_path):
    active, peak, lock = [0], [0], threading.Lock()

    def runner(report, parameters=None, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and peak[0] < 2:  # wait until a second run overlaps
            time.sleep(0.01)
        time.sleep(0.1)
        with lock:
            active[0] -= 1
        return sched_support.ok_runner(report, parameters, reports_dir=kwargs["reports_dir"])

    s = make(
        tmp_path,
        [schedule(name=f"s{i}") for i in range(4)],
        FakeClock(utc("2026-05-01T10:00")),
        runner=runner,
        max_concurrent=2,
    )
    results = s.run_once()
    assert sorted(r.outcome for r in results) == ["ran"] * 4
    assert peak[0] == 2


@pytest.mark.slow
def test_hung_run_is_killed_at_its_timeout_and_retried(tmp_path):
    # The first attempt hangs and ignores its timeout (1 s); the watchdog kills it at
    # timeout + margin (1 + 15 s, the margin covers starting the child, slow on a loaded
    # machine); after the 30 s back-off (fake clock) the retry succeeds.
    clock = FakeClock(utc("2026-05-01T10:00"))
    sched = schedule(timeout=1, retries=2, retry_backoff=30)
    s = make(
        tmp_path, [sched], clock, runner=sched_support.hang_first_runner, isolation="process", watchdog_margin=15.0
    )
    started = time.monotonic()
    (result,) = s.run_once()
    assert time.monotonic() - started < 100  # the 120 s hang was cut short
    assert [a.status for a in result.attempts] == ["timed_out", "succeeded"]
    assert "killed by the scheduler" in result.attempts[0].error
    assert clock.sleeps == [30.0]
    calls = read_calls(tmp_path / "reports")
    assert len(calls) == 2
    assert not psutil.pid_exists(calls[0]["pid"]) or psutil.Process(calls[0]["pid"]).status() == psutil.STATUS_ZOMBIE
    rows = collect(tmp_path / "reports", tmp_path / "state")
    assert sorted((r.status, r.attempt) for r in rows) == [("succeeded", 2), ("timed_out", 1)]


def test_failures_retry_with_backoff_and_mail_the_owners_once(tmp_path, smtp_server):
    clock = FakeClock(utc("2026-05-01T10:00"))
    sched = schedule(
        parameters={"status": "failed"},
        retries=2,
        retry_backoff=10,
        owners=["owner@example.com"],
        email={"to": ["team@example.com"]},
    )
    s = make(tmp_path, [sched], clock, env=smtp_server.env())
    (result,) = s.run_once()
    assert [a.status for a in result.attempts] == ["failed"] * 3
    assert clock.sleeps == [10.0, 20.0]  # exponential back-off
    assert len(smtp_server.handler.messages) == 1
    _, rcpt, _ = smtp_server.handler.messages[0]
    assert rcpt == ["owner@example.com"]
    assert "ZeroDivisionError" in smtp_server.handler.parsed().get_content()
    assert s.read_state(sched)["last_slot"] == "2026-05-01T10:00:00+00:00"  # slot consumed, not re-run forever


def test_parameter_error_is_not_retried(tmp_path):
    def runner(report, parameters=None, **kwargs):
        sched_support.record_call(kwargs["reports_dir"], report)
        raise ParameterError("time_range", "unknown range '2w'", ["1h", "7d"])

    s = make(tmp_path, [schedule(retries=3)], FakeClock(utc("2026-05-01T10:00")), runner=runner)
    (result,) = s.run_once()
    assert len(result.attempts) == 1 and "ParameterError" in result.attempts[0].error
    assert len(read_calls(tmp_path / "reports")) == 1


def test_smtp_down_keeps_report_and_a_later_retry_sends_exactly_once(tmp_path):
    server = SmtpServer()  # down
    clock = FakeClock(utc("2026-05-01T10:00"))
    sched = schedule(email={"to": ["team@example.com"]})
    s = make(tmp_path, [sched], clock, env=server.env())
    (result,) = s.run_once()
    run_dir = Path(result.attempts[-1].run_dir)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "succeeded" and record["delivery"][0]["state"] == "failed"
    assert record["schedule"] == {"name": "hourly", "slot": "2026-05-01T10:00:00+00:00", "attempt": 1}
    assert (run_dir / "report.html").exists()
    assert len(s.read_state(sched)["pending_deliveries"]) == 1

    server.start()
    try:
        clock.advance(seconds=30)  # before the first delivery retry (60 s): nothing sent
        s.run_once()
        assert server.handler.messages == []
        clock.advance(seconds=31)
        s.run_once()
        clock.advance(minutes=10)
        s.run_once()
    finally:
        server.stop()
    assert len(server.handler.messages) == 1
    assert s.read_state(sched)["pending_deliveries"] == []
    assert json.loads((run_dir / "run.json").read_text())["delivery"][0]["state"] == "sent"
    assert len(read_calls(tmp_path / "reports")) == 1  # the report itself was not re-run
    (row,) = collect(tmp_path / "reports", tmp_path / "state")
    assert row.delivery == "sent 1" and row.schedule == "hourly" and row.status == "succeeded"
