"""Prometheus config and rules pass promtool; the Grafana dashboard is what the generator
makes, has the required sections and settings, and only uses metrics and labels the
exporter produces."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fawkes_analytics import catalog as catalog_module
from fawkes_analytics.export import prometheus as prom

from . import promql
from .conftest import DEPLOY, run_promtool

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "fawkes-analytics.json"
RULES = DEPLOY / "prometheus" / "alerts.yml"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
# Labels the scrape adds: job and instance (the Pushgateway grouping key, kept by honor_labels).
TARGET_LABELS = {"job", "instance"}


def test_promtool_checks_rules_and_config(tmp_path) -> None:
    rules = run_promtool("check", "rules", str(RULES))
    assert rules.returncode == 0 and "SUCCESS: 6 rules found" in rules.stdout, rules.stdout + rules.stderr
    # promtool also checks that the files the config names exist: the rules beside it and the
    # scrape token of the /metrics job (a mounted secret in production, a placeholder here).
    for name in (CONFIG.name, RULES.name):
        (tmp_path / name).write_text((DEPLOY / "prometheus" / name).read_text(encoding="utf-8"), encoding="utf-8")
    for job in yaml.safe_load(CONFIG.read_text())["scrape_configs"]:
        token_file = (job.get("authorization") or {}).get("credentials_file")
        if token_file:
            (tmp_path / token_file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / token_file).write_text("placeholder\n", encoding="utf-8")
    config = run_promtool("check", "config", str(tmp_path / CONFIG.name))
    assert config.returncode == 0, config.stdout + config.stderr


def test_rules_cover_staleness_errors_srm_and_funnel_drop() -> None:
    rules = {r["alert"]: r["expr"] for r in promql.alert_rules(RULES)}
    assert "analytics_last_refresh_timestamp_seconds" in rules["AnalyticsMetricsStale"]
    assert "analytics_refresh_errors_total" in rules["AnalyticsRefreshErrors"]
    assert "analytics_experiment_srm_detected" in rules["AnalyticsExperimentSampleRatioMismatch"]
    assert "analytics_funnel_conversion_rate" in rules["AnalyticsFunnelConversionDrop"]
    assert "analytics_kpi_anomaly" in rules["AnalyticsKpiAnomaly"]
    pushgateway = next(
        j for j in yaml.safe_load(CONFIG.read_text())["scrape_configs"] if j["job_name"] == "pushgateway"
    )
    assert pushgateway["honor_labels"] is True


def test_dashboard_json_is_the_generator_output() -> None:
    spec = importlib.util.spec_from_file_location("build_dashboard", DEPLOY / "grafana" / "build_dashboard.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert DASHBOARD.read_text(encoding="utf-8") == module.render(), (
        "run deploy/grafana/build_dashboard.py and commit its output"
    )


def test_dashboard_settings_and_sections() -> None:
    board = promql.load_dashboard(DASHBOARD)
    assert board["refresh"] == "30s"
    assert board["timepicker"]["time_options"] == ["1h", "6h", "24h", "7d", "30d", "90d"]
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == [
        "Unusual changes",
        "Usage trends",
        "Feature adoption",
        "Experiment results",
        "User segments",
        "Conversion funnels",
    ]
    # The dashboard leads with the unusual changes: the panels of the first row, per KPI.
    first, second = (i for i, p in enumerate(board["panels"]) if p["type"] == "row" and p["title"] in rows[:2])
    leading = board["panels"][first + 1 : second]
    exprs = [t["expr"] for p in leading for t in p["targets"]]
    assert [promql.references(e)[0] for e in exprs] == [{"analytics_kpi_anomaly"}] * 2 + [{"analytics_kpi_anomaly_z"}]
    assert all("kpi" in promql.references(e)[1] for e in exprs)
    timeline = next(p for p in leading if p["type"] == "state-timeline")
    assert timeline["fieldConfig"]["defaults"]["mappings"][0]["options"]["1"] == {"text": "UNUSUAL", "color": "red"}
    text = [p for p in board["panels"] if p["type"] == "text"]
    assert len(text) == 1 and "How to read" in text[0]["options"]["content"]
    coloured = [
        p
        for p in board["panels"]
        if len(p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])) > 1
    ]
    assert len(coloured) >= 8, "KPIs carry colour thresholds"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] not in ("row", "text"):
            assert panel["datasource"]["uid"] == "prometheus" and panel["targets"], panel["title"]
    provisioned = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert provisioned["datasources"][0]["uid"] == "prometheus"
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "fawkes-analytics.yaml").read_text()
    )
    assert provider["providers"][0]["type"] == "file"


def unknown_references(board: dict, produced: dict[str, set[str]]) -> list[str]:
    """Every metric or label a dashboard query, legend or variable uses that is not produced."""
    problems = []
    for title, expr, legend in promql.dashboard_expressions(board):
        metrics, labels = promql.references(expr)
        problems += [f"{title}: metric {m}" for m in sorted(metrics - set(produced))]
        known = TARGET_LABELS.union(*(produced.get(m, set()) for m in metrics))
        problems += [f"{title}: label {label}" for label in sorted((labels | promql.legend_labels(legend)) - known)]
    for query in promql.variable_queries(board):
        metric, label = promql.label_values_reference(query)
        if metric not in produced or label not in TARGET_LABELS | produced[metric]:
            problems.append(f"variable {query}")
    return problems


@pytest.fixture(scope="module")
def produced(demo_source, demo_overview, demo_range) -> dict[str, set[str]]:
    """Metric name -> label names, read back from a real exposition of the demo data."""
    text = prom.export_metrics(
        demo_source, catalog_module.load(), demo_range, compute=lambda *_: demo_overview
    ).exposition
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def test_dashboard_uses_only_metrics_and_labels_the_exporter_produces(produced) -> None:
    board = promql.load_dashboard(DASHBOARD)
    assert unknown_references(board, produced) == []
    used = set().union(*(promql.references(e)[0] for _, e, _ in promql.dashboard_expressions(board)))
    assert len(used) >= 25, "the dashboard shows (nearly) every family"


def test_alert_rules_use_only_produced_metrics_and_labels(produced) -> None:
    for rule in promql.alert_rules(RULES):
        metrics, labels = promql.references(rule["expr"])
        assert metrics <= set(produced), rule["alert"]
        assert labels <= TARGET_LABELS.union(*(produced[m] for m in metrics)), rule["alert"]


def test_the_reference_check_catches_a_wrong_metric_or_label(produced) -> None:
    board = json.loads(DASHBOARD.read_text())
    panel = next(p for p in board["panels"] if p.get("title") == "Adoption rate by feature")
    panel["targets"][0]["expr"] = 'max by (feature) (analytics_feature_adoption_ratio{instance=~"$instance"})'
    panel["targets"][0]["legendFormat"] = "{{feature}}"
    problems = unknown_references(board, produced)
    assert "Adoption rate by feature: metric analytics_feature_adoption_ratio" in problems
    assert "Adoption rate by feature: label feature" in problems
    panel["targets"][0]["expr"] = 'sum(analytics_segment_size{segment="power"})'
    panel["targets"][0]["legendFormat"] = ""
    assert unknown_references(board, produced) == ["Adoption rate by feature: label segment"]


def test_kpi_anomaly_alert_fires_for_a_flagged_kpi_only(tmp_path) -> None:
    """promtool's rule unit test (Prometheus's own rule engine): two replicas export the same
    flags; visits is flagged (1) for 20 minutes, bounce_rate is judged and not flagged (0).
    After the rule's 10 minutes the alert fires once for visits (max by instance, kpi: the
    two pods are one alert) and never for bounce_rate."""
    (tmp_path / "alerts.yml").write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    series = [
        {
            "series": f'analytics_kpi_anomaly{{job="fawkes_analytics",instance="duckdb-demo",pod="{pod}",kpi="{kpi}"}}',
            "values": f"{flag}x20",
        }
        for pod in ("a", "b")
        for kpi, flag in (("visits", 1), ("bounce_rate", 0))
    ]
    labels = {"job": "fawkes_analytics", "instance": "duckdb-demo", "severity": "warning"}
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "AnalyticsKpiAnomaly", "exp_alerts": []},
                    {
                        "eval_time": "15m",
                        "alertname": "AnalyticsKpiAnomaly",
                        "exp_alerts": [
                            {
                                "exp_labels": {**labels, "kpi": "visits"},
                                "exp_annotations": {
                                    "summary": "Unusual change in visits (duckdb-demo)",
                                    "description": "The latest complete day of visits left its usual weekly cycle "
                                    "and trend; the overview report's Unusual changes section says by how much.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    result = run_promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
