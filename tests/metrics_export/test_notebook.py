"""The metrics_export notebook runs through the run-folder path and writes its textfile."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fawkes_analytics import parameters, runs

from .conftest import ROOT, run_promtool

NOTEBOOK = ROOT / "notebooks" / "metrics_export.ipynb"


def test_notebook_is_thin_typed_and_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "fawkes-analytics"
    assert "parameters" in nb.cells[0].metadata.get("tags", [])
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    declared = parameters.declared(NOTEBOOK)
    assert {k: v["type"] for k, v in declared.items()} == {"time_range": "str", "textfile_path": "str", "push": "bool"}
    assert declared["time_range"]["default"] == "24h"


@pytest.mark.slow
def test_run_writes_textfile_state_and_data_json(demo_env, tmp_path: Path, monkeypatch) -> None:
    """One run with the default textfile: ``metrics/analytics.prom`` under the reports folder
    (demo_env points FAWKES_ANALYTICS_REPORTS_DIR at tmp_path/reports)."""
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    monkeypatch.delenv("FAWKES_METRICS_TEXTFILE", raising=False)
    record = runs.run_report("metrics_export", {"time_range": "24h"}, reports_dir=tmp_path / "reports")
    assert record.status == "succeeded", record.error
    textfile = tmp_path / "reports" / "metrics" / "analytics.prom"
    text = textfile.read_text(encoding="utf-8")
    assert run_promtool("check", "metrics", stdin=text).returncode == 0
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"analytics_active_users", "analytics_funnel_conversion_rate", "analytics_refresh_errors"} <= names
    assert (textfile.parent / "analytics.prom.state.json").exists()

    data = json.loads((Path(record.run_dir) / "data.json").read_text(encoding="utf-8"))
    export = data["results"]["metrics_export"]
    assert export["textfile"] == str(textfile) and export["pushgateway"] is None
    assert export["exposition"] == text
    assert data["time_range"]["label"] == "24h" and data["demo"] is True
    html = (Path(record.run_dir) / "report.html").read_text(encoding="utf-8")
    assert "analytics_feature_adoption_rate" in html, "the family table is shown"


def test_textfile_path_parameter_then_env_then_reports_folder(tmp_path: Path, monkeypatch) -> None:
    from fawkes_analytics.export import prometheus as prom

    monkeypatch.setenv("FAWKES_ANALYTICS_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv(prom.TEXTFILE_ENV, str(tmp_path / "env.prom"))
    assert prom.default_textfile("/x/given.prom") == Path("/x/given.prom")
    assert prom.default_textfile("") == tmp_path / "env.prom"
    monkeypatch.delenv(prom.TEXTFILE_ENV)
    assert prom.default_textfile("") == tmp_path / "reports" / "metrics" / "analytics.prom"
