"""The scheduler as separate processes (``schedule --once`` twice at once, ``schedule`` with
SIGTERM) and through the real run layer (runs.run_report with tiny notebooks)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
import yaml
from sched_support import FakeClock, read_calls

from fawkes_analytics.schedules import Scheduler, parse_schedule

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def cli(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(REPO / "lib")]))
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
        "sched_support:slow_runner",
        *args,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_schedule(tmp_path: Path, sleep: float) -> None:
    # Fires on 1 January only: every process started today sees the same latest slot.
    (tmp_path / "schedules").mkdir()
    raw = {
        "name": "yearly",
        "cron": "0 0 1 1 *",
        "timezone": "UTC",
        "report": "overview",
        "parameters": {"sleep": sleep},
    }
    (tmp_path / "schedules" / "yearly.yaml").write_text(yaml.safe_dump(raw))


@pytest.mark.slow
def test_two_scheduler_processes_never_run_the_same_slot(tmp_path):
    write_schedule(tmp_path, sleep=2)
    procs = [cli(tmp_path, "--once"), cli(tmp_path, "--once")]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    starts = [c for c in read_calls(tmp_path / "reports") if c.get("phase") == "start"]
    assert len(starts) == 1
    said = "".join(out for out, _ in outputs)
    assert "ran" in said and ("locked" in said or "already_done" in said)


def wait_for_start(tmp_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.get("phase") == "start" for c in read_calls(tmp_path / "reports")):
            return
        time.sleep(0.1)
    raise AssertionError("the run never started")


@pytest.mark.slow
def test_sigterm_lets_the_current_run_finish(tmp_path):
    write_schedule(tmp_path, sleep=2)
    proc = cli(tmp_path, "--grace", "60")
    wait_for_start(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [c["phase"] for c in read_calls(tmp_path / "reports")] == ["start", "end"]
    state = json.loads((tmp_path / "state" / "yearly.state.json").read_text())
    assert state["last_slot"].startswith(f"{datetime.now(UTC).year}-01-01T00:00")


@pytest.mark.slow
def test_sigterm_after_the_grace_period_interrupts_and_the_slot_runs_again(tmp_path):
    write_schedule(tmp_path, sleep=120)
    proc = cli(tmp_path, "--grace", "1")
    wait_for_start(tmp_path)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 30
    assert [c["phase"] for c in read_calls(tmp_path / "reports")] == ["start", "interrupted"]
    state_file = tmp_path / "state" / "yearly.state.json"
    assert "last_slot" not in (json.loads(state_file.read_text()) if state_file.exists() else {})
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "state" / "runs").glob("*.json")]
    assert record["status"] == "interrupted"


# ----- through the real run layer ---------------------------------------------------------------

TINY = """
import json, os, pathlib
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
out = pathlib.Path(os.environ["FAWKES_ANALYTICS_RUN_DIR"])
(out / "charts").mkdir(exist_ok=True)
fig, ax = plt.subplots(figsize=(3, 2))
ax.bar(["a", "b"], [visitors, 3])
fig.savefig(out / "charts" / "visitors.png")
kpis = {"visitors": {"label": "Visitors", "value": visitors, "previous": 4, "change": 25.0, "change_unit": "percent", "unit": ""}}
(out / "data.json").write_text(json.dumps({"report": "tiny", "title": "Tiny report", "kpis": kpis, "tables": {}}))
print("visitors", visitors)
"""


def tiny_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("visitors: int = 5")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(TINY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
def test_real_run_layer_runs_mails_and_retries_a_hung_notebook(tmp_path, monkeypatch, smtp_server):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    tiny_notebook(notebooks / "tiny.ipynb")
    shutil.copy(REPO / "tests" / "notebooks" / "hanging_report.ipynb", notebooks / "hanging_report.ipynb")
    monkeypatch.setenv("FAWKES_ANALYTICS_NOTEBOOKS_DIR", str(notebooks))
    tiny = parse_schedule(
        {
            "name": "tiny",
            "cron": "0 7 * * *",
            "timezone": "Europe/Berlin",
            "report": "tiny",
            "parameters": {"visitors": 5},
            "email": {"to": ["team@example.com"], "subject": "{title} — {date}"},
            "timeout": 120,
        },
        tmp_path / "tiny.yaml",
        known_reports=None,
    )
    hanging = parse_schedule(
        {
            "name": "hanging",
            "cron": "0 7 * * *",
            "timezone": "Europe/Berlin",
            "report": "hanging_report",
            "parameters": {"seconds": 600},
            "owners": ["owner@example.com"],
            "timeout": 4,
            "retries": 1,
            "retry_backoff": 45,
        },
        tmp_path / "hanging.yaml",
        known_reports=None,
    )
    # 2026-05-04 05:30 UTC = 07:30 CEST: the 07:00 slot (05:00 UTC) of both schedules is due
    clock = FakeClock(datetime(2026, 5, 4, 5, 30, tzinfo=UTC))
    s = Scheduler(
        [tiny, hanging],
        state_dir=tmp_path / "state",
        reports_dir=tmp_path / "reports",
        clock=clock,
        env=smtp_server.env(),
        watchdog_margin=60,
        max_concurrent=2,
    )
    results = {r.schedule: r for r in s.run_once()}

    ok = results["tiny"].attempts
    assert [a.status for a in ok] == ["succeeded"]
    run_dir = Path(ok[0].run_dir)
    assert (tmp_path / "reports" / "tiny" / "latest").resolve() == run_dir
    record = json.loads((run_dir / "run.json").read_text())
    assert record["delivery"][0]["state"] == "sent" and record["schedule"]["name"] == "tiny"

    hung = results["hanging"].attempts
    assert [a.status for a in hung] == ["timed_out", "timed_out"]  # killed by runs.py at 4 s, retried once
    assert "timeout of 4 s" in hung[0].error
    assert clock.sleeps == [45.0]

    by_rcpt = {tuple(rcpt): raw for _, rcpt, raw in smtp_server.handler.messages}
    assert set(by_rcpt) == {("team@example.com",), ("owner@example.com",)}
    from email import message_from_bytes, policy

    report_mail = message_from_bytes(by_rcpt[("team@example.com",)], policy=policy.default)
    assert str(report_mail["Subject"]) == "Tiny report — 2026-05-04"
    html = report_mail.get_body(preferencelist=("html",)).get_content()
    (image,) = [p for p in report_mail.walk() if p.get_content_type() == "image/png"]
    assert f"cid:{str(image['Content-ID']).strip().strip('<>')}" in html
    assert image.get_content() == (run_dir / "charts" / "visitors.png").read_bytes()
    failure = message_from_bytes(by_rcpt[("owner@example.com",)], policy=policy.default)
    assert str(failure["Subject"]).startswith("[TIMED_OUT]") and "timeout of 4 s" in failure.get_content()
