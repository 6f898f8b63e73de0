"""Everything is refused before a kernel starts: confinement of report names and path
parameters, empty values, absurd dates, too many points, bad breakdowns, non-positive timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fawkes_analytics import parameters, runs
from fawkes_analytics.cli import build_parser, main
from fawkes_analytics.errors import ParameterError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TEST_NOTEBOOKS = Path(__file__).parent / "notebooks"


def refused(tmp_path: Path, report: str, params: dict, notebooks: Path = NOTEBOOKS, **kwargs) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        runs.run_report(report, params, notebooks=notebooks, reports_dir=tmp_path / "reports", **kwargs)
    assert not list((tmp_path / "reports").glob("*/*")), "nothing may be written for a refused run"
    return caught.value


@pytest.mark.parametrize("name", ["../elsewhere/nb", "/etc/passwd", "ok_report/../ok_report", "..", "ok report", ""])
def test_report_names_resolve_only_to_notebooks_inside_the_notebooks_folder(tmp_path: Path, name: str) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "nb.ipynb").write_bytes((TEST_NOTEBOOKS / "ok_report.ipynb").read_bytes())
    error = refused(tmp_path, name, {}, notebooks=TEST_NOTEBOOKS)
    assert error.name == "report" and "ok_report" in str(error.allowed)


def test_a_notebook_symlinked_from_outside_is_refused(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    outside = tmp_path / "outside.ipynb"
    outside.write_bytes((TEST_NOTEBOOKS / "ok_report.ipynb").read_bytes())
    (notebooks / "sneaky.ipynb").symlink_to(outside)
    error = refused(tmp_path, "sneaky", {}, notebooks=notebooks)
    assert "outside" in error.problem


@pytest.mark.parametrize("value", ["/etc/passwd", "../../outside.prom", "/tmp/../etc/x.prom", "~/x.prom"])
def test_path_parameters_resolve_only_inside_the_configured_folders(tmp_path: Path, value: str) -> None:
    error = refused(tmp_path, "metrics_export", {"textfile_path": value})
    assert error.name == "textfile_path" and "outside the allowed folders" in error.problem


def test_path_parameters_inside_the_reports_folder_or_a_configured_root_are_made_absolute(
    tmp_path: Path, monkeypatch
) -> None:
    notebook = NOTEBOOKS / "metrics_export.ipynb"
    reports = tmp_path / "reports"
    resolved = parameters.resolve(notebook, {"textfile_path": "metrics/a.prom"}, reports_dir=reports)
    assert resolved["textfile_path"] == str((reports / "metrics" / "a.prom").resolve())
    textfiles = tmp_path / "node_exporter"
    monkeypatch.setenv("FAWKES_ANALYTICS_PATH_ROOTS", str(textfiles))
    resolved = parameters.resolve(notebook, {"textfile_path": str(textfiles / "a.prom")}, reports_dir=reports)
    assert resolved["textfile_path"] == str((textfiles / "a.prom").resolve())


@pytest.mark.parametrize(
    ("report", "given", "name", "fragment"),
    [
        ("usage_trends", {"tz": ""}, "tz", "must not be empty"),
        ("usage_trends", {"time_range": ""}, "time_range", "must not be empty"),
        ("usage_trends", {"segment": ""}, "segment", "must not be empty"),
        ("usage_trends", {"granularity": ""}, "granularity", "must not be empty"),
        ("funnels", {"funnels": ""}, "funnels", "must not be empty"),
        ("experiment_results", {"experiment_id": ""}, "experiment_id", "must not be empty"),
        ("usage_trends", {"start": "0001-01-01", "end": "2026-01-01"}, "start", "outside the dates"),
        ("usage_trends", {"start": "2026-01-01", "end": "9999-01-01"}, "end", "outside the dates"),
        ("usage_trends", {"start": "garbage", "end": "2026-01-01"}, "start", "cannot parse"),
        ("funnels", {"breakdown": "utm_source; drop table events"}, "breakdown", "not a column or property"),
        ("funnels", {"breakdown": "x" * 200}, "breakdown", "not a column or property"),
        ("usage_trends", {"segment": "x" * 2000}, "segment", "longer than"),
        ("user_segments", {"retention_period": "fortnight"}, "retention_period", "auto"),
    ],
)
def test_every_parameter_is_checked_before_a_kernel_starts(
    tmp_path: Path, report: str, given: dict, name: str, fragment: str
) -> None:
    error = refused(tmp_path, report, given)
    assert error.name == name and fragment in str(error)


def test_a_thirty_year_hourly_range_is_refused_with_the_number_of_points(tmp_path: Path) -> None:
    # 1996-01-01 to 2026-01-01 is 10,958 days = 262,992 hours, far above the 5,000-point cap.
    error = refused(tmp_path, "usage_trends", {"start": "1996-01-01", "end": "2026-01-01", "granularity": "hour"})
    assert "262,992 points" in str(error) and "5,000" in str(error) and "coarser granularity" in str(error)
    # The same range by week is 1,566 weeks: allowed.
    weekly = parameters.resolve(
        NOTEBOOKS / "usage_trends.ipynb", {"start": "1996-01-01", "end": "2026-01-01", "granularity": "week"}
    )
    assert weekly["granularity"] == "week"


def test_the_point_cap_is_configurable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAWKES_ANALYTICS_MAX_POINTS", "100")
    # 7 whole days by hour = 168 points > 100
    error = refused(tmp_path, "usage_trends", {"time_range": "7d", "granularity": "hour"})
    assert "168 points" in str(error)


@pytest.mark.parametrize("timeout", [0, -5, float("nan")])
def test_a_timeout_must_be_positive(tmp_path: Path, timeout: float) -> None:
    error = refused(tmp_path, "ok_report", {}, notebooks=TEST_NOTEBOOKS, timeout=timeout)
    assert error.name == "timeout"
    with pytest.raises(ParameterError):
        runs.run_report("ok_report", notebooks=TEST_NOTEBOOKS, reports_dir=tmp_path / "reports", cell_timeout=timeout)


@pytest.mark.parametrize("value", ["0", "-1", "inf", "soon"])
def test_the_command_line_refuses_a_timeout_that_is_not_positive(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["run", "ok_report", "--timeout", value])
    assert caught.value.code == 2 and "--timeout" in capsys.readouterr().err


def test_the_command_line_reports_a_refused_parameter_in_one_line(tmp_path: Path, capsys) -> None:
    code = main(["run", "usage_trends", "-p", "tz=", "--reports-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: parameter 'tz': must not be empty") and "Traceback" not in err
