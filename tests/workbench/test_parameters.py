"""Discoverable parameters (issue 19, point 7): `list` and `run REPORT --help` show each
parameter's type, default, allowed values and description; papermill still runs a notebook."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from fawkes_analytics import catalog, parameters, runs
from fawkes_analytics.cli import main
from fawkes_analytics.metrics import segments

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("report", runs.available_reports())
def test_the_parameters_cell_reads_as_papermill_reads_it(report: str) -> None:
    """Read without papermill (it takes seconds to import), with papermill's meaning."""
    ours = parameters.declared(runs.notebook_path(report))
    theirs = papermill.inspect_notebook(str(runs.notebook_path(report)))
    assert list(ours) == list(theirs)
    for name, info in theirs.items():
        assert ours[name].type == info["inferred_type_name"]
        assert ours[name].default == ast.literal_eval(info["default"])
        assert ours[name].help == info["help"]


def test_list_shows_type_default_allowed_values_and_description(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    usage = out.split("usage_trends\n", 1)[1]
    assert "time_range: str = '7d'  1h, 6h, 24h, 7d, 30d or 90d; ignored when start and end are set" in usage
    assert "allowed: '1h', '6h', '24h', '7d', '30d', '90d'" in usage
    # segments come from the catalog, with the users no rule matched
    assert "segment: str = 'all'  all or a segment from analytics.yaml" in usage
    assert "allowed: 'all', 'new', 'at_risk', 'power', 'regular', 'other'" in usage
    funnels = out.split("\nfunnels\n", 1)[1]
    assert "funnels: list = ['onboarding', 'deployment', 'service_creation']" in funnels
    assert f"allowed: {', '.join(repr(n) for n in sorted(catalog.load().funnels))}" in funnels


def test_run_help_lists_the_parameters_of_the_report(capsys) -> None:
    assert main(["run", "experiment_results", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: fawkes-analytics run" in out and "parameters of experiment_results (-p NAME=VALUE):" in out
    assert "experiment_id: str" in out and "pipeline_templates" in out


def test_segment_names_without_the_query_engine_match_the_segment_rules() -> None:
    loaded = catalog.load()
    assert parameters.OTHER_SEGMENT == segments.OTHER
    assert parameters.segment_names(loaded) == ["all", *(r.name for r in segments.parse_rules(loaded)), segments.OTHER]


@pytest.mark.slow
def test_papermill_runs_a_report_notebook_directly(demo_db, tmp_path: Path) -> None:
    """`papermill notebooks/usage_trends.ipynb out.ipynb -p time_range 30d` as the README says:
    the notebook runs outside the run layer (no run folder: report.save() writes nothing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAWKES_ANALYTICS_")}
    env["FAWKES_ANALYTICS_SOURCE"] = f"duckdb://{demo_db.path}"
    out = tmp_path / "out.ipynb"
    result = subprocess.run(
        [
            Path(sys.executable).with_name("papermill"),
            "notebooks/usage_trends.ipynb",
            str(out),
            "-p",
            "time_range",
            "30d",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    executed = json.loads(out.read_text())
    injected = next(c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert 'time_range = "30d"' in "".join(injected["source"])
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert "Visitors" in json.dumps(outputs)  # the KPI tiles were drawn
