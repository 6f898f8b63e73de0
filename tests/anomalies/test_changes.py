"""unusual_changes and forecast on demo data with a known anomaly; the sensitivity setting."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from fawkes_analytics import catalog as catalog_module
from fawkes_analytics import demo, sources
from fawkes_analytics.anomalies import AnomalyReport, all_kpis, forecast, sensitivity_for, unusual_changes
from fawkes_analytics.demo_inject import Anomaly
from fawkes_analytics.errors import ConfigError

END = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)  # 70 days from Fri 4 Sep 12:00
DROP_DAY = date(2026, 11, 10)  # a Tuesday


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> object:
    """70 days of demo data (about 1,100 visits a weekday) with visits halved on Tue 10 Nov."""
    path = tmp_path_factory.mktemp("changes") / "demo.duckdb"
    demo.generate(
        path,
        events=120_000,
        seed=5,
        days=70,
        end=END,
        progress=False,
        inject=[Anomaly("drop", "visits", DROP_DAY, 0.5)],
    )
    return sources.connect(f"duckdb://{path}")


@pytest.fixture(scope="module")
def report(injected: object) -> AnomalyReport:
    return unusual_changes(injected, catalog_module.load(), END, days=7)  # type: ignore[arg-type]


def test_the_injected_drop_leads_the_report(report: AnomalyReport) -> None:
    # Judged: the 7 complete days before 15 Nov 12:00, i.e. Mon 9 to Sun 15 Nov... up to 14 Nov.
    assert (report.first_day, report.last_day) == (date(2026, 11, 8), date(2026, 11, 14))
    assert [c.kpi.name for c in report.checks] == [k.name for k in all_kpis(catalog_module.load())]
    top = report.flags[0]
    # Half of the day's users lost their visits: visitors, visits and pageviews all about
    # 50% below expected on Tue 10 Nov, flagged and ranked above anything else.
    assert {(f.kpi, f.day) for f in report.flags[:3]} == {(k, DROP_DAY) for k in ("visitors", "visits", "pageviews")}
    assert top.change == pytest.approx(-50, abs=10) and top.direction == "down" and not top.good
    assert top.sentence.startswith(f"{top.label} on Tue 10 Nov were ") and "% below the expected " in top.sentence
    assert [f.strength for f in report.flags] == sorted((f.strength for f in report.flags), reverse=True)
    visits = report.check("visits")
    assert visits.status == "flagged" and len(visits.days) == 7 and visits.smallest_change > 0


def test_statuses_say_why_a_kpi_was_not_judged(report: AnomalyReport) -> None:
    # 70 days of data: every KPI has its 42 days of history before 8 Nov. A funnel's conversion
    # is judged on the days that became final in the judged week: onboarding (14-day window)
    # on 25-31 Oct, deployment (1 day) on 7-13 Nov; NPS has a few answers a day at most, so
    # some days have none.
    onboarding = report.check("conversion.onboarding")
    assert (onboarding.days["day"].iloc[0], onboarding.days["day"].iloc[-1]) == (date(2026, 10, 25), date(2026, 10, 31))
    assert onboarding.status in {"ok", "flagged"} and "not_final" not in set(onboarding.days["status"])
    deployment = report.check("conversion.deployment")
    assert (deployment.days["day"].iloc[0], deployment.days["day"].iloc[-1]) == (date(2026, 11, 7), date(2026, 11, 13))
    for check in report.checks:
        assert check.status in {"ok", "flagged", "not_final", "not_enough_history", "no_data"}
        assert check.flags == [] or check.status == "flagged"


def test_the_report_round_trips_and_exports(report: AnomalyReport) -> None:
    back = AnomalyReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert back.to_dict() == report.to_dict() and back.flags == report.flags
    table = report.to_frames()["unusual_changes"]
    assert list(table["sentence"]) == [f.sentence for f in report.flags]


def test_sensitivity_comes_from_the_catalog(injected: object, tmp_path: Path) -> None:
    path = tmp_path / "analytics.yaml"
    shipped = Path(catalog_module.DEFAULT_PATH).read_text(encoding="utf-8")
    path.write_text(
        shipped.replace("    default: medium\n", "    default: medium\n    visits: 100\n    pageviews: low\n"),
        encoding="utf-8",
    )
    catalog = catalog_module.load(path)
    assert sensitivity_for(catalog, "visits") == 100 and sensitivity_for(catalog, "pageviews") == "low"
    assert sensitivity_for(catalog, "bounce_rate") == "medium"
    kpis = [k for k in all_kpis(catalog) if k.name in ("visits", "pageviews")]
    report = unusual_changes(injected, catalog, END, days=7, kpis=kpis)  # type: ignore[arg-type]
    # A 50% drop is far beyond robust z 5 (low), but not 100.
    assert report.check("visits").status == "ok" and report.check("visits").threshold == 100
    assert report.check("pageviews").status == "flagged" and report.check("pageviews").threshold == 5.0


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("anomalies:\n  sensitivity:\n    revenue: high\n", "anomalies.sensitivity.revenue", "unknown KPI 'revenue'"),
        ("anomalies:\n  sensitivity:\n    visits: extreme\n", "anomalies.sensitivity.visits", "extreme"),
        (
            "funnels:\n  - {name: f, steps: [a, b]}\nanomalies:\n  sensitivity:\n    conversion.g: low\n",
            "anomalies.sensitivity.conversion.g",
            "conversion.f",
        ),
    ],
)
def test_sensitivity_mistakes_name_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = tmp_path / "analytics.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        catalog_module.load(path)
    assert f"'{key}'" in str(caught.value) and problem in str(caught.value)


def test_forecasts_for_usage_and_conversions(injected: object) -> None:
    result = forecast(injected, catalog_module.load(), END)  # type: ignore[arg-type]
    names = [f.kpi.name for f in result.forecasts]
    assert names == ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"] + [
        "conversion.onboarding",
        "conversion.deployment",
        "conversion.service_creation",
    ]
    visits = result.forecast("visits")
    # From Sun 15 Nov (the day after the last complete day) for 14 days, 80% intervals.
    assert visits.status == "ok" and visits.points.loc[0, "day"] == date(2026, 11, 15) and len(visits.points) == 14
    assert (visits.points["lower"] < visits.points["forecast"]).all()
    assert (visits.points["forecast"] < visits.points["upper"]).all()
    # Midweek about twice as busy as Sunday, as in the data (Wed 11 Nov 564 visits, Sun 8 Nov 222).
    assert visits.points.loc[3, "forecast"] / visits.points.loc[0, "forecast"] == pytest.approx(2.2, rel=0.2)

    # Onboarding's last final day is 31 Oct (14-day window): its forecast starts on 1 Nov.
    assert result.forecast("conversion.onboarding").last_day == date(2026, 10, 31)


def test_every_range_of_one_day_shares_one_read_of_the_series(injected: object) -> None:
    from fawkes_analytics import timerange
    from fawkes_analytics.anomalies import changes, outlook

    cat = catalog_module.load()
    changes._READS.entries.clear()
    week, month = (timerange.resolve(r, as_of=END) for r in ("7d", "30d"))
    first = outlook(injected, cat, week)  # type: ignore[arg-type]
    second = outlook(injected, cat, month)  # type: ignore[arg-type]
    # Both end on 14 Nov (their last complete day): one read serves both, forecasts included.
    assert len(changes._READS.entries) == 1
    assert second.forecasts is not None and first.forecasts is not None
    assert second.forecasts.forecasts is first.forecasts.forecasts
    # And it gives what a fresh read gives: the month (28 judged days, 18 Oct - 14 Nov) re-read.
    changes._READS.entries.clear()
    fresh = outlook(injected, cat, month)  # type: ignore[arg-type]
    assert (second.first_day, second.last_day) == (date(2026, 10, 18), date(2026, 11, 14))
    assert json.dumps(second.to_dict(), default=str) == json.dumps(fresh.to_dict(), default=str)


def test_the_outlook_of_every_kpi_narrowed_equals_the_outlook_of_those_kpis(injected: object) -> None:
    from fawkes_analytics import timerange
    from fawkes_analytics.anomalies import changes, outlook, usage_kpis

    # A report of one area shows its own KPIs from the outlook of all of them (the question
    # the dashboards' refresh already answered): the same checks, flags and forecasts as an
    # outlook asked for those KPIs alone. The usage KPIs read less history (no funnel settles).
    cat = catalog_module.load()
    week = timerange.resolve("7d", as_of=END)
    changes._READS.entries.clear()
    narrowed = outlook(injected, cat, week).only(k.name for k in usage_kpis())  # type: ignore[arg-type]
    changes._READS.entries.clear()
    alone = outlook(injected, cat, week, kpis=usage_kpis())  # type: ignore[arg-type]
    assert [c.kpi.name for c in narrowed.checks] == ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]
    assert {f.kpi for f in narrowed.flags} >= {"visitors", "visits", "pageviews"}  # the injected drop
    assert narrowed.forecasts is not None and len(narrowed.forecasts.forecasts) == 5
    assert json.dumps(narrowed.to_dict(), default=str) == json.dumps(alone.to_dict(), default=str)


def test_an_aggregate_only_source_says_why_it_has_no_unusual_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from fawkes_analytics import timerange
    from fawkes_analytics.anomalies import outlook
    from fawkes_analytics.views.anomalies import unusual_changes as section

    # Plausible answers with aggregates only: no daily series of every KPI to judge. The
    # answer comes before any request (the discard port would fail one).
    monkeypatch.setenv("PLAUSIBLE_API_KEY", "test-key")
    plausible = sources.connect("plausible+http://127.0.0.1:9/example.com")
    report = outlook(plausible, catalog_module.load(), timerange.resolve("7d", as_of=END))
    assert (report.checks, report.flags, report.forecasts) == ([], [], None)
    why = "Unusual changes need an events source; plausible answers with aggregates only."
    assert report.unavailable == why
    assert AnomalyReport.from_dict(json.loads(json.dumps(report.to_dict()))).unavailable == why
    assert why in str(section(report)) and "No unusual changes" not in str(section(report))
