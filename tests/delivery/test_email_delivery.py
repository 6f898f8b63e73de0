"""Report and failure emails through a real SMTP server (aiosmtpd on loopback), parsed back
with the standard email parser."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from sched_support import SmtpServer, authenticator, build_run_folder, self_signed_cert, server_tls_context

from fawkes_analytics.delivery import deliver
from fawkes_analytics.delivery.email import SmtpSettings
from fawkes_analytics.delivery.state import DeliveryLedger, idempotency_key
from fawkes_analytics.errors import ConfigError
from fawkes_analytics.schedules.config import parse_schedule

TO = ["ana@example.com", "bo@example.com"]
CC = ["cy@example.com"]
OWNERS = ["owner@example.com"]


def make_schedule(tmp_path: Path, **email) -> object:
    raw = {
        "cron": "0 7 * * *",
        "timezone": "Europe/Berlin",
        "report": "overview",
        "outputs": ["html", "pdf", "csv", "json"],
        "owners": OWNERS,
        "email": {"to": TO, "cc": CC, "subject": "{title} — {date}", **email},
    }
    return parse_schedule(raw, tmp_path / "daily.yaml")


def parts_by_type(msg) -> dict[str, list]:
    out: dict[str, list] = {}
    for part in msg.walk():
        out.setdefault(part.get_content_type(), []).append(part)
    return out


def test_report_email_has_recipients_subject_parts_inline_charts_and_intact_attachments(tmp_path, smtp_server):
    run_dir = build_run_folder(tmp_path / "reports", pdf_bytes=2000)
    schedule = make_schedule(tmp_path, attach=["pdf", "csv"])

    outcome = deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env())

    assert sorted(outcome.sent) == sorted(TO + CC)
    assert len(smtp_server.handler.messages) == 1
    mail_from, rcpt_tos, _ = smtp_server.handler.messages[0]
    assert mail_from == "reports@fawkes.test"
    assert sorted(rcpt_tos) == sorted(TO + CC)
    msg = smtp_server.handler.parsed()
    assert msg["To"] == ", ".join(TO) and msg["Cc"] == ", ".join(CC)
    # no slot given: {date} is today's date in Berlin; the title comes from data.json
    assert re.fullmatch(r"Product overview — \d{4}-\d{2}-\d{2}", str(msg["Subject"]))
    assert msg.get_content_type() == "multipart/mixed"

    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    # KPIs from data.json: 1234 visitors (+23.4 %), bounce rate 42.5 % (+2.5 percentage points)
    assert "Visitors" in text and "1,234" in text and "+23.4%" in text and "+2.5 pp" in text
    assert "1,234" in html and "42.5%" in html and "+2.5 pp" in html
    link = f"https://reports.fawkes.test/overview/{run_dir.name}/report.html"
    assert link in text and link in html
    assert "data:image" not in html

    parts = parts_by_type(msg)
    assert len(parts["multipart/related"]) == 1
    images = parts["image/png"]
    referenced = re.findall(r'src="cid:([^"]+)"', html)
    assert len(referenced) == 2 == len(images)
    by_cid = {img["Content-ID"].strip("<>"): img for img in images}
    assert set(referenced) == set(by_cid)
    for cid in referenced:
        image = by_cid[cid]
        assert image.get_content_disposition() == "inline"
        assert image.get_content() == (run_dir / "charts" / image.get_filename()).read_bytes()

    attachments = {
        a.get_filename(): a.get_content() for a in msg.iter_attachments() if a.get_content_disposition() == "attachment"
    }
    assert set(attachments) == {"report.pdf", "pages.csv"}
    assert attachments["report.pdf"] == (run_dir / "report.pdf").read_bytes()
    csv = attachments["pages.csv"]
    assert (csv if isinstance(csv, bytes) else csv.encode()) == (run_dir / "pages.csv").read_bytes()

    record = json.loads((run_dir / "run.json").read_text())
    assert {e["recipient"]: e["state"] for e in record["delivery"]} == dict.fromkeys(TO + CC, "sent")
    assert all(e["key"] == idempotency_key(run_dir.name, "email", "report", e["recipient"]) for e in record["delivery"])


def test_oversized_email_leaves_out_attachments_and_links_to_the_report(tmp_path, smtp_server):
    run_dir = build_run_folder(tmp_path / "reports", pdf_bytes=300_000)
    schedule = make_schedule(tmp_path, attach=["pdf"], max_size_mb=0.2)  # 0.2 MB < the 300 kB PDF (base64: ~400 kB)

    deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env())

    msg = smtp_server.handler.parsed()
    raw_size = len(smtp_server.handler.messages[0][2])
    assert raw_size <= 0.2 * 1024 * 1024
    assert [a.get_filename() for a in msg.iter_attachments() if a.get_content_disposition() == "attachment"] == []
    assert len(parts_by_type(msg)["image/png"]) == 2  # charts still inline
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Attachments were left out" in text and f"/overview/{run_dir.name}/report.html" in text
    entry = json.loads((run_dir / "run.json").read_text())["delivery"][0]
    assert entry["omitted"] == "attachments" and entry["state"] == "sent"


def test_on_threshold_sends_only_when_the_kpi_crosses(tmp_path, smtp_server):
    # data.json says bounce_rate = 42.5: not above 70 -> skipped; above 40 -> sent
    run_dir = build_run_folder(tmp_path / "reports")
    quiet = make_schedule(tmp_path, send="on_threshold", threshold={"kpi": "bounce_rate", "above": 70})
    outcome = deliver(quiet, report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env())
    assert smtp_server.handler.messages == []
    assert outcome.skipped == ["bounce_rate = 42.5, not above 70"]
    assert [e["state"] for e in json.loads((run_dir / "run.json").read_text())["delivery"]] == ["skipped"]

    other = build_run_folder(tmp_path / "reports")
    loud = make_schedule(tmp_path, send="on_threshold", threshold={"kpi": "bounce_rate", "above": 40})
    deliver(loud, report="overview", run_dir=other, status="succeeded", env=smtp_server.env())
    assert len(smtp_server.handler.messages) == 1


def test_failed_run_mails_the_owners_with_the_error(tmp_path, smtp_server):
    run_dir = build_run_folder(tmp_path / "reports", status="failed", error="ZeroDivisionError: division by zero")
    schedule = make_schedule(tmp_path)

    outcome = deliver(
        schedule,
        report="overview",
        run_dir=run_dir,
        status="failed",
        error="ZeroDivisionError: division by zero",
        env=smtp_server.env(),
    )

    assert outcome.sent == OWNERS
    _, rcpt, _ = smtp_server.handler.messages[0]
    assert rcpt == OWNERS
    msg = smtp_server.handler.parsed()
    assert str(msg["Subject"]).startswith("[FAILED] Product overview — ")
    body = msg.get_content()
    assert "ZeroDivisionError: division by zero" in body and str(run_dir) in body
    states = {(e["kind"], e["state"]) for e in json.loads((run_dir / "run.json").read_text())["delivery"]}
    assert states == {("failure", "sent"), ("report", "skipped")}


def test_on_failure_schedule_skips_successful_runs(tmp_path, smtp_server):
    run_dir = build_run_folder(tmp_path / "reports")
    schedule = make_schedule(tmp_path, send="on_failure")
    outcome = deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env())
    assert smtp_server.handler.messages == [] and outcome.skipped == ["send: on_failure and the run succeeded"]


def test_smtp_down_marks_failed_keeps_the_report_and_a_retry_sends_exactly_once(tmp_path):
    server = SmtpServer()  # not started yet: connection refused
    run_dir = build_run_folder(tmp_path / "reports")
    schedule = make_schedule(tmp_path)

    first = deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=server.env())
    assert first.sent == [] and sorted(first.failed) == sorted(TO + CC) and first.needs_retry
    entries = json.loads((run_dir / "run.json").read_text())["delivery"]
    assert {e["state"] for e in entries} == {"failed"}
    assert all("ConnectionRefusedError" in e["error"] for e in entries)
    assert (run_dir / "report.html").exists() and (run_dir / "data.json").exists()

    server.start()
    try:
        second = deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=server.env())
        third = deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=server.env())
    finally:
        server.stop()
    assert sorted(second.sent) == sorted(TO + CC) and not second.needs_retry
    assert third.sent == []
    assert len(server.handler.messages) == 1
    entries = json.loads((run_dir / "run.json").read_text())["delivery"]
    assert {e["state"] for e in entries} == {"sent"} and {e["attempts"] for e in entries} == {2}


def test_crash_between_send_and_record_never_sends_twice(tmp_path, smtp_server):
    # A previous process recorded 'sending' for ana and died: we cannot know whether the server
    # took the message, so ana is not mailed again; bo and cy (never attempted) are.
    run_dir = build_run_folder(tmp_path / "reports")
    key = idempotency_key(run_dir.name, "email", "report", "ana@example.com")
    DeliveryLedger(run_dir / "run.json").upsert(
        [{"key": key, "channel": "email", "kind": "report", "recipient": "ana@example.com", "state": "sending"}]
    )
    schedule = make_schedule(tmp_path)

    outcome = deliver(schedule, report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env())

    assert sorted(outcome.sent) == ["bo@example.com", "cy@example.com"]
    assert sorted(smtp_server.handler.messages[0][1]) == ["bo@example.com", "cy@example.com"]
    states = {e["recipient"]: e["state"] for e in json.loads((run_dir / "run.json").read_text())["delivery"]}
    assert states["ana@example.com"] == "unconfirmed"


def test_refused_recipient_is_failed_with_the_smtp_error(tmp_path):
    class Refusing:
        def __init__(self):
            self.messages = []

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("bo@"):
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(list(envelope.rcpt_tos))
            return "250 OK"

    server = SmtpServer()
    server.handler = Refusing()
    server.start()
    try:
        run_dir = build_run_folder(tmp_path / "reports")
        outcome = deliver(
            make_schedule(tmp_path), report="overview", run_dir=run_dir, status="succeeded", env=server.env()
        )
    finally:
        server.stop()
    assert outcome.failed == ["bo@example.com"] and sorted(outcome.sent) == ["ana@example.com", "cy@example.com"]
    entry = next(
        e for e in json.loads((run_dir / "run.json").read_text())["delivery"] if e["recipient"] == "bo@example.com"
    )
    assert entry["state"] == "failed" and "550" in entry["error"] and "mailbox unavailable" in entry["error"]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_auth_with_a_self_signed_certificate_and_no_secret_in_records_or_logs(tmp_path, security, caplog):
    cert, key = self_signed_cert(tmp_path)
    context = server_tls_context(cert, key)
    password = "s3cret-Pa55word"
    # only PLAIN offered, so smtplib's login gives up after one refused attempt
    kwargs = {"authenticator": authenticator("mailer", password), "auth_exclude_mechanism": ["LOGIN"]}
    if security == "starttls":
        kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    else:  # implicit TLS: aiosmtpd does not see the socket as TLS, so it must not insist on STARTTLS
        kwargs.update(ssl_context=context, auth_require_tls=False)
    server = SmtpServer(**kwargs).start()
    caplog.set_level(logging.DEBUG)
    try:
        env = server.env(
            FAWKES_SMTP_SECURITY=security,
            FAWKES_SMTP_USER="mailer",
            FAWKES_SMTP_PASSWORD=password,
            FAWKES_SMTP_CA_FILE=str(cert),
        )
        run_dir = build_run_folder(tmp_path / "reports")
        outcome = deliver(make_schedule(tmp_path), report="overview", run_dir=run_dir, status="succeeded", env=env)
        assert sorted(outcome.sent) == sorted(TO + CC)
        assert len(server.handler.messages) == 1

        # the wrong password: refused by the server, recorded as failed, password never written
        other = build_run_folder(tmp_path / "reports")
        bad = deliver(
            make_schedule(tmp_path),
            report="overview",
            run_dir=other,
            status="succeeded",
            env={**env, "FAWKES_SMTP_PASSWORD": "wrong-" + password},
        )
        assert bad.needs_retry and "SMTPAuthenticationError" in bad.entries[0]["error"]
    finally:
        server.stop()
    for folder in (run_dir, other):
        assert password not in (folder / "run.json").read_text()
    assert password not in caplog.text
    assert password not in repr(SmtpSettings.from_env(env))


def test_untrusted_certificate_is_refused(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server = SmtpServer(tls_context=server_tls_context(cert, key), require_starttls=True).start()
    try:
        run_dir = build_run_folder(tmp_path / "reports")
        outcome = deliver(
            make_schedule(tmp_path),
            report="overview",
            run_dir=run_dir,
            status="succeeded",
            env=server.env(FAWKES_SMTP_SECURITY="starttls"),
        )
    finally:
        server.stop()
    assert server.handler.messages == []
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.entries[0]["error"]


@pytest.mark.parametrize(
    ("env", "key", "problem"),
    [
        ({}, "FAWKES_ANALYTICS_SMTP_HOST", "not set"),
        (
            {"FAWKES_ANALYTICS_SMTP_HOST": "h", "FAWKES_ANALYTICS_SMTP_SECURITY": "ssl"},
            "FAWKES_ANALYTICS_SMTP_SECURITY",
            "allowed: starttls, tls, none",
        ),
        (
            {"FAWKES_ANALYTICS_SMTP_HOST": "h", "FAWKES_ANALYTICS_SMTP_PORT": "abc"},
            "FAWKES_ANALYTICS_SMTP_PORT",
            "not a port",
        ),
        (
            {"FAWKES_ANALYTICS_SMTP_HOST": "h", "FAWKES_ANALYTICS_SMTP_USER": "u"},
            "FAWKES_ANALYTICS_SMTP_PASSWORD",
            "set both",
        ),
    ],
)
def test_smtp_settings_errors_name_the_variable(env, key, problem):
    with pytest.raises(ConfigError) as info:
        SmtpSettings.from_env(env)
    assert info.value.key == key and problem in str(info.value)


def test_smtp_settings_defaults_ports_by_security():
    assert SmtpSettings.from_env({"FAWKES_SMTP_HOST": "h"}).port == 587
    assert SmtpSettings.from_env({"FAWKES_SMTP_HOST": "h", "FAWKES_SMTP_SECURITY": "tls"}).port == 465
