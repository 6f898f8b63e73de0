"""End to end against Debian's Prometheus and Pushgateway on free loopback ports.

The export runs through the ``fawkes-analytics metrics --textfile --push`` command on the demo
data; Prometheus (scrape and rule evaluation every second) scrapes the Pushgateway with
``honor_labels`` and, as a second job, a small HTTP server serving the textfile (what
node_exporter's textfile collector would expose). Then every PromQL expression of the Grafana
dashboard and of the alert rules runs through ``/api/v1/query`` and must return data.

Alert conditions may legitimately be empty (nothing is wrong with the demo data), so each rule
is run in a non-filtering form: every comparison gets the ``bool`` modifier and ``absent(x)``
becomes ``x`` (see ``promql.non_filtering``). That form returns exactly the series the alert
looks at, with 0/1 values, so an empty answer can only mean a missing or mislabelled series.
The rules file is also loaded by this Prometheus and every rule must evaluate with health "ok".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fawkes_analytics import catalog as catalog_module
from fawkes_analytics.export import prometheus as prom
from fawkes_analytics.metrics import feature_adoption, usage_trends
from fawkes_analytics.metrics.funnels import funnel_report

from . import promql
from .conftest import DEPLOY

PROMETHEUS = "/usr/bin/prometheus"
PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "fawkes-analytics.json"
RULES = DEPLOY / "prometheus" / "alerts.yml"

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout} s: {log.read_text(errors='replace')[-2000:]}")


@contextlib.contextmanager
def daemon(args: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(ready_url, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class TextfileHandler(BaseHTTPRequestHandler):
    """Serves the textfile at /metrics, as node_exporter's textfile collector would."""

    path_to_serve: Path

    def do_GET(self) -> None:  # noqa: N802
        body = self.path_to_serve.read_bytes() if self.path_to_serve.exists() else b""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Pushgateway, a textfile server and Prometheus scraping both, on free loopback ports."""
    for binary in (PROMETHEUS, PUSHGATEWAY):
        if not os.access(binary, os.X_OK):
            pytest.skip(f"{binary} missing: install Debian's prometheus and prometheus-pushgateway")
    work = tmp_path_factory.mktemp("prometheus")
    textfile = work / "textfile" / "analytics.prom"
    handler = type("Handler", (TextfileHandler,), {"path_to_serve": textfile})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    push_port, prom_port = free_port(), free_port()
    rules = work / "alerts.yml"
    shutil.copy(RULES, rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{push_port}"]}],
            },
            {"job_name": "analytics_textfile", "static_configs": [{"targets": [f"127.0.0.1:{server.server_port}"]}]},
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    push_url = f"http://127.0.0.1:{push_port}"
    prom_url = f"http://127.0.0.1:{prom_port}"
    try:
        with (
            daemon(
                [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{push_port}"],
                f"{push_url}/-/ready",
                work / "pushgateway.log",
            ),
            daemon(
                [
                    PROMETHEUS,
                    f"--config.file={work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={work / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                f"{prom_url}/-/ready",
                work / "prometheus.log",
            ),
        ):
            yield {"push_url": push_url, "prom_url": prom_url, "textfile": textfile}
    finally:
        server.shutdown()
        server.server_close()


def query(prom_url: str, expr: str) -> list[dict]:
    response = httpx.get(f"{prom_url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    return body["data"]["result"]


def wait_for(prom_url: str, expr: str, timeout: float = 40) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = query(prom_url, expr)
        if result:
            return result
        time.sleep(0.5)
    raise TimeoutError(f"no data for {expr} after {timeout} s")


def one(prom_url: str, expr: str) -> float:
    result = query(prom_url, expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def run_cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="fawkes-analytics")
    prom.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


def test_dashboard_and_alert_queries_return_the_library_numbers(
    stack, demo_db, demo_source, demo_range, monkeypatch
) -> None:
    prom_url, textfile = str(stack["prom_url"]), Path(stack["textfile"])  # type: ignore[arg-type]
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", f"duckdb://{demo_db.path}")
    monkeypatch.setenv(prom.PUSHGATEWAY_ENV, str(stack["push_url"]))
    code, printed = run_cli(["metrics", "--time-range", "24h", "--textfile", str(textfile), "--push"])
    assert code == 0 and textfile.read_text(encoding="utf-8") == printed

    # Scraped from both paths; then enough samples for increase()/avg_over_time().
    wait_for(
        prom_url, 'count(analytics_last_refresh_timestamp_seconds{job=~"fawkes_analytics|analytics_textfile"}) == 2'
    )
    wait_for(prom_url, 'count_over_time(analytics_refresh_errors_total{job="fawkes_analytics"}[1m]) >= 3')

    board = promql.load_dashboard(DASHBOARD)
    expressions = promql.dashboard_expressions(board)
    assert len(expressions) >= 30
    empty = [f"{title}: {expr}" for title, expr, _ in expressions if not query(prom_url, promql.substitute(expr))]
    assert empty == [], "dashboard queries without data"
    for variable in promql.variable_queries(board):
        metric, label = promql.label_values_reference(variable)
        values = httpx.get(f"{prom_url}/api/v1/label/{label}/values", params={"match[]": metric}, timeout=10).json()[
            "data"
        ]
        assert values, variable

    rules = promql.alert_rules(RULES)
    empty = [rule["alert"] for rule in rules if not query(prom_url, promql.non_filtering(rule["expr"]))]
    assert empty == [], "alert rules whose series are missing"
    # Nothing is wrong with fresh demo data: no alert condition holds right now.
    assert [rule["alert"] for rule in rules if query(prom_url, rule["expr"])] == []
    loaded = httpx.get(f"{prom_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    health = {r["name"]: r["health"] for g in loaded for r in g["rules"]}
    deadline = time.monotonic() + 10
    while any(h != "ok" for h in health.values()) and time.monotonic() < deadline:
        time.sleep(1)
        loaded = httpx.get(f"{prom_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        health = {r["name"]: r["health"] for g in loaded for r in g["rules"]}
    assert health == {rule["alert"]: "ok" for rule in rules}

    # Key series equal the library's numbers, computed here with the library's own calls.
    cat = catalog_module.load()
    usage = usage_trends(demo_source, demo_range)
    adoption = feature_adoption(demo_source, cat, demo_range).features.set_index("feature")
    deployment = funnel_report(demo_source, cat.funnels["deployment"], demo_range)
    for job in ("fawkes_analytics", "analytics_textfile"):
        assert one(prom_url, f'analytics_active_users{{job="{job}"}}') == usage.active_users > 0
        assert one(prom_url, f'analytics_page_views{{job="{job}"}}') == usage.pageviews
        assert one(
            prom_url, f'analytics_feature_adoption_rate{{job="{job}",feature_name="run_pipeline"}}'
        ) == pytest.approx(adoption.loc["run_pipeline", "adoption_rate"] / 100, rel=1e-12)
        assert one(
            prom_url, f'analytics_funnel_conversion_rate{{job="{job}",funnel_name="deployment"}}'
        ) == pytest.approx(deployment.conversion_rate_pct / 100, rel=1e-12)
    # The Pushgateway group carries the stable grouping key (kept by honor_labels).
    pushed = query(prom_url, "analytics_active_users{job='fawkes_analytics'}")
    assert pushed[0]["metric"]["instance"] == "duckdb-demo"


def test_failed_refresh_keeps_pushed_numbers_and_counts_the_error(
    stack, demo_source, demo_overview, demo_range, tmp_path
) -> None:
    """A failing refresh POSTs only the refresh families: the group keeps its data, the
    counter goes up and the refresh time stays old (runs after the test above)."""
    push_url = str(stack["push_url"])
    cat = catalog_module.load()
    textfile = tmp_path / "analytics.prom"
    clock = iter([1_000.0]).__next__
    prom.export_metrics(
        demo_source,
        cat,
        demo_range,
        textfile=textfile,
        push_url=push_url,
        compute=lambda *_: demo_overview,
        clock=clock,
    )

    def broken(*_):
        raise RuntimeError("source down")

    with pytest.raises(RuntimeError):
        prom.export_metrics(
            demo_source, cat, demo_range, push_url=push_url, state_path=prom.state_path_for(textfile), compute=broken
        )
    families = {
        f.name: f
        for f in text_string_to_metric_families(httpx.get(f"{push_url}/metrics", timeout=10).text)
        if f.name.startswith("analytics_")
    }
    group = {"job": "fawkes_analytics", "instance": "duckdb-demo"}

    def pushed(name: str) -> float:
        return next(s.value for s in families[name].samples if {k: s.labels.get(k) for k in group} == group)

    assert pushed("analytics_refresh_errors") == 1
    assert pushed("analytics_last_refresh_timestamp_seconds") == 1_000
    assert pushed("analytics_active_users") == demo_overview.usage.active_users
