"""Planted secrets never reach any output of a scheduled run that fails with a driver-style
error: not the run folder, not the scheduler's stdout/stderr log, not `history --json`, not
the owners' failure email. The SMTP password is really used (the server requires a login)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from sched_support import SmtpServer, authenticator

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SMTP_PASSWORD = "planted-smtp-pw-4471"
OTHER = {
    "FAWKES_VOILA_TOKEN": "planted-voila-token-2290",
    "PLAUSIBLE_API_KEY": "planted-plausible-key-6180",
    "FAWKES_ANALYTICS_EXPERIMENTS_TOKEN": "planted-experiments-token-9035",
}
# The notebook fails with a driver-style error echoing credentials (assembled at run time).
FAILING = """parts = {"pw": ["planted", "pg", "pw", "5121"], "tok": ["planted", "access", "9"], "md": ["planted", "md", "3"]}
secret = {k: "-".join(v) for k, v in parts.items()}
raise RuntimeError(
    f"cannot connect to postgres://app:{secret['pw']}@db/x?access_token={secret['tok']} "
    f"(motherduck_token={secret['md']}, client_secret: {secret['tok']})"
)"""
ECHOED = ["planted-pg-pw-5121", "planted-access-9", "planted-md-3"]


@pytest.mark.slow
def test_secrets_stay_out_of_run_folder_logs_history_and_failure_email(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('time_range: str = "7d"'), nbformat.v4.new_code_cell(FAILING)]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "fawkes-analytics", "display_name": "Fawkes Analytics", "language": "python"}
    nbformat.write(nb, notebooks / "leaky.ipynb")
    (tmp_path / "schedules").mkdir()
    raw = {"name": "yearly", "cron": "0 0 1 1 *", "timezone": "UTC", "report": "leaky", "owners": ["owner@example.com"]}
    (tmp_path / "schedules" / "yearly.yaml").write_text(yaml.safe_dump(raw))

    server = SmtpServer(authenticator=authenticator("mailer", SMTP_PASSWORD), auth_require_tls=False).start()
    try:
        env = {
            **os.environ,
            **server.env(FAWKES_SMTP_USER="mailer", FAWKES_SMTP_PASSWORD=SMTP_PASSWORD),
            **OTHER,
            "FAWKES_ANALYTICS_NOTEBOOKS_DIR": str(notebooks),
            "FAWKES_ANALYTICS_REPORTS_DIR": str(tmp_path / "reports"),
        }
        command = [sys.executable, "-m", "fawkes_analytics.cli"]
        scheduled = subprocess.run(
            [*command, "schedule", "--once", "--inline", "--dir", str(tmp_path / "schedules"), "--log-level", "DEBUG"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        history = subprocess.run([*command, "history", "--json"], env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.stop()

    assert scheduled.returncode == 1, scheduled.stderr  # the run failed, as it should
    (mail,) = server.handler.messages
    run_dir = next((tmp_path / "reports" / "leaky").glob("2*"))
    outputs = {
        "stdout": scheduled.stdout,
        "stderr": scheduled.stderr,
        "history": history.stdout,
        "failure email": mail[2].decode("utf-8", errors="replace"),
        **{f"run folder {p.name}": p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()},
    }
    assert {"run folder error.json", "run folder notebook.ipynb", "run folder run.json"} <= set(outputs)
    for where, text in outputs.items():
        for secret in [SMTP_PASSWORD, *OTHER.values(), *ECHOED]:
            assert secret not in text, f"{secret} leaked into {where}"
    # Redacted, not dropped: the operator still sees what failed and where.
    record = json.loads((run_dir / "run.json").read_text())
    assert "postgres://app:***@db/x?access_token=***" in record["error"]
    assert "postgres://app:***@db/x" in outputs["failure email"] and "RuntimeError" in outputs["failure email"]
    assert json.loads(history.stdout)[0]["status"] == "failed"
