"""PromQL helpers of the tests: the queries of the dashboard and the rules, the metric names
and labels they reference, and a non-filtering form of alert conditions.

Only the PromQL that this project writes is parsed (selectors, ``by (...)``/``on (...)``
clauses, functions, binary operators); string literals and range/offset brackets are
skipped, so a regex over the remaining text is enough.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

# Grafana variables, replaced by what "All" and a short range mean.
GRAFANA_VARIABLES = {
    "$__range": "5m",
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$instance": ".*",
    "$funnel": ".*",
}

KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"\[[^\]]*\]")
_SELECTOR = re.compile(r"\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w(])(?!\s*\()")
_NUMBER_UNIT = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y)?\b")
_LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def substitute(expr: str) -> str:
    """The expression with Grafana's variables replaced (longest names first)."""
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace("${" + name[1:] + "}", GRAFANA_VARIABLES[name]).replace(name, GRAFANA_VARIABLES[name])
    return expr


def references(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression refers to."""
    labels: set[str] = set()
    for body in _SELECTOR.findall(_STRING.sub('""', expr)):
        labels |= {m.group(1) for m in re.finditer(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", body)}
    text = _BRACKETS.sub("", _STRING.sub('""', expr))
    for group in _GROUPING.findall(text):
        labels |= {name.strip() for name in group.split(",") if name.strip()}
    text = _GROUPING.sub(" ", text)
    text = _SELECTOR.sub(" ", text)
    text = _NUMBER_UNIT.sub(" ", text)
    metrics = {m for m in _IDENT.findall(text) if m not in KEYWORDS}
    return metrics, labels


def dashboard_targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every query target of every panel (rows included), with its panel title."""
    out = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                out.append({"panel": panel.get("title", ""), **target})
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return out


def dashboard_expressions(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, expr, legendFormat) of every target."""
    return [(t["panel"], t["expr"], t.get("legendFormat", "")) for t in dashboard_targets(dashboard)]


def legend_labels(legend: str) -> set[str]:
    return set(_LEGEND.findall(legend))


def variable_queries(dashboard: dict[str, Any]) -> list[str]:
    """The ``label_values(metric, label)`` queries of the template variables."""
    return [v["definition"] for v in dashboard.get("templating", {}).get("list", []) if v.get("type") == "query"]


def label_values_reference(query: str) -> tuple[str, str]:
    match = re.fullmatch(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)", query.strip())
    assert match, f"unexpected variable query {query!r}"
    return match.group(1), match.group(2)


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def alert_rules(path: Path) -> list[dict[str, Any]]:
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def non_filtering(expr: str) -> str:
    """The alert condition with every comparison turned into ``bool`` form and ``absent(x)``
    into ``x``: it returns the series the condition looks at (0/1 values) whether or not
    the condition holds, so an empty answer means missing data, not a quiet alert."""
    expr = re.sub(r"\babsent\s*\((.*)\)", r"(\1)", expr, flags=re.S)
    out, depth, i = [], 0, 0
    while i < len(expr):
        ch = expr[i]
        if ch == '"':
            end = _STRING.match(expr, i).end()  # type: ignore[union-attr]
            out.append(expr[i:end])
            i = end
            continue
        depth += ch in "{[" and 1 or 0
        depth -= ch in "}]" and 1 or 0
        op = re.match(r"==|!=|>=|<=|>|<", expr[i:]) if depth == 0 else None
        if op and not expr[i - 1 : i] == "=":
            out.append(f"{op.group(0)} bool")
            i += len(op.group(0))
            continue
        out.append(ch)
        i += 1
    return "".join(out)
