"""Interrupted runs leave nothing behind: no orphaned executor or kernel, no stale temporary
folder, no traceback; SIGTERM and Ctrl-C cancel cleanly and are recorded as cancelled.

Each test drives the real command line (``fawkes-analytics run`` / ``run-all`` / ``schedule --once``) on
tests/notebooks/hanging_report.ipynb, whose kernel sleeps until it is stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import yaml

from fawkes_analytics import runs

NOTEBOOKS = Path(__file__).parent / "notebooks"
REPO = Path(__file__).resolve().parents[1]


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environment = {
        **os.environ,
        "FAWKES_ANALYTICS_NOTEBOOKS_DIR": str(NOTEBOOKS),
        "FAWKES_ANALYTICS_REPORTS_DIR": str(tmp_path / "reports"),
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fawkes_analytics.cli", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_kernel(process: subprocess.Popen, timeout: float = 90) -> list[psutil.Process]:
    """The command's descendants once a Jupyter kernel runs among them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        family = psutil.Process(process.pid).children(recursive=True)
        for member in family:
            try:
                if any("ipykernel" in part for part in member.cmdline()):
                    time.sleep(1.0)  # let the kernel start executing the sleeping cell
                    return psutil.Process(process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("no kernel started")


def survivors(family: list[psutil.Process], timeout: float = 15) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(family, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_sigkill_of_run_takes_executor_and_kernel_along_and_the_next_run_sweeps_the_folder(
    demo_env, tmp_path: Path
) -> None:
    process = start(tmp_path, "run", "hanging_report")
    family = wait_for_kernel(process)
    assert len(family) >= 2  # the executor and its kernel
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert survivors(family) == [], "executor or kernel outlived a SIGKILLed run"
    report_dir = tmp_path / "reports" / "hanging_report"
    (stale,) = report_dir.glob(".tmp-*")  # nothing could clean up after SIGKILL

    record = runs.run_report(
        "hanging_report", {"seconds": 0}, notebooks=NOTEBOOKS, reports_dir=tmp_path / "reports", timeout=120
    )
    assert record.succeeded, record.error
    assert not stale.exists(), "the next run removes the abandoned temporary folder"
    assert list(report_dir.glob(".tmp-*")) == []


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_cancel_a_run_cleanly(demo_env, tmp_path: Path, sig: int, code: int) -> None:
    process = start(tmp_path, "run", "hanging_report")
    family = wait_for_kernel(process)
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code
    assert "Traceback" not in err and "Traceback" not in out
    assert f"cancelled by {signal.Signals(sig).name}" in err and len(err.strip().splitlines()) == 1, err
    assert survivors(family) == []
    report_dir = tmp_path / "reports" / "hanging_report"
    (record,) = [json.loads(p.read_text()) for p in report_dir.glob("*/run.json")]
    assert record["status"] == "cancelled" and "cancelled" in record["error"]
    assert not (report_dir / "latest").exists() and list(report_dir.glob(".tmp-*")) == []


@pytest.mark.slow
def test_sigkill_of_the_scheduler_stops_its_run_and_kernel(demo_env, tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    raw = {"name": "yearly", "cron": "0 0 1 1 *", "timezone": "UTC", "report": "hanging_report", "timeout": 300}
    (tmp_path / "schedules" / "yearly.yaml").write_text(yaml.safe_dump(raw))
    process = start(tmp_path, "schedule", "--once", "--dir", str(tmp_path / "schedules"))
    family = wait_for_kernel(process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert survivors(family, timeout=30) == [], "the attempt child, executor or kernel outlived the scheduler"
    # The attempt child got SIGTERM from the kernel when the scheduler died and recorded its run.
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "reports" / "hanging_report").glob("*/run.json")]
    assert record["status"] == "cancelled"


# --- run-all with several jobs ------------------------------------------------------------
def _two_reports(tmp_path: Path) -> dict[str, str]:
    """A notebooks folder with two reports that sleep for their ``seconds`` parameter."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("sleeper_a", "sleeper_b"):
        shutil.copy(NOTEBOOKS / "hanging_report.ipynb", folder / f"{name}.ipynb")
    return {"FAWKES_ANALYTICS_NOTEBOOKS_DIR": str(folder)}


def _records(tmp_path: Path) -> dict[str, dict]:
    return {p.parent.parent.name: json.loads(p.read_text()) for p in (tmp_path / "reports").glob("*/*/run.json")}


@pytest.mark.slow
def test_two_jobs_run_two_reports_at_the_same_time(demo_env, tmp_path: Path) -> None:
    process = start(tmp_path, "run-all", "--jobs", "2", "-p", "seconds=4", env=_two_reports(tmp_path))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "2 of 2 reports published" in out
    records = _records(tmp_path)
    assert sorted(records) == ["sleeper_a", "sleeper_b"]
    assert all(r["status"] == "succeeded" for r in records.values())
    a, b = (
        (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in records.values()
    )
    assert a[0] < b[1] and b[0] < a[1], "the two runs did not overlap"


@pytest.mark.slow
def test_sigterm_cancels_every_running_report(demo_env, tmp_path: Path) -> None:
    process = start(tmp_path, "run-all", "--jobs", "2", env=_two_reports(tmp_path))
    wait_for_kernel(process)
    family = wait_for_two_kernels(process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert "Traceback" not in err and "cancelled by SIGTERM" in err
    assert survivors(family) == []
    records = _records(tmp_path)
    assert sorted(records) == ["sleeper_a", "sleeper_b"]
    assert all(r["status"] == "cancelled" for r in records.values()), records
    assert list((tmp_path / "reports").glob("*/.tmp-*")) == []


def wait_for_two_kernels(process, timeout: float = 90):  # noqa: ANN001, ANN201
    """The command's descendants once two kernels run among them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        family = psutil.Process(process.pid).children(recursive=True)
        kernels = [p for p in family if _is_kernel(p)]
        if len(kernels) >= 2:
            time.sleep(1.0)
            return psutil.Process(process.pid).children(recursive=True)
        time.sleep(0.2)
    raise AssertionError("two kernels did not start")


def _is_kernel(member) -> bool:  # noqa: ANN001
    try:
        return any("ipykernel" in part for part in member.cmdline())
    except psutil.NoSuchProcess:
        return False
