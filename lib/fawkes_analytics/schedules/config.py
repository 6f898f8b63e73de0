"""Load and validate ``schedules/*.yaml``: when a job runs, with what, and who hears of it.

A job is a report (``report``), a set of reports run in order (``reports``), or a
``fawkes-analytics`` sub-command (``command: refresh`` with optional ``args``). Files are
validated against ``schemas/schedule.schema.json`` first (unknown keys, wrong types), then
for what a schema cannot say (cron syntax, time zones, report and command names, subject
templates). Every mistake raises :class:`~fawkes_analytics.errors.ConfigError` naming the
file, the line, the key and what is allowed, so a typo in a schedule fails at start-up, not
at 7 a.m. on Monday.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .. import config_files
from ..errors import ConfigError
from ..retention import RetentionPolicy

OUTPUTS = ("html", "pdf", "csv", "json")
SEND_MODES = ("always", "on_failure", "on_threshold", "on_anomaly")
# Built-in reports without an "Unusual changes" section: send: on_anomaly would never send.
NO_UNUSUAL_CHANGES = ("experiment_results", "user_segments", "metrics_export")
SUBJECT_FIELDS = ("title", "date", "report", "schedule", "status", "run_id")
KNOWN_REPORTS = (
    "usage_trends",
    "feature_adoption",
    "experiment_results",
    "user_segments",
    "funnels",
    "overview",
    "metrics_export",
)
DEFAULT_SUBJECT = "{title} — {date}"
DEFAULT_MAX_EMAIL_MB = 10.0
LONG_RUNNING_COMMANDS = ("schedule", "serve")  # never jobs: they do not end

_TOP_KEYS = {
    "name",
    "description",
    "enabled",
    "cron",
    "timezone",
    "report",
    "reports",
    "parameters",
    "outputs",
    "email",
    "owners",
    "timeout",
    "cell_timeout",
    "retries",
    "retry_backoff",
    "catchup",
    "command",
    "args",
    "retention",
}
_EMAIL_KEYS = {"to", "cc", "subject", "send", "threshold", "attach", "max_size_mb"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ADDRESS = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+$")


@dataclass(frozen=True)
class Threshold:
    """Send only when a KPI of the report's data.json is above and/or below a value."""

    kpi: str
    above: float | None = None
    below: float | None = None

    def crossed(self, value: float) -> bool:
        """True when ``value`` is strictly above ``above`` or strictly below ``below``."""
        return (self.above is not None and value > self.above) or (self.below is not None and value < self.below)

    def describe(self) -> str:
        parts = [
            f"above {self.above:g}" if self.above is not None else "",
            f"below {self.below:g}" if self.below is not None else "",
        ]
        return f"{self.kpi} " + " or ".join(p for p in parts if p)


@dataclass(frozen=True)
class EmailSpec:
    """Who receives a schedule's report email, with which subject, when and with what attached."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = DEFAULT_SUBJECT
    send: str = "always"
    threshold: Threshold | None = None
    attach: tuple[str, ...] = ()
    max_bytes: int = int(DEFAULT_MAX_EMAIL_MB * 1024 * 1024)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.to + self.cc))


@dataclass(frozen=True)
class Schedule:
    """One validated schedule file."""

    name: str
    path: Path
    cron: str
    timezone: str
    reports: tuple[str, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("html", "csv", "json")
    email: EmailSpec | None = None
    owners: tuple[str, ...] = ()
    timeout: float | None = None
    cell_timeout: float | None = None
    retries: int = 0
    retry_backoff: float = 60.0
    catchup: bool = True
    enabled: bool = True
    description: str = ""
    command: str | None = None
    args: tuple[str, ...] = ()
    retention: RetentionPolicy | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def jobs(self) -> tuple[str, ...]:
        """What runs in a slot: the reports, or ``command:<name>`` for a command schedule."""
        return (f"command:{self.command}",) if self.command else self.reports


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``'90s'``, ``'15m'``, ``'2h'``, ``'1d'``."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (allowed: seconds as a number, or '90s', '15m', '2h', '1d')")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} must be positive")
    return seconds


class _Checker:
    """Small helpers that raise ConfigError with the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(str(self.path), key, problem)

    def mapping(self, value: object, key: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def known_keys(self, value: dict, allowed: set[str], prefix: str = "") -> None:
        for k in value:
            if k not in allowed:
                raise self.fail(f"{prefix}{k}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def str_list(self, value: object, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def addresses(self, value: object, key: str) -> tuple[str, ...]:
        out = self.str_list(value, key)
        for address in out:
            if not _ADDRESS.match(address):
                raise self.fail(key, f"{address!r} is not an email address (allowed: name@domain)")
        return out

    def choices(self, value: object, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        out = self.str_list(value, key)
        for item in out:
            if item not in allowed:
                raise self.fail(key, f"{item!r} is not allowed (allowed: {', '.join(allowed)})")
        return tuple(dict.fromkeys(out))

    def duration(self, value: object, key: str) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def number(self, value: object, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        return float(value)


def _email(check: _Checker, raw: dict, outputs: tuple[str, ...]) -> EmailSpec:
    check.known_keys(raw, _EMAIL_KEYS, "email.")
    to = check.addresses(raw.get("to"), "email.to")
    cc = check.addresses(raw.get("cc"), "email.cc")
    send = raw.get("send", "always")
    if send not in SEND_MODES:
        raise check.fail("email.send", f"{send!r} is not allowed (allowed: {', '.join(SEND_MODES)})")
    if send != "on_failure" and not to:
        raise check.fail("email.to", f"at least one recipient is needed when send is {send!r}")
    subject = raw.get("subject", DEFAULT_SUBJECT)
    if not isinstance(subject, str) or not subject.strip():
        raise check.fail("email.subject", "must be a non-empty string")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(subject) if f is not None]
    except ValueError as exc:
        raise check.fail("email.subject", f"invalid template: {exc}") from None
    for name in fields:
        if name not in SUBJECT_FIELDS:
            raise check.fail(
                "email.subject",
                f"unknown field {{{name}}} (allowed: {', '.join('{' + f + '}' for f in SUBJECT_FIELDS)})",
            )
    threshold = None
    raw_threshold = raw.get("threshold")
    if send == "on_threshold":
        t = check.mapping(raw_threshold, "email.threshold")
        check.known_keys(t, {"kpi", "above", "below"}, "email.threshold.")
        if not isinstance(t.get("kpi"), str) or not t["kpi"]:
            raise check.fail(
                "email.threshold.kpi", "send: on_threshold needs the name of a KPI of the report's data.json"
            )
        above = check.number(t["above"], "email.threshold.above") if "above" in t else None
        below = check.number(t["below"], "email.threshold.below") if "below" in t else None
        if above is None and below is None:
            raise check.fail("email.threshold", "needs 'above' and/or 'below'")
        threshold = Threshold(t["kpi"], above, below)
    elif raw_threshold is not None:
        raise check.fail("email.threshold", "only allowed with send: on_threshold")
    attach = check.choices(raw.get("attach"), "email.attach", OUTPUTS)
    for item in attach:
        if item not in outputs:
            raise check.fail("email.attach", f"{item!r} is attached but not produced (outputs: {', '.join(outputs)})")
    max_mb = check.number(raw.get("max_size_mb", DEFAULT_MAX_EMAIL_MB), "email.max_size_mb")
    if max_mb <= 0:
        raise check.fail("email.max_size_mb", "must be positive")
    return EmailSpec(to, cc, subject, send, threshold, attach, int(max_mb * 1024 * 1024))


def available_report_names() -> tuple[str, ...]:
    """Report names a schedule may name: the notebooks in notebooks/ (or the built-in list before any exist)."""
    from ..runs import available_reports

    return tuple(available_reports()) or KNOWN_REPORTS


def available_commands() -> tuple[str, ...]:
    """``fawkes-analytics`` sub-commands a schedule may run as a job (all but the long-running ones)."""
    from ..commands import COMMANDS

    return tuple(c for c in COMMANDS if c not in LONG_RUNNING_COMMANDS)


def parse_schedule(
    raw: object,
    path: Path,
    known_reports: tuple[str, ...] | None = KNOWN_REPORTS,
    known_commands: tuple[str, ...] | None = None,
) -> Schedule:
    """Validate one parsed YAML document; ``path`` names the file in errors.

    ``known_reports``/``known_commands`` None skips checking the names (tests, tools).
    """
    check = _Checker(path)
    if not isinstance(raw, dict):
        raise check.fail("(top level)", "a schedule file must be a mapping of keys")
    config_files.ConfigFile(Path(path), raw, None).validate("schedule")
    check.known_keys(raw, _TOP_KEYS)
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise check.fail("name", f"{name!r} must be letters, digits, '-', '_' or '.'")
    cron = raw.get("cron")
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise check.fail(
            "cron",
            f"{cron!r} is not a cron expression (allowed: 5 fields 'minute hour day month weekday', e.g. '0 7 * * 1-5')",
        )
    tz = raw.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise check.fail("timezone", f"{tz!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')") from None
    if sum(key in raw for key in ("report", "reports", "command")) != 1:
        raise check.fail(
            "report",
            "give exactly one of 'report' (one notebook), 'reports' (a list) or 'command' (a fawkes-analytics command)",
        )
    command, args = raw.get("command"), tuple(raw.get("args") or ())
    if "args" in raw and command is None:
        raise check.fail("args", "only allowed with 'command'")
    if command is not None:
        reports: tuple[str, ...] = ()
        if known_commands is not None and command not in known_commands:
            raise check.fail("command", f"unknown command {command!r} (allowed: {', '.join(known_commands)})")
        for key in ("email", "parameters", "outputs"):
            if raw.get(key) is not None:
                raise check.fail(
                    key, "a command job has no report to mail, parameterise or render; owners hear of failures"
                )
    else:
        reports = check.str_list(raw.get("report", raw.get("reports")), "report" if "report" in raw else "reports")
        if not reports:
            raise check.fail("reports", "must name at least one report")
        for report in reports:
            if known_reports is not None and report not in known_reports:
                raise check.fail("report", f"unknown report {report!r} (allowed: {', '.join(known_reports)})")
    parameters = check.mapping(raw.get("parameters"), "parameters")
    outputs = check.choices(raw.get("outputs", ["html", "csv", "json"]), "outputs", OUTPUTS) or ("html", "csv", "json")
    email = _email(check, check.mapping(raw["email"], "email"), outputs) if raw.get("email") is not None else None
    if email is not None and email.send == "on_anomaly":
        without = [r for r in reports if r in NO_UNUSUAL_CHANGES]
        if without:
            raise check.fail(
                "email.send",
                f"send: on_anomaly needs reports with an 'Unusual changes' section; {', '.join(without)} has none",
            )
    retention = RetentionPolicy.parse(raw["retention"], str(path), "retention") if "retention" in raw else None
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise check.fail("retries", f"{retries!r} must be a whole number from 0 to 10")
    backoff = check.duration(raw.get("retry_backoff", 60), "retry_backoff")
    for key in ("catchup", "enabled"):
        if not isinstance(raw.get(key, True), bool):
            raise check.fail(key, "must be true or false")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise check.fail("description", "must be a string")
    return Schedule(
        name=name,
        path=path,
        cron=cron,
        timezone=str(tz),
        reports=reports,
        parameters=dict(parameters),
        outputs=outputs,
        email=email,
        owners=check.addresses(raw.get("owners"), "owners"),
        timeout=check.duration(raw.get("timeout"), "timeout"),
        cell_timeout=check.duration(raw.get("cell_timeout"), "cell_timeout"),
        retries=retries,
        retry_backoff=backoff or 60.0,
        catchup=raw.get("catchup", True),
        enabled=raw.get("enabled", True),
        description=description,
        command=command,
        args=args,
        retention=retention,
    )


def load_schedule(
    path: str | Path, known_reports: tuple[str, ...] | None = None, known_commands: tuple[str, ...] | None = None
) -> Schedule:
    """Read and validate one schedule file (report names checked against ``available_report_names()``
    and command names against ``available_commands()`` by default)."""
    path = Path(path)
    if known_reports is None:
        known_reports = available_report_names()
    config = config_files.ConfigFile.read(path)
    try:
        config.validate("schedule")
        if isinstance(config.data, dict) and "command" in config.data and known_commands is None:
            known_commands = available_commands()
        return parse_schedule(config.data, path, known_reports, known_commands)
    except ConfigError as exc:
        raise config_files.with_line(exc, config) from None


def load_schedules(
    directory: str | Path, known_reports: tuple[str, ...] | None = None, known_commands: tuple[str, ...] | None = None
) -> list[Schedule]:
    """Every ``*.yaml``/``*.yml`` schedule in ``directory``, sorted by name; names must be unique."""
    directory = Path(directory)
    if known_reports is None:
        known_reports = available_report_names()
    if not directory.is_dir():
        raise ConfigError(str(directory), "(directory)", "schedules directory does not exist")
    schedules: dict[str, Schedule] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        schedule = load_schedule(path, known_reports, known_commands)
        if schedule.name in schedules:
            raise ConfigError(
                str(path), "name", f"{schedule.name!r} is already used by {schedules[schedule.name].path}"
            )
        schedules[schedule.name] = schedule
    return sorted(schedules.values(), key=lambda s: s.name)
