"""Schedule files: the shipped ones load; mistakes name the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fawkes_analytics.errors import ConfigError
from fawkes_analytics.schedules.config import KNOWN_REPORTS, load_schedule, load_schedules, parse_duration

SHIPPED = Path(__file__).resolve().parents[2] / "schedules"

BASE = {"cron": "0 7 * * *", "timezone": "Europe/Berlin", "report": "overview", "email": {"to": ["a@example.com"]}}


def test_shipped_schedules_load():
    schedules = {s.name: s for s in load_schedules(SHIPPED, KNOWN_REPORTS)}
    assert set(schedules) == {"daily-overview", "weekly-reports", "metrics-export", "refresh"}
    daily = schedules["daily-overview"]
    assert daily.reports == ("overview",) and daily.timezone == "Europe/Berlin" and daily.email.send == "always"
    assert daily.timeout == 15 * 60 and daily.retries == 2 and daily.retry_backoff == 120
    weekly = schedules["weekly-reports"]
    assert len(weekly.reports) == 6 and "pdf" in weekly.outputs and weekly.email.attach == ("pdf",)
    metrics = schedules["metrics-export"]
    assert metrics.cron == "*/5 * * * *" and metrics.email is None and metrics.owners and metrics.catchup is False
    refresh = schedules["refresh"]  # the rollup store, every 5 minutes, as a command job
    assert refresh.cron == "*/5 * * * *" and refresh.command == "refresh" and refresh.email is None


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


def with_email(**email) -> dict:
    return {**BASE, "email": {**BASE["email"], **email}}


@pytest.mark.parametrize(
    ("raw", "key", "fragment"),
    [
        ({**BASE, "cron": "0 7 * *"}, "cron", "minute hour day month weekday"),
        ({**BASE, "timezone": "Mars/Olympus"}, "timezone", "IANA time zone"),
        ({**BASE, "report": "overveiw"}, "report", "allowed: usage_trends"),
        ({**BASE, "reports": ["funnels"]}, "report", "exactly one of"),
        ({**BASE, "colour": "red"}, "colour", "unknown key (allowed:"),
        ({**BASE, "outputs": ["html", "docx"]}, "outputs", "allowed: html, pdf, csv, json"),
        ({**BASE, "timeout": "soon"}, "timeout", "'15m'"),
        ({**BASE, "retries": -1}, "retries", "0 to 10"),
        ({**BASE, "owners": ["not-an-address"]}, "owners", "not an email address"),
        (with_email(send="sometimes"), "email.send", "allowed: always, on_failure, on_threshold"),
        (with_email(send="on_threshold"), "email.threshold.kpi", "name of a KPI"),
        (
            with_email(send="on_threshold", threshold={"kpi": "bounce_rate"}),
            "email.threshold",
            "'above' and/or 'below'",
        ),
        (with_email(threshold={"kpi": "x", "above": 1}), "email.threshold", "only allowed with send: on_threshold"),
        (with_email(subject="{title} {weekday}"), "email.subject", "unknown field {weekday}"),
        (with_email(attach=["pdf"]), "email.attach", "not produced"),
        (with_email(to=[]), "email.to", "at least one recipient"),
        (with_email(bcc=["x@example.com"]), "email.bcc", "unknown key"),
    ],
)
def test_config_errors_name_file_key_and_allowed(tmp_path, raw, key, fragment):
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_schedule(path, KNOWN_REPORTS)
    assert info.value.path == str(path)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_invalid_yaml_and_duplicate_names(tmp_path):
    (tmp_path / "a.yaml").write_text("cron: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_schedule(tmp_path / "a.yaml", KNOWN_REPORTS)
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({**BASE, "name": "same"}))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({**BASE, "name": "same"}))
    with pytest.raises(ConfigError) as info:
        load_schedules(tmp_path, KNOWN_REPORTS)
    assert info.value.key == "name" and "already used" in str(info.value)


def test_on_failure_needs_no_recipients_and_threshold_parses(tmp_path):
    s = load_schedule(
        write(tmp_path, {**BASE, "email": {"send": "on_failure"}, "owners": ["o@example.com"]}), KNOWN_REPORTS
    )
    assert s.email.send == "on_failure" and s.email.to == ()
    t = load_schedule(
        write(tmp_path, with_email(send="on_threshold", threshold={"kpi": "bounce_rate", "above": 70})), KNOWN_REPORTS
    )
    assert t.email.threshold.crossed(70.1) and not t.email.threshold.crossed(70)


@pytest.mark.parametrize(
    ("text", "seconds"), [(90, 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1.5d", 129600.0)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds
