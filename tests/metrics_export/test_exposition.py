"""The exposition: promtool accepts it, it carries exactly the documented families, its
numbers are the library's, and the error counter survives failed runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fawkes_analytics import catalog as catalog_module
from fawkes_analytics import timerange
from fawkes_analytics.export import prometheus as prom

from .conftest import run_promtool


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of an exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


@pytest.fixture(scope="module")
def demo_export(demo_source, demo_overview, demo_range, tmp_path_factory) -> prom.MetricsExport:
    folder = tmp_path_factory.mktemp("prom")
    return prom.export_metrics(
        demo_source,
        catalog_module.load(),
        demo_range,
        textfile=folder / "analytics.prom",
        compute=lambda *_: demo_overview,
    )


def test_promtool_accepts_the_exposition_without_lint_problems(demo_export: prom.MetricsExport) -> None:
    result = run_promtool("check", "metrics", stdin=demo_export.exposition)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", "promtool reported lint problems"


def test_exposition_has_every_documented_family_with_its_type_and_labels(demo_export: prom.MetricsExport) -> None:
    families = {f.name: f for f in text_string_to_metric_families(demo_export.exposition)}
    documented = {
        spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name: spec for spec in prom.SPECS
    }
    assert set(families) == set(documented)
    for name, family in families.items():
        spec = documented[name]
        assert family.type == spec.kind, name
        assert family.documentation == spec.help, name
        for sample in family.samples:
            assert set(sample.labels) == set(spec.labels), (name, sample.labels)
    # _total only on counters (the window counts named *_total in the issue are gauges).
    for spec in prom.SPECS:
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name


def test_values_are_the_library_numbers(demo_export: prom.MetricsExport, demo_overview) -> None:
    text = demo_export.exposition
    usage = demo_overview.usage
    assert value(text, "analytics_active_users") == usage.active_users > 0
    assert value(text, "analytics_total_users") == usage.total_users
    assert value(text, "analytics_page_views") == usage.pageviews
    assert value(text, "analytics_unique_visitors") == usage.visitors
    assert value(text, "analytics_bounce_rate_percentage") == pytest.approx(usage.bounce_rate)
    assert value(text, "analytics_avg_session_duration_seconds") == pytest.approx(usage.visit_duration)
    assert value(text, "analytics_window_seconds") == 86400
    for row in demo_overview.features.features.itertuples():
        assert value(text, "analytics_feature_adoption_rate", feature_name=row.feature) == pytest.approx(
            row.adoption_rate / 100
        )
        assert value(text, "analytics_feature_usage_events", feature_name=row.feature) == row.usage_count
        assert value(text, "analytics_feature_unique_users", feature_name=row.feature) == row.unique_users
    for row in demo_overview.segments.segments.itertuples():
        assert value(text, "analytics_segment_size", segment_name=row.segment) == row.users
        assert value(text, "analytics_segment_engagement", segment_name=row.segment) == pytest.approx(
            row.mean_engagement
        )
    for name, funnel in demo_overview.funnels.items():
        assert value(text, "analytics_funnel_conversion_rate", funnel_name=name) == pytest.approx(
            funnel.conversion_rate_pct / 100
        )
        last = funnel.steps.iloc[-1]
        labels = {"funnel_name": name, "step": str(last.step), "step_label": last.label}
        assert value(text, "analytics_funnel_step_completion_rate", **labels) == pytest.approx(
            funnel.converted / funnel.entered
        )
        assert value(text, "analytics_funnel_drop_off_rate", **labels) == pytest.approx(last.drop_off_pct / 100)
    for experiment_id, experiment in demo_overview.experiments.items():
        for row in experiment.users.itertuples():
            assert (
                value(text, "analytics_experiment_users", experiment_id=experiment_id, variant=row.variant) == row.users
            )
        primary = experiment.row(experiment.settings["primary_metric"])
        rate = value(text, "analytics_experiment_conversion_rate", experiment_id=experiment_id, variant=primary.variant)
        converted = value(
            text, "analytics_experiment_conversions", experiment_id=experiment_id, variant=primary.variant
        )
        assert rate == pytest.approx(primary.mean_variant) and converted == pytest.approx(rate * primary.n_variant)
        assert value(text, "analytics_experiment_srm_detected", experiment_id=experiment_id) == int(
            experiment.srm.flagged
        )
    significant = sum(
        int(e.results.verdict.isin(["better", "worse"]).sum()) for e in demo_overview.experiments.values()
    )
    assert value(text, "analytics_significant_results") == significant
    assert value(text, "analytics_active_experiments") == 2  # both demo experiments have assignments


def test_kpi_anomaly_is_the_verdict_on_each_kpis_latest_judged_day(demo_export, demo_overview) -> None:
    """analytics_kpi_anomaly{kpi}: 1 flagged / 0 not, with its robust z, for every KPI the overview
    judged; no series at all for a KPI without a verdict (not enough history is not "no anomaly")."""
    text = demo_export.exposition
    exported = {labels[0][1] for (name, labels) in samples(text) if name == "analytics_kpi_anomaly"}
    judged = set()
    for check in demo_overview.anomalies.checks:
        verdicts = check.days[check.days["status"].isin(["ok", "flagged"])]
        if verdicts.empty:
            continue
        judged.add(check.kpi.name)
        latest = verdicts.iloc[-1]
        flagged = value(text, "analytics_kpi_anomaly", kpi=check.kpi.name)
        assert flagged == (1 if latest["status"] == "flagged" else 0), check.kpi.name
        assert value(text, "analytics_kpi_anomaly_z", kpi=check.kpi.name) == pytest.approx(latest["z"])
        # The verdict agrees with the threshold: flagged exactly when |z| reaches it.
        assert flagged == int(abs(latest["z"]) >= check.threshold)
    assert exported == judged and {"visitors", "visits", "pageviews"} <= judged
    # 60 days of demo data: NPS (a few answers a day) has too little history to judge.
    assert demo_overview.anomalies.check("nps").status == "not_enough_history" and "nps" not in exported


# Hand-made scenario on 2026-01-10 (UTC), window [2026-01-10, 2026-01-11):
#   u0: a pageview the day before            -> seen ever, not active
#   u1: pageview 10:00, export_csv 10:05, sign_up 10:10, activate 10:20   (one 20-minute visit)
#   u2: pageview 11:00                                                    (a bounce)
#   u3: pageview 12:00, pageview 12:10, sign_up 12:15                     (one 15-minute visit)
# total users 4, active 3, visitors 3, pageviews 4, visits 3, bounce rate 100*1/3 = 33.3 %,
# visit duration (1200 + 0 + 900) / 3 = 700 s; feature "export": 1 event, 1 user, 1/3 of
# active users; funnel signup (sign_up -> activate): 2 entered, 1 converted -> 0.5, step 2
# drop-off 1/2 = 0.5.
SCENARIO_CATALOG = """
features:
  - {name: export, title: Export, events: [export_csv]}
funnels:
  - name: signup
    title: Sign-up
    steps: [{event: sign_up, label: Sign up}, {event: activate, label: Activate}]
    window: 1d
"""


def _events() -> pd.DataFrame:
    rows = [
        ("u0", "2026-01-09 09:00", "pageview"),
        ("u1", "2026-01-10 10:00", "pageview"),
        ("u1", "2026-01-10 10:05", "export_csv"),
        ("u1", "2026-01-10 10:10", "sign_up"),
        ("u1", "2026-01-10 10:20", "activate"),
        ("u2", "2026-01-10 11:00", "pageview"),
        ("u3", "2026-01-10 12:00", "pageview"),
        ("u3", "2026-01-10 12:10", "pageview"),
        ("u3", "2026-01-10 12:15", "sign_up"),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_name"])
    frame["timestamp"] = pd.to_datetime(frame.timestamp, utc=True)
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    frame["page"] = ["/"] * len(frame)
    return frame


def test_hand_made_scenario(make_source, tmp_path: Path) -> None:
    path = tmp_path / "analytics.yaml"
    path.write_text(SCENARIO_CATALOG, encoding="utf-8")
    source = make_source(events=_events())
    window = timerange.resolve(None, "2026-01-10", "2026-01-11", "UTC")
    result = prom.export_metrics(source, catalog_module.load(path), window, textfile=tmp_path / "out" / "a.prom")
    text = (tmp_path / "out" / "a.prom").read_text(encoding="utf-8")
    assert text == result.exposition
    assert value(text, "analytics_total_users") == 4
    assert value(text, "analytics_active_users") == 3
    assert value(text, "analytics_unique_visitors") == 3
    assert value(text, "analytics_page_views") == 4
    assert value(text, "analytics_visits") == 3
    assert value(text, "analytics_bounce_rate_percentage") == pytest.approx(100 / 3)
    assert value(text, "analytics_avg_session_duration_seconds") == pytest.approx(700)
    assert value(text, "analytics_feature_usage_events", feature_name="export") == 1
    assert value(text, "analytics_feature_unique_users", feature_name="export") == 1
    assert value(text, "analytics_feature_adoption_rate", feature_name="export") == pytest.approx(1 / 3)
    assert value(text, "analytics_funnel_entered", funnel_name="signup") == 2
    assert value(text, "analytics_funnel_conversion_rate", funnel_name="signup") == pytest.approx(0.5)
    step2 = {"funnel_name": "signup", "step": "2", "step_label": "Activate"}
    assert value(text, "analytics_funnel_step_completion_rate", **step2) == pytest.approx(0.5)
    assert value(text, "analytics_funnel_drop_off_rate", **step2) == pytest.approx(0.5)
    assert value(text, "analytics_active_experiments") == 0  # no experiments in this catalog
    assert (
        sum(v for (n, _), v in samples(text).items() if n == "analytics_segment_size") == 4
    )  # everyone seen, one segment each
    assert value(text, "analytics_refresh_errors_total") == 0


def test_failed_refresh_counts_keeps_last_numbers_and_counter_survives_runs(
    demo_source, demo_overview, demo_range, tmp_path: Path
) -> None:
    textfile = tmp_path / "metrics" / "analytics.prom"
    cat = catalog_module.load()
    clock = iter([1_000.0, 2_000.0]).__next__
    good = prom.export_metrics(
        demo_source, cat, demo_range, textfile=textfile, compute=lambda *_: demo_overview, clock=clock
    )
    assert good.errors_total == 0 and value(textfile.read_text(), "analytics_last_refresh_timestamp_seconds") == 1_000

    def broken(*_):
        raise RuntimeError("warehouse down")

    for expected in (1, 2):
        with pytest.raises(RuntimeError, match="warehouse down"):
            prom.export_metrics(demo_source, cat, demo_range, textfile=textfile, compute=broken, clock=clock)
        text = textfile.read_text()
        assert value(text, "analytics_refresh_errors_total") == expected
        # the last good numbers stay published with their old refresh time (so "stale" fires)
        assert value(text, "analytics_last_refresh_timestamp_seconds") == 1_000
        assert value(text, "analytics_active_users") == demo_overview.usage.active_users
        assert run_promtool("check", "metrics", stdin=text).returncode == 0
    state = prom.RefreshState.load(prom.state_path_for(textfile))
    assert state.errors_total == 2 and "warehouse down" in state.last_error

    again = prom.export_metrics(
        demo_source, cat, demo_range, textfile=textfile, compute=lambda *_: demo_overview, clock=clock
    )
    assert again.errors_total == 2, "a counter never goes down on success"
    assert value(textfile.read_text(), "analytics_last_refresh_timestamp_seconds") == 2_000
    # only the textfile and its state: the atomic write left no temporary file behind
    assert sorted(p.name for p in textfile.parent.iterdir()) == ["analytics.prom", "analytics.prom.state.json"]


def test_printing_only_does_not_touch_the_state(
    demo_source, demo_overview, demo_range, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv(prom.TEXTFILE_ENV, str(tmp_path / "analytics.prom"))
    result = prom.export_metrics(demo_source, catalog_module.load(), demo_range, compute=lambda *_: demo_overview)
    assert result.textfile is None and result.pushgateway is None
    assert "analytics_active_users" in result.exposition
    assert list(tmp_path.iterdir()) == []


def test_grouping_key_is_stable_and_secret_free(demo_source, monkeypatch) -> None:
    assert prom.grouping_key(demo_source) == {"instance": "duckdb-demo"}

    class Remote:
        kind = "postgres"
        url = "postgres://analyst:s3cret@db.internal:5432/analytics"

    assert prom.grouping_key(Remote()) == {"instance": "postgres-db.internal"}  # type: ignore[arg-type]
    monkeypatch.setenv(prom.INSTANCE_ENV, "prod")
    assert prom.grouping_key(demo_source) == {"instance": "prod"}


def test_unreadable_state_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "a.prom.state.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(Exception, match="a.prom.state.json"):
        prom.RefreshState.load(broken)


def test_timestamps_are_wall_clock_seconds(demo_source, demo_overview, demo_range) -> None:
    result = prom.export_metrics(demo_source, catalog_module.load(), demo_range, compute=lambda *_: demo_overview)
    now = datetime.now(UTC).timestamp()
    assert abs(value(result.exposition, "analytics_last_refresh_timestamp_seconds") - now) < 60
