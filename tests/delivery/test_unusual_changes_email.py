"""The report email leads with the report's unusual changes, and ``send: on_anomaly`` mails a
run only when it flagged one: a real SMTP server (aiosmtpd on loopback), the run folder's
data.json written by ``Report.save`` from a real detector verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sched_support import build_run_folder

from anomalies.conftest import PAGEVIEWS, START, daily, weekly_counts  # tests/ is on sys.path
from fawkes_analytics import sources, timerange
from fawkes_analytics.anomalies import AnomalyReport, check_kpi, ranked
from fawkes_analytics.delivery import deliver
from fawkes_analytics.errors import ConfigError
from fawkes_analytics.metrics import usage_trends
from fawkes_analytics.report import Report
from fawkes_analytics.schedules.config import parse_schedule

TO = ["ana@example.com"]
DAY = START + timedelta(days=78)  # Tuesday 18 Aug: the weekly cycle expects about 42,000 pageviews
SENTENCE = "Pageviews on Tue 18 Aug were"


def anomalies(drop: bool) -> AnomalyReport:
    """The detector's verdict on Tue 18 Aug: 84 days of pageviews (40,000 x the weekly cycle x 2%
    noise), that day 38% below its expected 42,000 (26,040) when ``drop``, untouched otherwise."""
    values = weekly_counts(84)
    if drop:
        values[78] = 0.62 * 42_000
    check = check_kpi(daily(PAGEVIEWS, values), "medium", DAY, DAY)
    as_of = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1)
    return AnomalyReport(as_of, "UTC", DAY, DAY, [check], ranked(check.flags), {})


def published_run(tmp_path: Path, demo_db: object, found: AnomalyReport | None) -> Path:
    """A run folder whose data.json is what ``Report.save`` writes after the report's section."""
    run_dir = build_run_folder(tmp_path / "reports")
    source = sources.connect(f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
    report = Report("overview", "Product overview", source, timerange.resolve("24h", as_of=source.default_as_of()))
    report.kpis(usage_trends(source, report.time_range))  # the tiles the email lists after the changes
    if found is not None:
        section = report.unusual_changes(found).markup
        assert (SENTENCE in section) == bool(found.flags)
    report.save(run_dir)
    return run_dir


def schedule(tmp_path: Path, send: str, report: str = "overview") -> object:
    raw = {"cron": "0 7 * * *", "report": report, "email": {"to": TO, "send": send}}
    return parse_schedule(raw, tmp_path / "daily.yaml")


def test_on_anomaly_sends_a_run_that_flagged_a_change_leading_with_it(tmp_path, smtp_server, demo_db) -> None:
    run_dir = published_run(tmp_path, demo_db, anomalies(drop=True))
    (flag,) = json.loads((run_dir / "data.json").read_text())["unusual_changes"]
    # 26,040 against about 42,000: 38% below (within the 2% noise of the expected value).
    assert flag["kpi"] == "pageviews" and flag["observed"] == pytest.approx(26_040)
    assert flag["change"] == pytest.approx(-38, abs=2) and flag["direction"] == "down"

    outcome = deliver(
        schedule(tmp_path, "on_anomaly"), report="overview", run_dir=run_dir, status="succeeded", env=smtp_server.env()
    )

    assert outcome.sent == TO and outcome.skipped == []
    msg = smtp_server.handler.parsed()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert flag["sentence"] in body and flag["sentence"].startswith(SENTENCE)
        # The email leads with it: the section comes before the KPIs.
        assert body.index("Unusual changes") < body.index(flag["sentence"]) < body.index("Visitors")


def test_on_anomaly_skips_a_quiet_run_and_a_report_without_the_section(tmp_path, smtp_server, demo_db) -> None:
    quiet = published_run(tmp_path, demo_db, anomalies(drop=False))
    assert json.loads((quiet / "data.json").read_text())["unusual_changes"] == []
    outcome = deliver(
        schedule(tmp_path, "on_anomaly"), report="overview", run_dir=quiet, status="succeeded", env=smtp_server.env()
    )
    assert outcome.sent == [] and outcome.skipped == ["send: on_anomaly and no unusual change was flagged"]

    unchecked = published_run(tmp_path, demo_db, None)  # the section was never shown
    assert json.loads((unchecked / "data.json").read_text())["unusual_changes"] is None
    outcome = deliver(
        schedule(tmp_path, "on_anomaly"),
        report="overview",
        run_dir=unchecked,
        status="succeeded",
        env=smtp_server.env(),
    )
    assert outcome.sent == [] and "has no Unusual changes section" in outcome.skipped[0]
    record = json.loads((unchecked / "run.json").read_text())
    assert [e["state"] for e in record["delivery"]] == ["skipped"]
    assert smtp_server.handler.messages == []

    # A built-in report without the section is refused when the schedule is loaded.
    with pytest.raises(ConfigError, match="send: on_anomaly needs reports with an 'Unusual changes' section"):
        schedule(tmp_path, "on_anomaly", report="user_segments")
