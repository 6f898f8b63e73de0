"""`fawkes-analytics new-report NAME` (issue 19, point 2): a report that runs and publishes at once."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from fawkes_analytics import parameters, runs
from fawkes_analytics.cli import main
from fawkes_analytics.errors import ParameterError
from fawkes_analytics.scaffold import new_report
from fawkes_analytics.schedules.config import load_schedule


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    dirs = {name: tmp_path / name for name in ("notebooks", "tests", "schedules")}
    monkeypatch.setenv("FAWKES_ANALYTICS_NOTEBOOKS_DIR", str(dirs["notebooks"]))
    return dirs


def test_the_command_writes_notebook_test_and_a_disabled_schedule(project, capsys) -> None:
    code = main(
        [
            "new-report",
            "churn_watch",
            "--title",
            "Churn watch",
            "--tests-dir",
            str(project["tests"]),
            "--schedules-dir",
            str(project["schedules"]),
        ]
    )
    assert code == 0 and "fawkes-analytics run churn_watch" in capsys.readouterr().out
    notebook = project["notebooks"] / "churn_watch.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    assert cells[0]["metadata"]["tags"] == ["parameters"]
    assert "report.save()" in cells[-1]["source"] and all(not c.get("outputs") for c in cells if "outputs" in c)
    assert any(c["cell_type"] == "markdown" and c["source"].startswith("## ") for c in cells)
    declared = parameters.declared(notebook)
    assert {n: (p.type, p.default) for n, p in declared.items()} == {
        "time_range": ("str", "7d"),
        "start": ("str", ""),
        "end": ("str", ""),
        "tz": ("str", "UTC"),
    }
    # the stub is a valid schedule of the new report, off until someone turns it on
    schedule = load_schedule(project["schedules"] / "churn_watch.yaml", known_reports=("churn_watch",))
    assert schedule.reports == ("churn_watch",) and schedule.enabled is False
    assert (project["tests"] / "test_churn_watch.py").exists()


def test_names_are_checked_and_nothing_is_overwritten(project) -> None:
    with pytest.raises(ParameterError, match="not a report name"):
        new_report("Churn Watch", tests_dir=project["tests"], schedules_dir=project["schedules"])
    new_report("churn", tests_dir=project["tests"], schedules_dir=project["schedules"])
    with pytest.raises(ParameterError, match="exists already"):
        new_report("churn", tests_dir=project["tests"], schedules_dir=project["schedules"])


@pytest.mark.slow
def test_the_new_report_runs_and_publishes_at_once_and_its_test_passes(project, demo_env, tmp_path: Path) -> None:
    """The generated test is the one a data scientist gets: run it here as pytest would."""
    files = new_report("churn", tests_dir=project["tests"], schedules_dir=project["schedules"])
    spec = importlib.util.spec_from_file_location("generated_test_churn", files.test)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.test_churn_runs_and_publishes(demo_env, tmp_path)
    latest = runs.latest_run("churn", tmp_path / "reports")
    data = json.loads((latest / "data.json").read_text())
    assert data["title"] == "Churn" and data["kpis"]["visitors"]["value"] > 0
