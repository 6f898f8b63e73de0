"""Generate dashboards/fawkes-analytics.json, the provisioned Grafana dashboard.

The JSON is committed (Grafana provisions it as is); this script is how it is edited:
change a panel here, run ``.venv/bin/python deploy/grafana/build_dashboard.py`` and commit
both. tests/metrics_export checks that the committed JSON equals this script's output, that
every query runs against a real Prometheus, and that every metric and label it uses is one
the exporter produces (docs/metrics.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards" / "fawkes-analytics.json"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
INSTANCE = '{instance=~"$instance"}'
# Sums over sources take one value per source first (``max by (instance)``): when Prometheus
# scrapes /metrics from every replica of the server, each source appears once per replica
# (``pod`` label), and a plain sum would count it twice. With the Pushgateway there is one series
# per source and the inner max changes nothing.
FUNNEL = '{instance=~"$instance", funnel_name=~"$funnel"}'

HOW_TO_READ = """\
**How to read this dashboard.** Every number is computed by the Fawkes Analytics library over
a sliding **24-hour window** (the `metrics-export` schedule, every 5 minutes) with the same
definitions as the reports: visitors, visits and bounce rate as in Plausible, funnels as in
PostHog, experiments with the GrowthBook-style stats engine. Graphs show how that 24-hour value
moved over the dashboard's time range, so a dip at 09:00 means "the 24 hours ending 09:00".

* **Unusual changes** (first row) judge each KPI's latest complete *day* against its weekly
  cycle and trend (robust STL, docs/anomalies.md): *UNUSUAL* means that day left them by more
  than the KPI's sensitivity (robust z 4 by default, per KPI in analytics.yaml). The reports
  and emails say by how much, in a sentence.
* **Rates** are ratios shown as percent; **bounce rate** is already a percentage.
* **Experiments:** a red *sample ratio mismatch* means assignment is broken; ignore that
  experiment's results until it is fixed. Conversion rates are on each experiment's primary
  conversion metric, cumulative since the experiment started.
* **Freshness:** if *minutes since refresh* turns red the numbers are stale: check the
  `metrics-export` runs (`fawkes-analytics list`) and `analytics_refresh_errors_total`.

Metric definitions: docs/metrics.md in the repository."""


class Layout:
    """Places panels on Grafana's 24-column grid, row by row."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.y = 0
        self.x = 0
        self.row_height = 0
        self.next_id = 1

    def _place(self, panel: dict[str, Any], w: int, h: int) -> dict[str, Any]:
        if self.x + w > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel = {"id": self.next_id, "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y}, **panel}
        self.next_id += 1
        self.x += w
        self.row_height = max(self.row_height, h)
        self.panels.append(panel)
        return panel

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        self._place({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_height = 0, self.y + 1, 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        self._place(panel, w, h)


def target(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: str = "time_series"
) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "instant": instant,
        "range": not instant,
        "format": fmt,
    }


def thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


NEUTRAL = thresholds(("blue", None))


def panel(
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    unit: str = "short",
    steps: dict | None = None,
    description: str = "",
    options: dict | None = None,
    decimals: int | None = None,
    mappings: list | None = None,
    minmax: tuple[float, float] | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit, "thresholds": steps or NEUTRAL, "color": {"mode": "thresholds"}}
    if kind == "timeseries":
        defaults["color"] = {"mode": "palette-classic"}
        defaults["custom"] = {"lineWidth": 2, "fillOpacity": 10, "showPoints": "never", "spanNulls": True}
    if decimals is not None:
        defaults["decimals"] = decimals
    if mappings:
        defaults["mappings"] = mappings
    if minmax:
        defaults["min"], defaults["max"] = minmax
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }


def stat(
    title: str,
    expr: str,
    unit: str = "short",
    steps: dict | None = None,
    description: str = "",
    legend: str = "",
    decimals: int | None = None,
    mappings: list | None = None,
) -> dict[str, Any]:
    return panel(
        "stat",
        title,
        [target(expr, legend)],
        unit,
        steps,
        description,
        decimals=decimals,
        mappings=mappings,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
            "justifyMode": "auto",
        },
    )


def bars(
    title: str,
    expr: str,
    legend: str,
    unit: str,
    steps: dict | None = None,
    description: str = "",
    minmax: tuple[float, float] | None = None,
) -> dict[str, Any]:
    return panel(
        "bargauge",
        title,
        [target(expr, legend, instant=True)],
        unit,
        steps,
        description,
        minmax=minmax,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
        },
    )


def series(
    title: str, targets: list[dict[str, Any]], unit: str = "short", description: str = "", steps: dict | None = None
) -> dict[str, Any]:
    return panel(
        "timeseries",
        title,
        targets,
        unit,
        steps,
        description,
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def build() -> dict[str, Any]:
    lay = Layout()
    lay.add(
        {
            "type": "text",
            "title": "How to read this dashboard",
            "options": {"mode": "markdown", "content": HOW_TO_READ},
        },
        16,
        9,
    )
    lay.add(
        stat(
            "Minutes since last refresh",
            f"(time() - max(analytics_last_refresh_timestamp_seconds{INSTANCE})) / 60",
            "m",
            thresholds(("green", None), ("orange", 10), ("red", 15)),
            decimals=1,
            description="Exports run every 5 minutes; over 15 minutes means the numbers are stale.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Refresh errors in range",
            f"sum(max by (instance) (increase(analytics_refresh_errors_total{INSTANCE}[$__range])))",
            "short",
            thresholds(("green", None), ("red", 1)),
            decimals=0,
            description="Failed metric refreshes during the selected time range (counter persisted across runs).",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Last refresh took",
            f"max(analytics_refresh_duration_seconds{INSTANCE})",
            "s",
            thresholds(("green", None), ("orange", 120), ("red", 210)),
            description="Seconds the last export computation took; the schedule times out at 4 minutes.",
        ),
        4,
        5,
    )
    lay.add(
        stat(
            "Report window",
            f"max(analytics_window_seconds{INSTANCE})",
            "s",
            description="Length of the window every gauge covers.",
        ),
        4,
        5,
    )

    lay.row("Unusual changes")
    lay.add(
        stat(
            "KPIs with an unusual change",
            f"sum(max by (instance, kpi) (analytics_kpi_anomaly{INSTANCE}))",
            steps=thresholds(("green", None), ("red", 1)),
            decimals=0,
            description="KPIs whose latest judged day was flagged (per source); KPIs without enough history are not counted.",
        ),
        4,
        8,
    )
    lay.add(
        panel(
            "state-timeline",
            "Unusual changes by KPI",
            [target(f"max by (kpi) (analytics_kpi_anomaly{INSTANCE})", "{{kpi}}")],
            steps=thresholds(("green", None), ("red", 1)),
            mappings=[
                {
                    "type": "value",
                    "options": {"0": {"text": "usual", "color": "green"}, "1": {"text": "UNUSUAL", "color": "red"}},
                }
            ],
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "legend": {"showLegend": False}},
            description="Per KPI, whether its latest judged day was flagged, over the dashboard's time range.",
        ),
        10,
        8,
    )
    lay.add(
        bars(
            "How far from expected (robust z)",
            f"max by (kpi) (analytics_kpi_anomaly_z{INSTANCE})",
            "{{kpi}}",
            "short",
            thresholds(("red", None), ("green", -4), ("red", 4)),
            "The latest judged day's distance from its expected value in robust standard deviations; "
            "beyond ±4 is flagged at the default sensitivity.",
            (-8, 8),
        ),
        10,
        8,
    )

    lay.row("Usage trends")
    lay.add(
        stat(
            "Active users",
            f"sum(max by (instance) (analytics_active_users{INSTANCE}))",
            steps=thresholds(("red", None), ("green", 1)),
            description="Distinct users with any event in the window.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Total users",
            f"sum(max by (instance) (analytics_total_users{INSTANCE}))",
            description="Users ever seen up to the end of the window.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Unique visitors",
            f"sum(max by (instance) (analytics_unique_visitors{INSTANCE}))",
            description="Distinct users with a pageview in the window.",
        ),
        4,
        4,
    )
    lay.add(
        stat("Page views", f"sum(max by (instance) (analytics_page_views{INSTANCE}))", description="Pageview events in the window."), 4, 4
    )
    lay.add(
        stat(
            "Avg session duration",
            f"max(analytics_avg_session_duration_seconds{INSTANCE})",
            "s",
            thresholds(("orange", None), ("green", 60)),
            description="Mean visit duration, bounces count 0.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Bounce rate",
            f"max(analytics_bounce_rate_percentage{INSTANCE})",
            "percent",
            thresholds(("green", None), ("orange", 50), ("red", 70)),
            decimals=1,
            description="Share of visits with one pageview and nothing else; the KPI threshold is 70%.",
        ),
        4,
        4,
    )
    lay.add(
        series(
            "Users over time",
            [
                target(f"sum(max by (instance) (analytics_active_users{INSTANCE}))", "active users", "A"),
                target(f"sum(max by (instance) (analytics_unique_visitors{INSTANCE}))", "visitors", "B"),
            ],
            description="The 24-hour values at each point in time.",
        ),
        12,
        8,
    )
    lay.add(
        series(
            "Bounce rate over time",
            [target(f"max(analytics_bounce_rate_percentage{INSTANCE})", "bounce rate")],
            "percent",
            steps=thresholds(("green", None), ("orange", 50), ("red", 70)),
        ),
        12,
        8,
    )

    lay.row("Feature adoption")
    lay.add(
        bars(
            "Adoption rate by feature",
            f"max by (feature_name) (analytics_feature_adoption_rate{INSTANCE})",
            "{{feature_name}}",
            "percentunit",
            thresholds(("red", None), ("orange", 0.05), ("green", 0.2)),
            "Share of active users who used the feature in the window.",
            (0, 1),
        ),
        8,
        8,
    )
    lay.add(
        series(
            "Adoption rate over time",
            [target(f"max by (feature_name) (analytics_feature_adoption_rate{INSTANCE})", "{{feature_name}}")],
            "percentunit",
        ),
        8,
        8,
    )
    lay.add(
        panel(
            "table",
            "Feature usage",
            [
                target(f"max by (feature_name) (analytics_feature_unique_users{INSTANCE})", "", "A", True, "table"),
                target(f"max by (feature_name) (analytics_feature_usage_events{INSTANCE})", "", "B", True, "table"),
            ],
            options={"showHeader": True},
        )
        | {
            "transformations": [
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "renameByName": {"feature_name": "Feature", "Value #A": "Users", "Value #B": "Events"},
                    },
                },
            ]
        },
        8,
        8,
    )

    lay.row("Experiment results")
    lay.add(
        stat(
            "Active experiments",
            f"max(analytics_active_experiments{INSTANCE})",
            description="Experiments with assigned users.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Significant results",
            f"max(analytics_significant_results{INSTANCE})",
            steps=thresholds(("blue", None), ("green", 1)),
            description="Metric-variant results significantly better or worse under each experiment's decision rule.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Sample ratio mismatch",
            f"max by (experiment_id) (analytics_experiment_srm_detected{INSTANCE})",
            steps=thresholds(("green", None), ("red", 1)),
            legend="{{experiment_id}}",
            mappings=[
                {
                    "type": "value",
                    "options": {"0": {"text": "OK", "color": "green"}, "1": {"text": "MISMATCH", "color": "red"}},
                }
            ],
            description="Chi-square test of users per variant against the planned split; red means do not trust the results.",
        ),
        16,
        4,
    )
    lay.add(
        bars(
            "Conversion rate by variant",
            f"max by (experiment_id, variant) (analytics_experiment_conversion_rate{INSTANCE})",
            "{{experiment_id}} / {{variant}}",
            "percentunit",
            NEUTRAL,
            "Primary conversion metric per variant, cumulative since the experiment started.",
            (0, 1),
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "table",
            "Users and conversions by variant",
            [
                target(
                    f"max by (experiment_id, variant) (analytics_experiment_users{INSTANCE})", "", "A", True, "table"
                ),
                target(
                    f"max by (experiment_id, variant) (analytics_experiment_conversions{INSTANCE})",
                    "",
                    "B",
                    True,
                    "table",
                ),
                target(f"max by (experiment_id) (analytics_experiment_srm_p_value{INSTANCE})", "", "C", True, "table"),
            ],
            options={"showHeader": True},
        )
        | {
            "transformations": [
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "renameByName": {
                            "experiment_id": "Experiment",
                            "variant": "Variant",
                            "Value #A": "Users",
                            "Value #B": "Conversions",
                            "Value #C": "SRM p-value",
                        },
                    },
                },
            ]
        },
        12,
        8,
    )
    lay.add(
        series(
            "Conversion rate over time",
            [
                target(
                    f"max by (experiment_id, variant) (analytics_experiment_conversion_rate{INSTANCE})",
                    "{{experiment_id}} / {{variant}}",
                )
            ],
            "percentunit",
        ),
        24,
        8,
    )

    lay.row("User segments")
    lay.add(
        panel(
            "piechart",
            "Segment sizes",
            [target(f"max by (segment_name) (analytics_segment_size{INSTANCE})", "{{segment_name}}", instant=True)],
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "pieType": "donut",
                "legend": {
                    "displayMode": "table",
                    "placement": "right",
                    "showLegend": True,
                    "values": ["value", "percent"],
                },
            },
            description="Each user belongs to exactly one segment (rules in analytics.yaml).",
        ),
        8,
        8,
    )
    lay.add(
        bars(
            "Mean engagement by segment",
            f"max by (segment_name) (analytics_segment_engagement{INSTANCE})",
            "{{segment_name}}",
            "short",
            thresholds(("red", None), ("orange", 2), ("green", 5)),
            "Engagement score 0-10.",
            (0, 10),
        ),
        8,
        8,
    )
    lay.add(
        series(
            "Segment sizes over time",
            [target(f"max by (segment_name) (analytics_segment_size{INSTANCE})", "{{segment_name}}")],
        ),
        8,
        8,
    )

    lay.row("Conversion funnels")
    lay.add(
        stat(
            "Funnel conversion",
            f"max by (funnel_name) (analytics_funnel_conversion_rate{FUNNEL})",
            "percentunit",
            thresholds(("red", None), ("orange", 0.1), ("green", 0.3)),
            legend="{{funnel_name}}",
            decimals=1,
            description="People who reached the last step / people who entered, in the window.",
        ),
        12,
        5,
    )
    lay.add(
        stat(
            "People entering",
            f"max by (funnel_name) (analytics_funnel_entered{FUNNEL})",
            legend="{{funnel_name}}",
            description="People who did step 1 in the window; small numbers make rates jumpy.",
        ),
        12,
        5,
    )
    lay.add(
        bars(
            "Step completion",
            f"max by (funnel_name, step, step_label) (analytics_funnel_step_completion_rate{FUNNEL})",
            "{{funnel_name}} {{step}}. {{step_label}}",
            "percentunit",
            thresholds(("red", None), ("orange", 0.2), ("green", 0.5)),
            "Share of people entering who reached each step.",
            (0, 1),
        ),
        12,
        10,
    )
    lay.add(
        bars(
            "Drop-off by step",
            f"max by (funnel_name, step, step_label) (analytics_funnel_drop_off_rate{FUNNEL})",
            "{{funnel_name}} {{step}}. {{step_label}}",
            "percentunit",
            thresholds(("green", None), ("orange", 0.3), ("red", 0.6)),
            "Share of the previous step's people lost at this step.",
            (0, 1),
        ),
        12,
        10,
    )
    lay.add(
        series(
            "Funnel conversion over time",
            [target(f"max by (funnel_name) (analytics_funnel_conversion_rate{FUNNEL})", "{{funnel_name}}")],
            "percentunit",
        ),
        24,
        8,
    )

    variables = [
        {
            "name": "instance",
            "label": "Source",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": "label_values(analytics_last_refresh_timestamp_seconds, instance)", "refId": "instance"},
            "definition": "label_values(analytics_last_refresh_timestamp_seconds, instance)",
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "refresh": 2,
            "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        },
        {
            "name": "funnel",
            "label": "Funnel",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": "label_values(analytics_funnel_conversion_rate, funnel_name)", "refId": "funnel"},
            "definition": "label_values(analytics_funnel_conversion_rate, funnel_name)",
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "refresh": 2,
            "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        },
    ]
    return {
        "uid": "fawkes-analytics",
        "title": "Fawkes Analytics: product health",
        "description": "Usage, feature adoption, experiments, segments and funnels from the Fawkes Analytics metrics export.",
        "tags": ["fawkes", "analytics", "product"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {
            "refresh_intervals": ["30s", "1m", "5m", "15m", "1h"],
            "quick_ranges": [
                {"display": f"Last {r}", "from": f"now-{r}", "to": "now"}
                for r in ("1h", "6h", "24h", "7d", "30d", "90d")
            ],
            "time_options": ["1h", "6h", "24h", "7d", "30d", "90d"],
        },
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [],
        "panels": lay.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
