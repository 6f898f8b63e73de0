"""Report and failure emails over SMTP that render in real mail clients.

The report email is ``multipart/alternative`` (plain text + HTML); the HTML part sits in a
``multipart/related`` with the report's charts as inline images referenced by ``cid:``
(mail clients block ``data:`` base64 images). Configured attachments (PDF, CSVs, data.json,
report.html) make the whole ``multipart/mixed``. When the message would exceed the size
limit, attachments and then charts are left out and the body links to the published report.

SMTP settings come from the environment at send time (never from schedule files or notebook
parameters), and the password never appears in a repr, a log line or a run record.

Headers: a scheduled message carries a deterministic ``Message-ID`` derived from its
idempotency key (schedule, report, slot, kind of message), so even a message sent twice by
accident is one message to mail clients; report emails carry ``List-Unsubscribe`` pointing
at ``FAWKES_ANALYTICS_SMTP_LIST_UNSUBSCRIBE`` (an address or an https URL; default: the sender address
with the subject "unsubscribe").
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import secrets
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any, cast

from .. import areas, formats, settings
from ..errors import ConfigError
from ..kpi import Kpi
from ..sources.base import redact_text
from ..templates import render
from ..templates import render_text as render_text_template
from .state import read_json

REPORTS_URL_ENV = "FAWKES_ANALYTICS_REPORTS_URL"  # where reports/ is published, for links
SECURITY_MODES = ("starttls", "tls", "none")
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail; read from ``FAWKES_ANALYTICS_SMTP_*`` environment variables."""

    host: str
    port: int
    security: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "fawkes-analytics@localhost"
    reports_base_url: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None
    list_unsubscribe: str | None = None

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] or "localhost"

    def unsubscribe_header(self) -> str:
        """The List-Unsubscribe value: ``<mailto:...>`` or ``<https://...>`` (RFC 2369)."""
        target = self.list_unsubscribe or f"mailto:{self.sender}?subject=unsubscribe"
        if "://" not in target and not target.startswith("mailto:"):
            target = f"mailto:{target}?subject=unsubscribe"
        return f"<{target}>"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Build settings from ``FAWKES_ANALYTICS_SMTP_HOST``, ``_PORT``, ``_SECURITY``
        (starttls|tls|none), ``_USER``, ``_PASSWORD`` (or ``_PASSWORD_FILE``), ``_FROM``,
        ``_TIMEOUT``, ``_CA_FILE``, ``_LIST_UNSUBSCRIBE`` and ``FAWKES_ANALYTICS_REPORTS_URL``
        (the older ``FAWKES_SMTP_*`` names are still read, see settings.py)."""

        def get(name: str, default: str = "") -> str:
            return settings.get(name, default, env=env)

        host = get("SMTP_HOST")
        if not host:
            raise ConfigError(
                "environment", "FAWKES_ANALYTICS_SMTP_HOST", "not set: the SMTP server to send report emails through"
            )
        security = get("SMTP_SECURITY", "starttls").lower()
        if security not in SECURITY_MODES:
            raise ConfigError(
                "environment",
                "FAWKES_ANALYTICS_SMTP_SECURITY",
                f"{security!r} is not allowed (allowed: {', '.join(SECURITY_MODES)})",
            )
        port_raw = get("SMTP_PORT")
        try:
            port = int(port_raw) if port_raw else _DEFAULT_PORTS[security]
        except ValueError:
            raise ConfigError(
                "environment", "FAWKES_ANALYTICS_SMTP_PORT", f"{port_raw!r} is not a port number"
            ) from None
        if not 0 < port < 65536:
            raise ConfigError("environment", "FAWKES_ANALYTICS_SMTP_PORT", f"{port} is not a port number (1-65535)")
        user = get("SMTP_USER") or None
        password = settings.secret("SMTP_PASSWORD", env) or None
        if bool(user) != bool(password):
            raise ConfigError(
                "environment",
                "FAWKES_ANALYTICS_SMTP_USER" if not user else "FAWKES_ANALYTICS_SMTP_PASSWORD",
                "set both FAWKES_ANALYTICS_SMTP_USER and FAWKES_ANALYTICS_SMTP_PASSWORD, or neither",
            )
        timeout_raw = get("SMTP_TIMEOUT", "30")
        try:
            timeout = float(timeout_raw)
        except ValueError:
            raise ConfigError(
                "environment", "FAWKES_ANALYTICS_SMTP_TIMEOUT", f"{timeout_raw!r} is not a number of seconds"
            ) from None
        return cls(
            host=host,
            port=port,
            security=security,
            user=user,
            password=password,
            sender=get("SMTP_FROM") or "fawkes-analytics@localhost",
            reports_base_url=get("REPORTS_URL").rstrip("/") or None,
            timeout=timeout,
            ca_file=get("SMTP_CA_FILE") or None,
            list_unsubscribe=_unsubscribe_target(get("SMTP_LIST_UNSUBSCRIBE")),
        )


def _unsubscribe_target(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    if raw.startswith(("mailto:", "https://", "http://")) or _ADDRESS_LIKE.match(raw):
        return raw
    raise ConfigError(
        "environment",
        "FAWKES_ANALYTICS_SMTP_LIST_UNSUBSCRIBE",
        f"{raw!r} is not an address or URL (allowed: a@b, mailto:, https://)",
    )


_ADDRESS_LIKE = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def message_id(key: str, domain: str) -> str:
    """A Message-ID that is the same every time for the same idempotency key."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}.fawkes@{domain}>"


@dataclass(frozen=True)
class RunView:
    """What an email needs from a run folder: read from run.json and data.json, never recomputed."""

    run_dir: Path
    report: str
    run_id: str
    status: str
    title: str
    error: str | None
    kpis: Mapping[str, Mapping[str, Any]]  # data.json's KPIs as published
    charts: tuple[Path, ...]
    facts: tuple[str, ...] = ()  # range and freshness, in the report's time zone
    flags: tuple[Mapping[str, Any], ...] | None = None  # data.json's unusual changes (None: not checked)

    @property
    def headline(self) -> list[Kpi]:
        """The published KPIs as ``Kpi`` objects (with their labels, formats and directions)."""
        return [Kpi.from_dict(kpi, name) for name, kpi in self.kpis.items() if isinstance(kpi, Mapping)]

    @classmethod
    def load(cls, run_dir: Path, report: str | None = None) -> RunView:
        run_dir = Path(run_dir)
        record = read_json(run_dir / "run.json", {}) or {}
        data = read_json(run_dir / "data.json", {}) or {}
        report = record.get("report") or data.get("report") or report or run_dir.parent.name
        return cls(
            run_dir=run_dir,
            report=report,
            run_id=str(record.get("run_id") or run_dir.name),
            status=record.get("status", "succeeded" if data else "failed"),
            title=data.get("title") or record.get("title") or report.replace("_", " ").title(),
            error=record.get("error"),
            kpis=data.get("kpis") or {},
            charts=tuple(sorted((run_dir / "charts").glob("*.png"))),
            facts=tuple(formats.published_facts(data)),
            flags=None if data.get("unusual_changes") is None else tuple(data["unusual_changes"]),
        )

    def url(self, base_url: str | None) -> str | None:
        """Link to the published report.html, when a base URL is configured."""
        if not base_url:
            return None
        return f"{base_url}/{self.report}/{self.run_dir.name}/report.html"

    def attachments(self, kinds: Sequence[str]) -> list[Path]:
        """Files for the configured attachment kinds that exist in the run folder."""
        files: list[Path] = []
        for kind in kinds:
            if kind == "csv":
                files.extend(sorted(self.run_dir.glob("*.csv")))
            else:
                candidate = self.run_dir / {"pdf": "report.pdf", "json": "data.json", "html": "report.html"}[kind]
                if candidate.exists():
                    files.append(candidate)
        return files


@dataclass(frozen=True)
class _KpiGroup:
    title: str | None
    kpis: list[formats.KpiView]


def _kpi_groups(run: RunView) -> list[_KpiGroup]:
    """The KPIs by area of the registry, worded and coloured like the report's tiles."""
    return [_KpiGroup(title, [formats.kpi_view(k) for k in kpis]) for title, kpis in areas.grouped(run.headline)]


EMAIL_FLAGS = 5  # an email lists the strongest unusual changes; the report has them all


def _flags(run: RunView) -> dict[str, Any]:
    """The unusual changes an email leads with: the strongest, and how many more the report has."""
    flags = list(run.flags or ())
    return {"flags": flags[:EMAIL_FLAGS], "more_flags": max(0, len(flags) - EMAIL_FLAGS)}


def render_text(run: RunView, url: str | None, note: str | None = None) -> str:
    """Plain-text alternative: the unusual changes first, then KPIs one per line (grouped by
    area), then the link."""
    groups = _kpi_groups(run)
    width = max((len(v.label) for g in groups for v in g.kpis), default=0)
    return render_text_template(
        "email/report.txt.j2",
        title=run.title,
        facts=run.facts,
        groups=groups,
        width=width,
        charts=run.charts,
        note=note,
        url=url,
        run_id=run.run_id,
        report=run.report,
        **_flags(run),
    )


def render_html(run: RunView, url: str | None, chart_cids: Sequence[tuple[Path, str]], note: str | None = None) -> str:
    """HTML body with inline styles only (mail clients drop <style> and scripts)."""
    charts = [{"cid": cid, "alt": path.stem.replace("_", " ")} for path, cid in chart_cids]
    return str(
        render(
            "email/report.html.j2",
            title=run.title,
            facts=run.facts,
            groups=_kpi_groups(run),
            charts=charts,
            note=note,
            url=url,
            run_id=run.run_id,
            report=run.report,
            **_flags(run),
        )
    )


def _base_message(
    settings: SmtpSettings,
    subject: str,
    to: Sequence[str],
    cc: Sequence[str],
    key: str,
    message_key: str | None = None,
) -> EmailMessage:
    """Headers every message has; ``message_key`` makes the Message-ID deterministic."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = formataddr(("Fawkes Analytics", settings.sender))
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = formatdate(localtime=False)
    # A key gives the same Message-ID every time; without one (an operator's resend) it is new.
    msg["Message-ID"] = message_id(message_key or secrets.token_hex(16), settings.domain)
    msg["X-Fawkes-Run"] = key
    return msg


def build_report_message(
    run: RunView,
    settings: SmtpSettings,
    *,
    subject: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    attach: Sequence[str] = (),
    max_bytes: int = 10 * 1024 * 1024,
    message_key: str | None = None,
) -> tuple[EmailMessage, str | None]:
    """The report email and what was left out to respect ``max_bytes`` (None if nothing)."""
    url = run.url(settings.reports_base_url)
    files = run.attachments(attach)
    where = f" at {url}" if url else f" in the run folder {run.run_dir}"
    attempts: list[tuple[bool, bool, str | None, str | None]] = [
        (True, True, None, None),
        (
            True,
            False,
            f"Attachments were left out because the email would exceed {max_bytes / 1048576:.1f} MB; find them{where}.",
            "attachments",
        ),
        (
            False,
            False,
            f"Charts and attachments were left out because the email would exceed {max_bytes / 1048576:.1f} MB; see the full report{where}.",
            "charts and attachments",
        ),
    ]
    msg = None
    for with_charts, with_files, note, omitted in attempts:
        if not files and with_charts and not with_files:
            continue  # nothing to leave out at this step
        msg = _compose_report(
            run, settings, subject, to, cc, url, with_charts, files if with_files else [], note, message_key
        )
        if len(msg.as_bytes()) <= max_bytes:
            return msg, omitted
    if msg is None:
        raise ValueError("no way to compose the report message")
    return msg, "charts and attachments"


def _compose_report(
    run: RunView,
    settings: SmtpSettings,
    subject: str,
    to: Sequence[str],
    cc: Sequence[str],
    url: str | None,
    with_charts: bool,
    files: Sequence[Path],
    note: str | None,
    message_key: str | None = None,
) -> EmailMessage:
    msg = _base_message(settings, subject, to, cc, run.run_id, message_key)
    msg["List-Unsubscribe"] = settings.unsubscribe_header()
    domain = settings.domain
    # Short Content-IDs so the header never folds: chart-<n>.<random>@<sender domain>.
    charts = run.charts if with_charts else ()
    chart_cids = [(path, f"chart-{i}.{secrets.token_hex(6)}@{domain}") for i, path in enumerate(charts, 1)]
    msg.set_content(render_text(run, url, note))
    msg.add_alternative(render_html(run, url, chart_cids, note), subtype="html")
    html_part = cast(EmailMessage, msg.get_payload()[1])  # type: ignore[index]
    for path, cid in chart_cids:
        html_part.add_related(
            path.read_bytes(), "image", "png", cid=f"<{cid}>", filename=path.name, disposition="inline"
        )
    for path in files:
        ctype, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return msg


def build_failure_message(
    run: RunView | None,
    settings: SmtpSettings,
    *,
    schedule: str,
    report: str,
    status: str,
    error: str | None,
    subject: str,
    to: Sequence[str],
    run_key: str,
    message_key: str | None = None,
) -> EmailMessage:
    """A plain-text notice to a schedule's owners: what failed, the error (redacted), where to look."""
    msg = _base_message(settings, subject, to, (), run_key, message_key)
    url = run.url(settings.reports_base_url) if run else None
    lines = [
        f"Schedule '{schedule}' could not produce report '{report}'.",
        "",
        f"Status: {status}",
        f"Error: {redact_text(error) if error else 'no error message'}",
    ]
    if run is not None:
        lines += [f"Run folder: {run.run_dir}", "The executed notebook is kept there for debugging."]
        if url:
            lines += [f"Run page: {url}"]
    lines += ["", "The previous successful report stays published; the next slot runs as scheduled."]
    msg.set_content("\n".join(lines) + "\n")
    return msg


@contextmanager
def smtp_session(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """A connection to the SMTP server, secured and logged in as ``settings`` say; closed after."""
    context = ssl.create_default_context(cafile=settings.ca_file) if settings.security != "none" else None
    smtp_class = smtplib.SMTP_SSL if settings.security == "tls" else smtplib.SMTP
    kwargs: dict[str, Any] = {"timeout": settings.timeout}
    if settings.security == "tls":
        kwargs["context"] = context
    with smtp_class(settings.host, settings.port, **kwargs) as smtp:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        yield smtp


def send_message(msg: EmailMessage, settings: SmtpSettings, recipients: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """Send ``msg`` to ``recipients`` (envelope); returns refused recipients. Raises on failure."""
    with smtp_session(settings) as smtp:
        return smtp.send_message(msg, from_addr=settings.sender, to_addrs=list(recipients))
