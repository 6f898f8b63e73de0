"""Operator commands against a real SMTP server: `send RUN --to`, `send RUN --unconfirmed`,
`email-test`, and the List-Unsubscribe header of report emails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sched_support import SmtpServer, build_run_folder

from fawkes_analytics.cli import main
from fawkes_analytics.delivery import deliver
from fawkes_analytics.delivery.state import DeliveryLedger, idempotency_key
from fawkes_analytics.schedules.config import parse_schedule


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    for name, value in smtp_server.env().items():
        monkeypatch.setenv(name, value)
    return smtp_server


def delivery(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "run.json").read_text())["delivery"]


def test_send_resends_a_published_run_to_an_address(tmp_path: Path, smtp_env, capsys) -> None:
    run_dir = build_run_folder(tmp_path / "reports")
    code = main(
        [
            "send",
            f"overview/{run_dir.name}",
            "--to",
            "late@example.com",
            "--attach",
            "csv",
            "--reports-dir",
            str(tmp_path / "reports"),
        ]
    )
    assert code == 0 and f"sent overview/{run_dir.name} to late@example.com" in capsys.readouterr().out
    (mail_from, rcpt, _) = smtp_env.handler.messages[0]
    message = smtp_env.handler.parsed()
    assert rcpt == ["late@example.com"] and str(message["Subject"]).startswith("Product overview — ")
    assert [p.get_filename() for p in message.iter_attachments()] == ["pages.csv"]
    (entry,) = delivery(run_dir)
    assert entry["kind"] == "resend" and entry["state"] == "sent" and entry["message_id"] == message["Message-ID"]


def test_unconfirmed_recipients_are_resent_only_when_the_operator_says_so(tmp_path: Path, smtp_env, capsys) -> None:
    run_dir = build_run_folder(tmp_path / "reports")
    key = idempotency_key("yearly|overview|2026-01-01T00:00:00+00:00", "email", "report", "ana@example.com")
    DeliveryLedger(run_dir / "run.json").upsert(
        [
            {
                "key": key,
                "channel": "email",
                "kind": "report",
                "recipient": "ana@example.com",
                "state": "unconfirmed",
                "subject": "Product overview — 2026-01-01",
            }
        ]
    )
    assert main(["send", str(run_dir), "--unconfirmed"]) == 0
    assert [rcpt for _, rcpt, _ in smtp_env.handler.messages] == [["ana@example.com"]]
    assert str(smtp_env.handler.parsed()["Subject"]) == "Product overview — 2026-01-01"
    states = {(e["kind"], e["recipient"]): e["state"] for e in delivery(run_dir)}
    assert states == {("report", "ana@example.com"): "sent", ("resend", "ana@example.com"): "sent"}
    # nothing unconfirmed is left, so a second --unconfirmed has nobody to send to
    assert main(["send", str(run_dir), "--unconfirmed"]) == 2
    assert "nobody to send to" in capsys.readouterr().err and len(smtp_env.handler.messages) == 1


def test_send_refuses_a_failed_run_and_an_unknown_one(tmp_path: Path, smtp_env, capsys) -> None:
    failed = build_run_folder(tmp_path / "reports", status="failed", error="boom")
    assert main(["send", str(failed), "--to", "a@example.com"]) == 2
    assert main(["send", "overview/nope", "--to", "a@example.com", "--reports-dir", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "only published runs are resent" in err and "no published run 'overview/nope'" in err
    assert smtp_env.handler.messages == []


def test_email_test_sends_one_message_and_names_the_server(smtp_env, capsys) -> None:
    assert main(["email-test", "--to", "ops@example.com"]) == 0
    assert f"through 127.0.0.1:{smtp_env.port} (none)" in capsys.readouterr().out
    message = smtp_env.handler.parsed()
    assert message["Subject"] == "Fawkes Analytics: SMTP test" and message["To"] == "ops@example.com"


def test_email_test_against_a_dead_server_is_one_clear_line(monkeypatch, capsys) -> None:
    server = SmtpServer()  # never started: the port refuses connections
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    assert main(["email-test", "--to", "ops@example.com"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: could not send through 127.0.0.1:{server.port}") and "Traceback" not in err


@pytest.mark.parametrize(
    ("configured", "header"),
    [
        (None, "<mailto:reports@fawkes.test?subject=unsubscribe>"),
        ("unsubscribe@example.com", "<mailto:unsubscribe@example.com?subject=unsubscribe>"),
        ("https://reports.example.com/unsubscribe", "<https://reports.example.com/unsubscribe>"),
    ],
)
def test_report_emails_carry_a_list_unsubscribe_header(tmp_path: Path, smtp_server, configured, header) -> None:
    schedule = parse_schedule(
        {"cron": "0 7 * * *", "report": "overview", "email": {"to": ["ana@example.com"]}}, tmp_path / "daily.yaml"
    )
    extra = {"FAWKES_SMTP_LIST_UNSUBSCRIBE": configured} if configured else {}
    run_dir = build_run_folder(tmp_path / "reports")
    deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env(**extra))
    assert smtp_server.handler.parsed()["List-Unsubscribe"] == header
