"""The run-folder path: parameters checked before the kernel, atomic publish, latest, timeouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fawkes_analytics import runs
from fawkes_analytics.errors import ParameterError

NOTEBOOKS = Path(__file__).parent / "notebooks"


def run(report: str, tmp_path: Path, **kwargs):
    return runs.run_report(report, notebooks=NOTEBOOKS, reports_dir=tmp_path / "reports", **kwargs)


@pytest.mark.slow
def test_successful_run_publishes_html_csv_json_and_latest(demo_env, tmp_path: Path) -> None:
    record = run("ok_report", tmp_path, parameters={"repeat": "4", "time_range": "30d"})
    assert record.status == "succeeded", record.error
    folder = Path(record.run_dir)
    assert folder.name == record.run_id and folder.is_dir()
    assert (tmp_path / "reports" / "ok_report" / "latest").resolve() == folder.resolve()
    assert not list((tmp_path / "reports" / "ok_report").glob(".tmp-*")), "temporary folder left behind"

    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "<title>Test report</title>" in html
    assert "Report.open" not in html, "code cells must not appear in the HTML"
    assert "injected-parameters" not in html and "repeat = 4" not in html
    assert "noise on stderr" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)</script>" not in html
    assert 'href="#Numbers"' in html, "table of contents links the section heading"
    assert "Demo data" in html, "demo banner shown for demo data"

    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    assert data["parameters"]["repeat"] == 4 and data["time_range"]["label"] == "30d"
    assert data["kpis"]["events"]["value"] > 0
    csv_text = (folder / "pages.csv").read_text(encoding="utf-8").splitlines()
    assert csv_text[0] == "page,views"
    assert csv_text[2].startswith("\"'=HYPERLINK(") and csv_text[2].endswith(",-5"), csv_text[2]

    meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert meta["status"] == "succeeded" and meta["parameters"] == {"repeat": 4, "time_range": "30d"}
    assert meta["source"]["demo"] is True and meta["data_range"]["label"] == "30d"
    assert {"python", "ibis", "duckdb", "papermill"} <= set(meta["versions"])
    assert "report.html" in meta["outputs"] and "notebook.ipynb" in meta["outputs"]


@pytest.mark.slow
def test_failed_run_is_kept_and_latest_still_points_at_the_good_run(demo_env, tmp_path: Path) -> None:
    good = run("ok_report", tmp_path)
    assert good.succeeded
    reports = tmp_path / "reports"
    # The failing notebook publishes under the same report name to share `latest`.
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "ok_report.ipynb").write_bytes((NOTEBOOKS / "failing_report.ipynb").read_bytes())
    bad = runs.run_report("ok_report", notebooks=tmp_path / "nbs", reports_dir=reports)
    assert bad.status == "failed"
    assert "ValueError" in bad.error and "boom" in bad.error
    assert (Path(bad.run_dir) / "notebook.ipynb").exists(), "executed notebook kept for debugging"
    assert not (Path(bad.run_dir) / "report.html").exists()
    assert (reports / "ok_report" / "latest").resolve() == Path(good.run_dir).resolve()
    history = runs.list_runs(reports, "ok_report")
    assert [r["status"] for r in history] == ["failed", "succeeded"]


@pytest.mark.slow
def test_hung_cell_is_killed_by_the_overall_timeout(demo_env, tmp_path: Path) -> None:
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    record = run("hanging_report", tmp_path, timeout=8)
    assert record.status == "timed_out"
    assert "timeout of 8 s" in record.error
    assert record.duration_seconds < 30
    leftover = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not leftover, f"kernel or runner survived: {leftover}"
    assert not (tmp_path / "reports" / "hanging_report" / "latest").exists()


@pytest.mark.slow
def test_cell_timeout_fails_the_run(demo_env, tmp_path: Path) -> None:
    record = run("hanging_report", tmp_path, parameters={"seconds": 30}, cell_timeout=3)
    assert record.status == "failed"
    assert "timed out" in record.error.lower() or "timeout" in record.error.lower()


def test_unknown_parameter_is_refused_before_execution(demo_env, tmp_path: Path) -> None:
    with pytest.raises(ParameterError) as caught:
        run("ok_report", tmp_path, parameters={"colour": "blue"})
    assert "colour" in str(caught.value) and "time_range" in str(caught.value)
    assert not (tmp_path / "reports" / "ok_report").exists() or not any((tmp_path / "reports" / "ok_report").iterdir())


@pytest.mark.parametrize(
    ("given", "named", "allowed"),
    [
        ({"repeat": "many"}, "repeat", "int"),
        ({"time_range": "2w"}, "time_range", "90d"),
        ({"funnels": "onboarding,checkout"}, "funnels", "service_creation"),
        ({"tz": "Mars/Olympus"}, "tz", "IANA"),
        ({"api_token": "x"}, "api_token", "environment"),
    ],
)
def test_bad_parameters_name_the_parameter_and_what_is_allowed(demo_env, tmp_path: Path, given, named, allowed) -> None:
    with pytest.raises(ParameterError) as caught:
        run("ok_report", tmp_path, parameters=given)
    assert f"'{named}'" in str(caught.value) and allowed in str(caught.value)


def test_unknown_report_lists_the_reports(tmp_path: Path) -> None:
    with pytest.raises(ParameterError) as caught:
        run("no_such_report", tmp_path)
    assert "ok_report" in str(caught.value)


@pytest.mark.slow
def test_a_run_that_breaks_after_execution_is_still_recorded(demo_env, tmp_path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "fawkes-analytics",
        "display_name": "Fawkes Analytics",
        "language": "python",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell('time_range: str = "7d"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os, pathlib\npathlib.Path(os.environ['FAWKES_ANALYTICS_RUN_DIR'], 'data.json').write_text('{broken')"
        ),
    ]
    (tmp_path / "nbs").mkdir()
    nbformat.write(notebook, tmp_path / "nbs" / "broken_output.ipynb")
    record = runs.run_report("broken_output", notebooks=tmp_path / "nbs", reports_dir=tmp_path / "reports")
    assert record.status == "failed" and "JSONDecodeError" in record.error
    assert Path(record.run_dir, "run.json").exists(), "the failure is recorded"
    assert not list((tmp_path / "reports" / "broken_output").glob(".tmp-*")), "no temporary folder left behind"
