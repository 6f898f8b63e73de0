"""JSON Schemas for analytics.yaml and schedules/*.yaml: the shipped files validate, editors
find the schema, and the loaders refuse unknown keys and wrong types naming the key and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from fawkes_analytics import catalog
from fawkes_analytics.errors import ConfigError
from fawkes_analytics.schedules.config import KNOWN_REPORTS, load_schedule

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [
    (REPO / "analytics.yaml", "analytics"),
    *[(p, "schedule") for p in sorted((REPO / "schedules").glob("*.yaml"))],
]


@pytest.mark.parametrize(("path", "schema"), SHIPPED, ids=lambda v: getattr(v, "name", v))
def test_shipped_files_validate_and_name_their_schema_for_editors(path: Path, schema: str) -> None:
    schema_file = REPO / "schemas" / f"{schema}.schema.json"
    loaded = json.loads(schema_file.read_text())
    Draft202012Validator.check_schema(loaded)
    errors = list(Draft202012Validator(loaded).iter_errors(yaml.safe_load(path.read_text())))
    assert errors == [], [e.message for e in errors]
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (path.parent / first.split("$schema=", 1)[1]).resolve() == schema_file


def load_catalog(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "analytics.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        catalog.load(path)
    assert caught.value.path == str(path) and str(caught.value).startswith(f"{path}:{caught.value.line}: ")
    return caught.value


@pytest.mark.parametrize(
    ("text", "key", "line", "fragment"),
    [
        ("features: 5\n", "features", 1, "must be a list"),
        (
            "features:\n  - name: a\n    evnts: [x]\n",
            "features[0].evnts",
            3,
            "unknown key (allowed: events, name, title)",
        ),
        ("adoption:\n  trend_threshold_pct: lots\n", "adoption.trend_threshold_pct", 2, "must be a number"),
        ("funnels:\n  - name: f\n    steps: [a, b]\n    windw: 1d\n", "funnels[0].windw", 4, "unknown key"),
        ("funnels:\n  - name: f\n    steps: [a, 5]\n", "funnels[0].steps[1]", 3, "not allowed"),
        (
            "segments:\n  rules:\n    - name: new\n      first_seen_days: 7\n",
            "segments.rules[0].first_seen_days",
            4,
            "unknown key",
        ),
        ("kpis:\n  bounce_rate: {maximum: 70}\n", "kpis.bounce_rate.maximum", 2, "allowed: max, min"),
        ("retention:\n  reports:\n    overview: {runs: 0}\n", "retention.reports.overview.runs", 3, ">= 1"),
        ("colour: red\n", "colour", 1, "unknown key"),
        ("features:\n  - {name: a}\n  - {name: a}\n", "features", 1, "defined twice"),
        ("funnels:\n  - name: f\n    steps: [a, b]\n    window: soon\n", "funnels[0].window", 4, "not a duration"),
    ],
)
def test_catalog_mistakes_name_the_key_and_the_line(
    tmp_path: Path, text: str, key: str, line: int, fragment: str
) -> None:
    error = load_catalog(tmp_path, text)
    assert (error.key, error.line) == (key, line) and fragment in error.problem


BASE = "cron: '0 7 * * *'\ntimezone: Europe/Berlin\nreport: overview\n"


@pytest.mark.parametrize(
    ("text", "key", "line", "fragment"),
    [
        (BASE + "emial:\n  to: [a@example.com]\n", "emial", 4, "unknown key"),
        (BASE + "email:\n  to: [a@example.com]\n  bcc: [b@example.com]\n", "email.bcc", 6, "unknown key"),
        (BASE + "retries: many\n", "retries", 4, "must be a whole number"),
        (BASE + "catchup: 'no'\n", "catchup", 4, "must be true or false"),
        (BASE + "outputs: [html, docx]\n", "outputs", 4, "'docx' is not allowed"),
        (BASE + "timeout: soon\n", "timeout", 4, "not a duration"),
        (BASE + "retention: {keep: 3}\n", "retention.keep", 4, "unknown key"),
        ("cron: '0 7 * *'\nreport: overview\n", "cron", 1, "minute hour day month weekday"),
        (BASE.replace("Europe/Berlin", "Mars/Olympus"), "timezone", 2, "IANA"),
        (BASE + "command: refresh-cache\n", "report", 3, "exactly one of"),
    ],
)
def test_schedule_mistakes_name_the_key_and_the_line(
    tmp_path: Path, text: str, key: str, line: int, fragment: str
) -> None:
    path = tmp_path / "daily.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_schedule(path, KNOWN_REPORTS)
    assert (caught.value.key, caught.value.line) == (key, line) and fragment in caught.value.problem
