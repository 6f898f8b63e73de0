"""What an operator does by hand: resend a published run, check the SMTP settings.

- :func:`resend` mails a published run's report email again, to addresses the operator
  names or to every recipient whose delivery is ``unconfirmed`` (the scheduler never resends
  those on its own). Each resend is a new message (a new Message-ID) and is recorded in the
  run's ``run.json`` like any delivery; an unconfirmed entry that is resent becomes ``sent``.
- :func:`email_test` sends a short test message and says which server and security it used.

Both raise :class:`~fawkes_analytics.errors.DeliveryError` with the SMTP server's answer
(never the password) when sending fails.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from ..errors import DeliveryError, ParameterError
from ..records import Record
from .email import RunView, SmtpSettings, build_report_message, send_message
from .state import FAILED, SENDING, SENT, UNCONFIRMED, DeliveryLedger, idempotency_key, now_iso

ATTACHABLE = ("pdf", "csv", "json", "html")


@dataclass
class Resent(Record):
    """What one ``send`` did."""

    run_dir: str
    sent: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    message_id: str = ""


def _smtp_problem(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code}: {text}"
    return f"{type(exc).__name__}: {exc}"


def _send(msg: EmailMessage, settings: SmtpSettings, recipients: Sequence[str]) -> dict[str, str]:
    """Send and return refused recipients with the reason; raise DeliveryError when nothing went out."""
    where = f"{settings.host}:{settings.port} ({settings.security})"
    try:
        refused = send_message(msg, settings, list(recipients))
    except smtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"could not send through {where}: {_smtp_problem(exc)}") from None
    return {
        r: f"SMTP {code}: {reason.decode(errors='replace') if isinstance(reason, bytes) else reason}"
        for r, (code, reason) in refused.items()
    }


def resend(
    run_dir: Path,
    *,
    to: Sequence[str] = (),
    unconfirmed: bool = False,
    attach: Sequence[str] = (),
    settings: SmtpSettings | None = None,
) -> Resent:
    """Send the report email of a published run again (see the module docstring)."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if record.get("status") != "succeeded":
        raise ParameterError("run", f"run {run_dir.name} is {record.get('status')}; only published runs are resent")
    for kind in attach:
        if kind not in ATTACHABLE:
            raise ParameterError("attach", f"unknown attachment {kind!r}", list(ATTACHABLE))
    ledger = DeliveryLedger(run_dir / "run.json")
    pending = [e for e in ledger.entries() if e.get("state") == UNCONFIRMED] if unconfirmed else []
    recipients = list(dict.fromkeys([*to, *(e["recipient"] for e in pending if e.get("recipient"))]))
    if not recipients:
        raise ParameterError(
            "to", "nobody to send to: name addresses with --to, or use --unconfirmed on a run that has some"
        )
    settings = settings or SmtpSettings.from_env()
    run = RunView.load(run_dir)
    subject = next((e["subject"] for e in pending if e.get("subject")), None)
    subject = subject or f"{run.title} — {str(record.get('started_at', ''))[:10]}"
    msg, _ = build_report_message(run, settings, subject=subject, to=recipients, attach=attach)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    keys = {r: idempotency_key(run.run_id, "email", f"resend:{stamp}", r) for r in recipients}
    base = {"channel": "email", "kind": "resend", "subject": subject, "message_id": msg["Message-ID"]}
    ledger.upsert([{**base, "key": keys[r], "recipient": r, "state": SENDING, "error": None} for r in recipients])
    try:
        refused = _send(msg, settings, recipients)
    except DeliveryError as exc:
        ledger.upsert([{"key": keys[r], "state": FAILED, "error": str(exc)} for r in recipients])
        raise
    ledger.upsert(
        [{"key": keys[r], "state": FAILED if r in refused else SENT, "error": refused.get(r)} for r in recipients]
        + [
            {"key": e["key"], "state": SENT, "error": None, "resent_at": now_iso(), "note": "resent by an operator"}
            for e in pending
            if e.get("recipient") not in refused
        ]
    )
    return Resent(str(run_dir), [r for r in recipients if r not in refused], refused, str(msg["Message-ID"]))


def email_test(to: Sequence[str], settings: SmtpSettings | None = None) -> str:
    """Send a test message to ``to``; returns where it went. Raises DeliveryError on failure."""
    settings = settings or SmtpSettings.from_env()
    msg = EmailMessage()
    msg["Subject"] = "Fawkes Analytics: SMTP test"
    msg["From"] = formataddr(("Fawkes Analytics", settings.sender))
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.domain)
    msg["List-Unsubscribe"] = settings.unsubscribe_header()
    msg.set_content(
        "This is a test message from `fawkes-analytics email-test`.\n"
        f"Server: {settings.host}:{settings.port}, security {settings.security}, "
        f"login {'as ' + settings.user if settings.user else 'none'}.\n"
    )
    refused = _send(msg, settings, to)
    if refused:
        raise DeliveryError("the server refused " + "; ".join(f"{r} ({why})" for r, why in refused.items()))
    return f"{settings.host}:{settings.port} ({settings.security})"
