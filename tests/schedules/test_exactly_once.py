"""Exactly-once delivery per schedule slot, against a real SMTP server and a real SIGKILL.

The scheduler is killed while the mail server holds the message: DATA was accepted but the
reply never came. A restarted scheduler must resume the slot's run (not recompute it under a
new run id), mark the unknown outcome ``unconfirmed`` and send nothing again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import yaml
from sched_support import SmtpServer, StallingHandler, read_calls

from fawkes_analytics.cli import main
from fawkes_analytics.delivery.email import message_id
from fawkes_analytics.schedules.scheduler import slot_key

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RECIPIENTS = ["ana@example.com", "bo@example.com", "cy@example.com"]


def scheduler(tmp_path: Path, smtp: SmtpServer, *args: str) -> subprocess.Popen:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(HERE), str(REPO / "lib")]),
        **smtp.env(FAWKES_SMTP_TIMEOUT="60"),
    )
    command = [
        sys.executable,
        "-m",
        "fawkes_analytics.schedules.cli",
        "schedule",
        "--dir",
        str(tmp_path / "schedules"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--state-dir",
        str(tmp_path / "state"),
        "--runner",
        "sched_support:ok_runner",
        *args,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_scheduler_killed_during_smtp_data_resumes_and_sends_one_message_per_recipient(tmp_path: Path, capsys) -> None:
    (tmp_path / "schedules").mkdir()
    raw = {
        "name": "yearly",
        "cron": "0 0 1 1 *",  # 1 January: every process started this year sees the same latest slot
        "timezone": "UTC",
        "report": "overview",
        "email": {"to": RECIPIENTS[:2], "cc": RECIPIENTS[2:]},
    }
    (tmp_path / "schedules" / "yearly.yaml").write_text(yaml.safe_dump(raw))
    smtp = SmtpServer()
    smtp.handler = StallingHandler()
    smtp.start()
    try:
        first = scheduler(tmp_path, smtp, "--once", "--inline")
        assert smtp.handler.data_received.wait(60), first.communicate(timeout=5)
        first.send_signal(signal.SIGKILL)  # killed between DATA and the server's reply
        first.wait(timeout=10)
        (run_json,) = (tmp_path / "reports" / "overview").glob("*/run.json")
        states = {e["recipient"]: e["state"] for e in json.loads(run_json.read_text())["delivery"]}
        assert states == dict.fromkeys(RECIPIENTS, "sending")  # the kill left the outcome unknown

        smtp.handler.stall.clear()
        second = scheduler(tmp_path, smtp, "--once", "--inline")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        time.sleep(0.5)  # let the stalled transaction finish: it must not count twice either
    finally:
        smtp.handler.stall.clear()
        smtp.stop()

    assert smtp.handler.per_recipient() == dict.fromkeys(RECIPIENTS, 1)
    assert len(read_calls(tmp_path / "reports")) == 1, "the restarted scheduler recomputed the report"
    record = json.loads(run_json.read_text())
    states = {e["recipient"]: e["state"] for e in record["delivery"]}
    assert states == dict.fromkeys(RECIPIENTS, "unconfirmed")
    assert "resuming overview" in err

    # Deterministic Message-ID: derived from schedule, report and slot, not from a random value.
    slot = f"{datetime.now(UTC).year}-01-01T00:00:00+00:00"
    expected = message_id(f"{slot_key('yearly', 'overview', slot)}|report", "fawkes.test")
    received = message_from_bytes(smtp.handler.messages[0][2], policy=policy.default)
    assert received["Message-ID"] == expected
    assert {e["message_id"] for e in record["delivery"]} == {expected}

    assert main(["history", "--reports-dir", str(tmp_path / "reports"), "--json"]) == 0
    listed = capsys.readouterr().out
    (row,) = json.loads(listed)
    assert row["delivery"] == "unconfirmed 3" and "sending" not in listed
