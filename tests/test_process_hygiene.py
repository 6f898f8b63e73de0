"""Interrupted runs leave nothing behind: no orphaned executor or kernel, no stale temporary
folder, no traceback; SIGTERM and Ctrl-C cancel cleanly and are recorded as cancelled.

Each test drives the real command line (``fawkes-analytics run`` / ``schedule --once``) on
tests/notebooks/hanging_report.ipynb, whose kernel sleeps until it is stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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
