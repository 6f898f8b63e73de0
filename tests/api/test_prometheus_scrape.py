"""A real Prometheus scrapes GET /metrics of the real server with the shipped scrape job.

The ``fawkes_analytics`` job of deploy/prometheus/prometheus.yml is used as it is (bearer token
from a credentials file, the relabelling), with two targets that reach the same server under
two addresses: two replicas, as the ServiceMonitor sees them. Then every family must arrive, the
Grafana queries must return the published numbers once (not twice), and the alert rules must
see one series per instance.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fawkes_analytics.export import prometheus as prom
from metrics_export import promql  # tests/ is on sys.path (rootdir-relative packages)

from .conftest import METRICS_TOKEN, Server, free_port

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def prometheus(api_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip("Debian's prometheus is not installed")
    work = tmp_path_factory.mktemp("prometheus-scrape")
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in shipped["scrape_configs"] if j["job_name"] == "fawkes_analytics")
    token_file = work / job["authorization"]["credentials_file"]
    token_file.parent.mkdir(parents=True)
    token_file.write_text(METRICS_TOKEN + "\n")
    port = urlsplit(api_server.url).port
    job = {**job, "scrape_interval": "1s", "static_configs": [{"targets": [f"127.0.0.1:{port}", f"localhost:{port}"]}]}
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", work / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [job],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom_port = free_port()
    url = f"http://127.0.0.1:{prom_port}"
    log = work / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def query(url: str, expr: str) -> list[dict]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def wait_for(url: str, expr: str, timeout: float = 40) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = query(url, expr)
        if result:
            return result
        time.sleep(0.5)
    raise TimeoutError(f"no data for {expr} after {timeout} s")


def published(api_server: Server) -> dict[str, list]:
    text = (api_server.reports / "metrics" / "analytics.prom").read_text()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_prometheus_gets_every_family_from_both_replicas(prometheus: str, api_server: Server) -> None:
    wait_for(prometheus, 'count(up{job="fawkes_analytics"} == 1) == 2')
    wait_for(prometheus, 'count(analytics_last_refresh_timestamp_seconds{job="fawkes_analytics"}) == 2')
    names = {
        r["metric"]["__name__"]
        for r in query(prometheus, 'count by (__name__) ({job="fawkes_analytics", __name__=~"analytics_.+"})')
    }
    assert names == {spec.name for spec in prom.SPECS}
    # Every published sample arrives once per replica, with the published value.
    samples = published(api_server)
    for family_samples in samples.values():
        for sample in family_samples:
            selector = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
            got = query(
                prometheus,
                f'{sample.name}{{job="fawkes_analytics",{selector}}}'
                if selector
                else f'{sample.name}{{job="fawkes_analytics"}}',
            )
            assert len(got) == 2, (sample, got)
            assert {float(r["value"][1]) for r in got} == {sample.value}
            assert {r["metric"]["instance"] for r in got} == {"fawkes-analytics"}
            assert len({r["metric"]["replica"] for r in got}) == 2


def test_dashboard_queries_count_each_source_once(prometheus: str, api_server: Server) -> None:
    wait_for(prometheus, 'count(analytics_active_users{job="fawkes_analytics"}) == 2')
    board = promql.load_dashboard(DEPLOY / "grafana" / "dashboards" / "fawkes-analytics.json")
    empty = [
        f"{title}: {expr}"
        for title, expr, _ in promql.dashboard_expressions(board)
        if not query(prometheus, promql.substitute(expr))
    ]
    assert empty == []
    samples = published(api_server)
    for family in (
        "analytics_active_users",
        "analytics_total_users",
        "analytics_unique_visitors",
        "analytics_page_views",
    ):
        expr = next(e for _, e, _ in promql.dashboard_expressions(board) if f"({family}{{" in e)
        (result,) = query(prometheus, promql.substitute(expr))
        (sample,) = samples[family]
        assert float(result["value"][1]) == sample.value > 0  # not 2x: one value per instance


def test_alert_rules_see_one_series_per_instance_and_none_fires(prometheus: str) -> None:
    wait_for(prometheus, 'count(analytics_funnel_entered{job="fawkes_analytics"}) > 0')
    rules = promql.alert_rules(DEPLOY / "prometheus" / "alerts.yml")
    for rule in rules:
        looked_at = query(prometheus, promql.non_filtering(rule["expr"]))
        assert looked_at, rule["alert"]
        if "absent(" in rule["expr"]:
            continue  # absent() is empty or one series whatever the replicas
        keys = [tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("replica",))) for r in looked_at]
        assert len(keys) == len(set(keys)), rule["alert"]  # no replica duplicates
        assert all("replica" not in r["metric"] for r in looked_at), rule["alert"]
    assert [rule["alert"] for rule in rules if query(prometheus, rule["expr"])] == []
