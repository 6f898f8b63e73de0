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
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import ConfigError
from ..results import Result
from .email import RunView, SmtpSettings, build_failure_message, build_report_message, send_message
from .state import FAILED, SENDING, SENT, SKIPPED, UNCONFIRMED, DeliveryLedger, idempotency_key

__all__ = ["DeliveryOutcome", "DeliveryLedger", "RunView", "SmtpSettings", "deliver", "subject_for"]

log = logging.getLogger(__name__)


@dataclass
class DeliveryOutcome(Result):
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
    run = RunView.load(run_dir, report) if run_dir is not None and Path(run_dir).exists() else None
    record_path = Path(record_path or (Path(run_dir) / "run.json"))
    run_key = run_key or (run.run_id if run else str(record_path))
    ledger = DeliveryLedger(record_path)
    known = ledger.by_key()
    outcome = DeliveryOutcome(record_path=record_path)
    spec = schedule.email
    messages: list[tuple[str, list[str], list[str]]] = []  # (kind, to, cc)
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
                messages.append(("report", list(spec.to), list(spec.cc)))
        else:
            messages.append(("report", list(spec.to), list(spec.cc)))
    elif status != "interrupted":
        notify = list(schedule.owners)
        if spec is not None and spec.send == "on_failure":
            notify += [a for a in spec.recipients if a not in notify]
        if notify:
            messages.append(("failure", notify, []))
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

    for kind, to, cc in messages:
        _send_one(
            schedule, kind, to, cc, run, report, status, error, run_key, slot, settings, env, ledger, known, outcome
        )

    outcome.entries = ledger.entries()
    return outcome


def _send_one(
    schedule, kind, to, cc, run, report, status, error, run_key, slot, settings, env, ledger, known, outcome
) -> None:
    recipients = list(dict.fromkeys(to + cc))
    keys = {r: idempotency_key(run_key, "email", kind, r) for r in recipients}
    pending: list[str] = []
    for r in recipients:
        state = known.get(keys[r], {}).get("state")
        if state in (SENT, SKIPPED, UNCONFIRMED):
            continue
        if state == SENDING:
            # A previous process recorded 'sending' and never recorded the result: it may have
            # crashed after the server accepted the message. Never risk a duplicate.
            ledger.upsert(
                [
                    {
                        "key": keys[r],
                        "state": UNCONFIRMED,
                        "error": "a previous attempt did not record its result; not resent",
                    }
                ]
            )
            log.warning("delivery of %s email for run %s to %s is unconfirmed; not resending", kind, run_key, r)
            continue
        pending.append(r)
    if not pending:
        return
    base = {"channel": "email", "kind": kind}
    try:
        settings = settings or SmtpSettings.from_env(env)
        if kind == "report":
            subject = subject_for(
                schedule.email.subject,
                run=run,
                schedule=schedule.name,
                report=report,
                status=status,
                slot=slot,
                tz=schedule.tz,
            )
            msg, omitted = build_report_message(
                run,
                settings,
                subject=subject,
                to=to,
                cc=cc,
                attach=schedule.email.attach,
                max_bytes=schedule.email.max_bytes,
                message_key=f"{run_key}|{kind}",
            )
        else:
            title = subject_for(
                "{title} — {date}",
                run=run,
                schedule=schedule.name,
                report=report,
                status=status,
                slot=slot,
                tz=schedule.tz,
            )
            subject = f"[{status.upper()}] {title}"
            msg = build_failure_message(
                run,
                settings,
                schedule=schedule.name,
                report=report,
                status=status,
                error=error,
                subject=subject,
                to=to,
                run_key=run_key,
                message_key=f"{run_key}|{kind}",
            )
            omitted = None
    except (ConfigError, OSError, ValueError) as exc:
        ledger.upsert(
            [
                {**base, "key": keys[r], "recipient": r, "state": FAILED, "error": f"{type(exc).__name__}: {exc}"}
                for r in pending
            ]
        )
        outcome.failed.extend(pending)
        log.error("could not prepare %s email for run %s: %s", kind, run_key, exc)
        return
    extra = {"subject": subject, "message_id": msg["Message-ID"], "size_bytes": len(msg.as_bytes())}
    if omitted:
        extra["omitted"] = omitted
    ledger.upsert([{**base, **extra, "key": keys[r], "recipient": r, "state": SENDING, "error": None} for r in pending])
    try:
        refused = send_message(msg, settings, pending)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients
    except (smtplib.SMTPException, OSError) as exc:
        problem = _smtp_error(exc)
        ledger.upsert([{"key": keys[r], "state": FAILED, "error": problem} for r in pending])
        outcome.failed.extend(pending)
        log.error("%s email for run %s not sent to %d recipient(s): %s", kind, run_key, len(pending), problem)
        return
    updates = []
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
            outcome.failed.append(r)
        else:
            updates.append({"key": keys[r], "state": SENT, "error": None})
            outcome.sent.append(r)
    ledger.upsert(updates)
    log.info(
        "%s email for run %s sent to %d recipient(s), refused for %d",
        kind,
        run_key,
        len(pending) - len(refused),
        len(refused),
    )


def _smtp_error(exc: BaseException) -> str:
    """An SMTP error for the record: code and server text, never credentials."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: SMTP {exc.smtp_code}: {text}"
    return f"{type(exc).__name__}: {exc}"
