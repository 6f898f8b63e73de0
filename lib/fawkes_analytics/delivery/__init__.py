"""Deliver a finished run: report email to recipients, failure email to owners, state in run.json.

``deliver()`` decides what to send from the run's status and the schedule's ``send`` rule,
records every recipient's idempotency key as ``sending`` before talking to the SMTP server,
then records ``sent`` / ``failed`` (with the SMTP error) / ``skipped`` (with the reason).
Calling it again for the same run retries only what failed, so a later retry sends a
report exactly once; an entry still ``sending`` (the process died between DATA and the
server's reply) becomes ``unconfirmed`` and is not sent again unless an operator runs
``fawkes-analytics send RUN --unconfirmed``. The scheduler passes a ``run_key`` naming the
schedule, report and slot, so the keys and the Message-ID stay the same across restarts.
Delivery never recomputes numbers: it reads data.json and charts/.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..records import Record
from .state import FAILED, SENDING, SENT, SKIPPED, UNCONFIRMED, DeliveryLedger, idempotency_key

if TYPE_CHECKING:
    from .email import RunView, SmtpSettings

__all__ = ["DeliveryOutcome", "DeliveryLedger", "RunView", "SmtpSettings", "deliver", "subject_for"]


def __getattr__(name: str) -> Any:
    """``RunView`` and ``SmtpSettings`` come from email.py, imported when asked for (it loads the
    SMTP and MIME modules, which `history` and a scheduler with nothing due never need)."""
    if name in ("RunView", "SmtpSettings"):
        from . import email

        return getattr(email, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger(__name__)


class MessageKind(StrEnum):
    """What an email is about (part of its idempotency key and Message-ID)."""

    REPORT = "report"
    FAILURE = "failure"


@dataclass
class DeliveryOutcome(Record):
    """What one ``deliver()`` call did; ``entries`` are the run record's delivery entries after it."""

    record_path: Path
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)

    @property
    def needs_retry(self) -> bool:
        return any(e.get("state") == FAILED for e in self.entries)


def subject_for(
    template: str, *, run: RunView | None, schedule: str, report: str, status: str, slot: datetime | None, tz
) -> str:
    """Fill a validated subject template; ``{date}`` is the slot's date in the schedule's zone."""
    when = (slot or datetime.now(tz)).astimezone(tz)
    title = run.title if run else report.replace("_", " ").title()
    return template.format(
        title=title,
        date=when.date().isoformat(),
        report=report,
        schedule=schedule,
        status=status,
        run_id=run.run_id if run else "-",
    )


def _kpi_value(run: RunView, name: str) -> float | None:
    kpi = run.kpis.get(name)
    value = kpi.get("value") if isinstance(kpi, Mapping) else kpi
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _no_anomaly(run: RunView | None) -> str | None:
    """Why ``send: on_anomaly`` sends nothing for ``run`` (None: it flagged an unusual change)."""
    if run is None or run.flags is None:
        return "send: on_anomaly, but data.json has no unusual_changes (the report has no Unusual changes section)"
    if not run.flags:
        return "send: on_anomaly and no unusual change was flagged"
    return None


def deliver(
    schedule,
    *,
    report: str,
    run_dir: Path | None,
    status: str,
    error: str | None = None,
    run_key: str | None = None,
    record_path: Path | None = None,
    slot: datetime | None = None,
    settings: SmtpSettings | None = None,
    env: Mapping[str, str] | None = None,
) -> DeliveryOutcome:
    """Send what ``schedule`` asks for about one run and record it in the run record.

    ``record_path`` defaults to ``run_dir/run.json``; runs that left no folder (killed by the
    scheduler's watchdog) pass a stand-in file. ``run_key`` identifies the run in idempotency
    keys (defaults to the run folder's run_id).
    """
    from .email import RunView

    run = RunView.load(run_dir, report) if run_dir is not None and Path(run_dir).exists() else None
    if record_path is None:
        if run_dir is None:
            raise ValueError("deliver() needs run_dir or record_path")
        record_path = Path(run_dir) / "run.json"
    run_key = run_key or (run.run_id if run else str(record_path))
    ledger = DeliveryLedger(record_path)
    known = ledger.by_key()
    outcome = DeliveryOutcome(record_path=record_path)
    spec = schedule.email
    messages: list[Message] = []
    skipped: list[dict] = []

    if status == "succeeded":
        if spec is None:
            pass
        elif spec.send == "on_failure":
            skipped.append({"kind": "report", "reason": "send: on_failure and the run succeeded"})
        elif spec.send == "on_threshold" and spec.threshold is not None:
            value = _kpi_value(run, spec.threshold.kpi) if run else None
            if value is None:
                have = ", ".join(run.kpis) if run else "no data.json"
                skipped.append(
                    {
                        "kind": "report",
                        "reason": f"KPI {spec.threshold.kpi!r} has no numeric value in data.json (have: {have})",
                    }
                )
            elif not spec.threshold.crossed(value):
                skipped.append(
                    {
                        "kind": "report",
                        "reason": f"{spec.threshold.kpi} = {value:g}, not {spec.threshold.describe().split(' ', 1)[1]}",
                    }
                )
            else:
                messages.append(Message(MessageKind.REPORT, tuple(spec.to), tuple(spec.cc)))
        elif spec.send == "on_anomaly":
            reason = _no_anomaly(run)
            if reason:
                skipped.append({"kind": "report", "reason": reason})
            else:
                messages.append(Message(MessageKind.REPORT, tuple(spec.to), tuple(spec.cc)))
        else:
            messages.append(Message(MessageKind.REPORT, tuple(spec.to), tuple(spec.cc)))
    elif status != "interrupted":
        notify = list(schedule.owners)
        if spec is not None and spec.send == "on_failure":
            notify += [a for a in spec.recipients if a not in notify]
        if notify:
            messages.append(Message(MessageKind.FAILURE, tuple(notify)))
        if spec is not None and spec.send != "on_failure":
            skipped.append({"kind": "report", "reason": f"run {status}; nothing to report"})

    for item in skipped:
        key = idempotency_key(run_key, "email", item["kind"] + ":skipped", "-")
        ledger.upsert(
            [
                {
                    "key": key,
                    "channel": "email",
                    "kind": item["kind"],
                    "recipient": None,
                    "state": SKIPPED,
                    "reason": item["reason"],
                }
            ]
        )
        outcome.skipped.append(item["reason"])

    delivery = Delivery(schedule, report, run, status, error, run_key, slot, settings, env, ledger, known, outcome)
    for message in messages:
        delivery.send(message)

    outcome.entries = ledger.entries()
    return outcome


@dataclass(frozen=True)
class Message:
    """One email about a run: the report itself or a failure notice, and to whom."""

    kind: MessageKind
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()


@dataclass
class Delivery:
    """The delivery of one run: what it is about, the ledger it is recorded in, how to send.

    ``deliver()`` decides which messages a run gets; ``send()`` sends one of them.
    """

    schedule: Any  # schedules.config.Schedule (typed loosely: delivery sits below schedules)
    report: str
    run: RunView | None
    status: str
    error: str | None
    run_key: str
    slot: datetime | None
    smtp: SmtpSettings | None
    env: Mapping[str, str] | None
    ledger: DeliveryLedger
    known: dict[str, dict[str, Any]]
    outcome: DeliveryOutcome

    def send(self, message: Message) -> None:
        """Send one message to those of its recipients not yet served, recording each step in the
        ledger first (sending -> sent/failed), so a crash never leads to a duplicate."""
        import smtplib

        from .email import SmtpSettings, build_failure_message, build_report_message, send_message

        kind, to, cc = message.kind, list(message.to), list(message.cc)
        recipients = list(dict.fromkeys(to + cc))
        keys = {r: idempotency_key(self.run_key, "email", kind, r) for r in recipients}
        pending: list[str] = []
        for r in recipients:
            state = self.known.get(keys[r], {}).get("state")
            if state in (SENT, SKIPPED, UNCONFIRMED):
                continue
            if state == SENDING:
                # A previous process recorded 'sending' and never recorded the result: it may have
                # crashed after the server accepted the message. Never risk a duplicate.
                self.ledger.upsert(
                    [
                        {
                            "key": keys[r],
                            "state": UNCONFIRMED,
                            "error": "a previous attempt did not record its result; not resent",
                        }
                    ]
                )
                log.warning(
                    "delivery of %s email for run %s to %s is unconfirmed; not resending", kind, self.run_key, r
                )
                continue
            pending.append(r)
        if not pending:
            return
        base = {"channel": "email", "kind": kind}
        try:
            self.smtp = self.smtp or SmtpSettings.from_env(self.env)
            if kind == "report":
                if self.run is None:
                    raise ValueError(f"the run folder of {self.run_key} is gone: no report to send")
                subject = subject_for(
                    self.schedule.email.subject,
                    run=self.run,
                    schedule=self.schedule.name,
                    report=self.report,
                    status=self.status,
                    slot=self.slot,
                    tz=self.schedule.tz,
                )
                msg, omitted = build_report_message(
                    self.run,
                    self.smtp,
                    subject=subject,
                    to=to,
                    cc=cc,
                    attach=self.schedule.email.attach,
                    max_bytes=self.schedule.email.max_bytes,
                    message_key=f"{self.run_key}|{kind}",
                )
            else:
                title = subject_for(
                    "{title} — {date}",
                    run=self.run,
                    schedule=self.schedule.name,
                    report=self.report,
                    status=self.status,
                    slot=self.slot,
                    tz=self.schedule.tz,
                )
                subject = f"[{self.status.upper()}] {title}"
                msg = build_failure_message(
                    self.run,
                    self.smtp,
                    schedule=self.schedule.name,
                    report=self.report,
                    status=self.status,
                    error=self.error,
                    subject=subject,
                    to=to,
                    run_key=self.run_key,
                    message_key=f"{self.run_key}|{kind}",
                )
                omitted = None
        except (ConfigError, OSError, ValueError) as exc:
            self.ledger.upsert(
                [
                    {**base, "key": keys[r], "recipient": r, "state": FAILED, "error": f"{type(exc).__name__}: {exc}"}
                    for r in pending
                ]
            )
            self.outcome.failed.extend(pending)
            log.error("could not prepare %s email for run %s: %s", kind, self.run_key, exc)
            return
        extra = {"subject": subject, "message_id": msg["Message-ID"], "size_bytes": len(msg.as_bytes())}
        if omitted:
            extra["omitted"] = omitted
        self.ledger.upsert(
            [{**base, **extra, "key": keys[r], "recipient": r, "state": SENDING, "error": None} for r in pending]
        )
        try:
            refused = send_message(msg, self.smtp, pending)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except (smtplib.SMTPException, OSError) as exc:
            problem = _smtp_error(exc)
            self.ledger.upsert([{"key": keys[r], "state": FAILED, "error": problem} for r in pending])
            self.outcome.failed.extend(pending)
            log.error("%s email for run %s not sent to %d recipient(s): %s", kind, self.run_key, len(pending), problem)
            return
        updates: list[dict[str, Any]] = []
        for r in pending:
            if r in refused:
                code, reason = refused[r]
                updates.append(
                    {
                        "key": keys[r],
                        "state": FAILED,
                        "error": f"SMTP {code}: {reason.decode(errors='replace') if isinstance(reason, bytes) else reason}",
                    }
                )
                self.outcome.failed.append(r)
            else:
                updates.append({"key": keys[r], "state": SENT, "error": None})
                self.outcome.sent.append(r)
        self.ledger.upsert(updates)
        log.info(
            "%s email for run %s sent to %d recipient(s), refused for %d",
            kind,
            self.run_key,
            len(pending) - len(refused),
            len(refused),
        )


def _smtp_error(exc: BaseException) -> str:
    """An SMTP error for the record: code and server text, never credentials."""
    import smtplib

    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: SMTP {exc.smtp_code}: {text}"
    return f"{type(exc).__name__}: {exc}"
