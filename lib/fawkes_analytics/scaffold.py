"""``fawkes-analytics new-report NAME``: a new report notebook, its test and a schedule stub.

The notebook follows the project's conventions (docs/writing-reports.md uses it as the worked
example):

- a first cell tagged ``parameters`` with typed, commented parameters (``list`` and
  ``run NAME --help`` show them; papermill injects the values of a run after it);
- narrative markdown headings, one library call per code cell;
- ``Report.open(...)`` to get the source, the catalog and the time range, ``report.kpis``,
  ``report.chart_of`` and ``report.table_of`` (the area registry's charts and tables) to show
  results;
- ``report.save()`` as the last cell, which writes data.json, CSVs and charts into the run
  folder (and nothing when the notebook is run interactively).

It starts as a working usage report, so ``fawkes-analytics run NAME`` publishes at once; the
data scientist then replaces the computation. The test (``tests/reports/test_NAME.py``) runs
it through the run-folder path on the small demo data; the schedule stub
(``schedules/NAME.yaml``) is disabled until someone sets ``enabled: true``.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import settings
from .errors import ParameterError

NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
KERNEL = {"display_name": "Fawkes Analytics", "language": "python", "name": "fawkes-analytics"}

PARAMETERS = """time_range: str = "7d"  # 1h, 6h, 24h, 7d, 30d or 90d; ignored when start and end are set
start: str = ""  # custom range start (ISO date or time, read in tz)
end: str = ""  # custom range end, exclusive
tz: str = "UTC"  # reporting time zone (IANA name)"""

CELLS: list[tuple[str, str]] = [
    ("code", PARAMETERS),
    (
        "code",
        "from fawkes_analytics.metrics import usage_trends\n"
        "from fawkes_analytics.report import Report\n\n"
        'report = Report.open("{name}", "{title}", time_range, start, end, tz)\n'
        "report.header()",
    ),
    (
        "markdown",
        "## What this report answers\n\n"
        "Who reads it, what decision it supports and how often. Replace this paragraph: it is the "
        "first thing stakeholders read under the title.",
    ),
    (
        "markdown",
        "## Headline numbers\n\n"
        "One library call computes the numbers; the notebook only shows them. Replace `usage_trends` "
        "with the metric this report is about (docs/metrics.md), or add one to the library "
        "(docs/extending.md).",
    ),
    (
        "code",
        'usage = usage_trends(report.source, report.time_range, catalog=report.catalog)\nreport.add("usage", usage)',
    ),
    ("code", "report.kpis(usage)"),
    ("markdown", "## Over time\n\nSay what the reader should look for in the chart."),
    ("code", 'report.chart_of(usage, "active_users")'),
    ("markdown", "## Top pages\n\nThe table shows the top rows; the CSV beside the report has them all."),
    ("code", 'report.table_of(usage, "top_pages")'),
    ("code", "report.save();"),
]

TEST = '''"""The {name} report through the run-folder path on the small demo data (made by new-report)."""

from __future__ import annotations

import json

import pytest

from fawkes_analytics import runs

pytestmark = pytest.mark.slow


def test_{name}_runs_and_publishes(demo_env, tmp_path) -> None:
    record = runs.run_report("{name}", {{"time_range": "30d"}}, reports_dir=tmp_path / "reports")
    assert record.succeeded, record.error
    data = json.loads((record.path / "data.json").read_text())
    # the headline numbers the notebook shows are published for dashboards, emails and Prometheus
    assert data["kpis"], "the report publishes no KPI"
    assert (record.path / "report.html").exists() and runs.latest_run("{name}", tmp_path / "reports") == record.path
'''

SCHEDULE = """# yaml-language-server: $schema=../schemas/schedule.schema.json
# Schedule of the {name} report (made by `fawkes-analytics new-report`). It is disabled:
# set `enabled: true` to run it, then check it with `fawkes-analytics schedule --check`.
# Keys: see docs/scheduling.md.
name: {name}
description: {title}, every Monday morning.
enabled: false
cron: "0 7 * * 1"  # minute hour day-of-month month day-of-week, in `timezone`
timezone: Europe/Berlin
report: {name}
parameters:
  time_range: 7d
outputs: [html, csv, json]
# email:
#   to: [team@example.com]
#   subject: "{{title}} — {{date}}"
#   send: always  # or on_failure, on_threshold
owners: [analytics@example.com]  # told when a run fails
timeout: 15m
retries: 1
"""


@dataclass(frozen=True)
class Scaffold:
    """The files ``new-report`` wrote."""

    notebook: Path
    test: Path
    schedule: Path


def notebook_json(name: str, title: str) -> str:
    """The notebook of a new report, as nbformat 4 JSON without outputs."""
    cells = []
    for i, (kind, text) in enumerate(CELLS):
        source = text.format(name=name, title=title) if kind == "markdown" or "{name}" in text else text
        cell: dict[str, object] = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": source}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        if i == 0:
            cell["metadata"] = {"tags": ["parameters"]}
        cells.append(cell)
    cells[-1]["metadata"] = {"tags": ["remove-cell"]}
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": KERNEL, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def new_report(
    name: str,
    title: str | None = None,
    *,
    notebooks_dir: Path | None = None,
    tests_dir: Path | None = None,
    schedules_dir: Path | None = None,
) -> Scaffold:
    """Write the notebook, test and schedule stub of report ``name``; nothing is overwritten."""
    if not NAME.match(name):
        raise ParameterError("name", f"{name!r} is not a report name", "lower case letters, digits and _, e.g. churn")
    title = title or name.replace("_", " ").capitalize()
    files = Scaffold(
        notebook=Path(notebooks_dir or settings.notebooks_dir()) / f"{name}.ipynb",
        test=Path(tests_dir or settings.PROJECT_ROOT / "tests" / "reports") / f"test_{name}.py",
        schedule=Path(schedules_dir or settings.schedules_dir()) / f"{name}.yaml",
    )
    existing = [str(p) for p in (files.notebook, files.test, files.schedule) if p.exists()]
    if existing:
        raise ParameterError("name", f"report {name!r} exists already", existing)
    contents = {
        files.notebook: notebook_json(name, title),
        files.test: TEST.format(name=name),
        files.schedule: SCHEDULE.format(name=name, title=title),
    }
    for path, text in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return files


def _cmd_new_report(args: argparse.Namespace) -> int:
    files = new_report(
        args.name,
        args.title,
        notebooks_dir=settings.resolve_path(args.notebooks_dir) if args.notebooks_dir else None,
        tests_dir=settings.resolve_path(args.tests_dir) if args.tests_dir else None,
        schedules_dir=settings.resolve_path(args.schedules_dir) if args.schedules_dir else None,
    )
    print(f"created {files.notebook}\ncreated {files.test}\ncreated {files.schedule} (disabled)")
    print(
        f"next: open it in JupyterLab (make lab), then `fawkes-analytics run {args.name}` publishes it; "
        "docs/writing-reports.md walks through the rest"
    )
    return 0


def register_cli(commands: argparse._SubParsersAction) -> None:
    """The ``new-report`` command."""
    from .commands import help_of

    parser = commands.add_parser(
        "new-report",
        help=help_of("new-report"),
        description="Create notebooks/NAME.ipynb (a working report to edit), tests/reports/test_NAME.py and a "
        "disabled schedules/NAME.yaml. Nothing is overwritten.",
    )
    parser.add_argument("name", help="report name: lower case letters, digits and _ (e.g. churn)")
    parser.add_argument("--title", help="title shown on the report (default: from the name)")
    parser.add_argument("--notebooks-dir", help="default: the project's notebooks/")
    parser.add_argument("--tests-dir", help="default: the project's tests/reports/")
    parser.add_argument("--schedules-dir", help="default: the project's schedules/")
    parser.set_defaults(func=_cmd_new_report)
