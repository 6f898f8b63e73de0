"""Retention: each report keeps its runs by a policy; pruning never removes ``latest`` or a run
a pending delivery still needs; a schedule's own policy governs only the runs it started."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sched_support
from sched_support import FakeClock, build_run_folder

from fawkes_analytics import catalog
from fawkes_analytics.cli import main
from fawkes_analytics.retention import RetentionPolicy, prune
from fawkes_analytics.schedules import Scheduler, parse_schedule

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def runs_of(report_dir: Path, count: int, *, start: datetime = NOW, step: timedelta = timedelta(hours=1)) -> list[Path]:
    """``count`` run folders, oldest first, one ``step`` apart, ending at ``start``; latest -> newest."""
    folders = []
    for i in range(count):
        when = start - step * (count - 1 - i)
        folder = build_run_folder(report_dir.parent, report_dir.name, run_id=when.strftime("%Y%m%dT%H%M%SZ"), charts=())
        record = json.loads((folder / "run.json").read_text())
        record["started_at"] = when.isoformat()
        (folder / "run.json").write_text(json.dumps(record))
        folders.append(folder)
    (report_dir / "latest").symlink_to(folders[-1].name)
    return folders


def test_count_policy_keeps_the_newest_runs(tmp_path: Path) -> None:
    report_dir = tmp_path / "reports" / "overview"
    folders = runs_of(report_dir, 5)
    removed = prune(report_dir, RetentionPolicy(runs=2), now=NOW)
    assert sorted(removed) == folders[:3]
    assert sorted(p for p in report_dir.iterdir() if not p.is_symlink()) == folders[3:]


def test_age_policy_removes_runs_older_than_the_limit(tmp_path: Path) -> None:
    report_dir = tmp_path / "reports" / "overview"
    folders = runs_of(report_dir, 4, step=timedelta(days=1))  # 3, 2, 1 and 0 days old
    assert sorted(prune(report_dir, RetentionPolicy(days=1.5), now=NOW)) == folders[:2]


def test_latest_and_runs_needed_by_deliveries_are_never_pruned(tmp_path: Path) -> None:
    report_dir = tmp_path / "reports" / "overview"
    folders = runs_of(report_dir, 5)
    (report_dir / "latest").unlink()
    (report_dir / "latest").symlink_to(folders[0].name)  # latest is the oldest run (later runs failed)
    failed_delivery = json.loads((folders[1] / "run.json").read_text())
    failed_delivery["delivery"] = [{"key": "k", "state": "failed", "recipient": "a@example.com"}]
    (folders[1] / "run.json").write_text(json.dumps(failed_delivery))
    removed = prune(report_dir, RetentionPolicy(runs=1), protect=[folders[2]], now=NOW)
    assert sorted(removed) == [folders[3]]  # 4 is the newest (kept); 0 latest, 1 delivery, 2 pending: kept
    (tmp_path / "reports" / "overview" / ".tmp-x").mkdir()
    assert prune(report_dir, RetentionPolicy(runs=1), now=NOW, dry_run=True) == [folders[2]]


def test_a_schedule_policy_prunes_only_the_runs_of_that_schedule(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC))
    raw = {"name": "every5", "cron": "*/5 * * * *", "report": "overview", "retention": {"runs": 3}}
    schedule = parse_schedule(raw, Path("every5.yaml"), known_reports=None)
    manual = build_run_folder(tmp_path / "reports", "overview", run_id="20260101T000000Z", charts=())
    s = Scheduler(
        [schedule],
        state_dir=tmp_path / "state",
        reports_dir=tmp_path / "reports",
        runner=sched_support.ok_runner,
        clock=clock,
        isolation="inline",
    )
    for _ in range(6):
        s.run_once()
        clock.advance(minutes=5)
    runs = [p for p in (tmp_path / "reports" / "overview").iterdir() if not p.is_symlink()]
    scheduled = [p for p in runs if p != manual]
    assert len(scheduled) == 3 and manual.exists(), "3 scheduled runs kept; the manual run is not this policy's"
    assert all(json.loads((p / "run.json").read_text())["schedule"]["retention"] == {"runs": 3} for p in scheduled)


def test_the_catalog_gives_the_metrics_export_a_short_policy_and_a_default() -> None:
    assert catalog.report_retention("metrics_export") == RetentionPolicy(runs=12)
    assert catalog.report_retention("overview") == RetentionPolicy(runs=100)


def test_prune_command_applies_each_report_policy(tmp_path: Path, capsys, monkeypatch) -> None:
    report_dir = tmp_path / "reports" / "metrics_export"
    folders = runs_of(report_dir, 14, step=timedelta(minutes=5))
    monkeypatch.setenv("FAWKES_STATE_DIR", str(tmp_path / "state"))
    assert main(["prune", "--report", "metrics_export", "--dry-run", "--reports-dir", str(tmp_path / "reports")]) == 0
    assert "would remove 2 run(s)" in capsys.readouterr().out and all(f.exists() for f in folders)
    assert main(["prune", "--report", "metrics_export", "--reports-dir", str(tmp_path / "reports")]) == 0
    assert [f.exists() for f in folders] == [False, False] + [True] * 12
    assert os.path.islink(report_dir / "latest")


def broken_runner(report, parameters=None, **kwargs):
    raise RuntimeError("the run layer could not start")  # leaves no run folder: a stand-in record


def test_records_of_attempts_without_a_run_folder_are_pruned_too(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC))
    raw = {"name": "every5", "cron": "*/5 * * * *", "report": "overview", "retention": {"runs": 2}}
    s = Scheduler(
        [parse_schedule(raw, Path("every5.yaml"), known_reports=None)],
        state_dir=tmp_path / "state",
        reports_dir=tmp_path / "reports",
        runner=broken_runner,
        clock=clock,
        isolation="inline",
    )
    for _ in range(4):
        s.run_once()
        clock.advance(minutes=5)
    records = sorted(p.name for p in (tmp_path / "state" / "runs").glob("every5--*.json"))
    assert records == ["every5--overview--2026-05-01T101000Z--1.json", "every5--overview--2026-05-01T101500Z--1.json"]
