"""Reproducible runs (issue 19, point 6): run.json says what produced a run; `rerun` repeats it
with the same parameters and absolute data range; `diff` lists the numbers that differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fawkes_analytics import runs
from fawkes_analytics.cli import main
from fawkes_analytics.records import RunRecord
from fawkes_analytics.reproduce import differences, rerun_parameters


def published(root: Path, run_id: str, kpis: dict, tables: dict) -> Path:
    folder = root / "usage_trends" / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"report": "usage_trends", "run_id": run_id, "status": "succeeded"}))
    (folder / "data.json").write_text(json.dumps({"kpis": kpis, "tables": tables}))
    return folder


def test_diff_lists_each_kpi_field_and_table_cell_that_differs(tmp_path: Path, capsys) -> None:
    a = published(
        tmp_path,
        "A",
        {"visitors": {"value": 100, "previous": 90}, "bounce_rate": {"value": 40.0}},
        {"top_pages": [{"page": "/", "visitors": 10}, {"page": "/docs", "visitors": 5}]},
    )
    b = published(
        tmp_path,
        "B",
        # 40.0 + 1e-12 is the same number (float noise stays below the 1e-9 relative tolerance)
        {"visitors": {"value": 101, "previous": 90}, "bounce_rate": {"value": 40.0 + 1e-12}},
        {
            "top_pages": [
                {"page": "/", "visitors": 10},
                {"page": "/docs", "visitors": 6},
                {"page": "/x", "visitors": 1},
            ],
            "sources": [],
        },
    )
    assert differences(a, b) == [
        "kpi visitors.value: 100 -> 101",
        "table sources: only in B",
        "table top_pages: 2 rows -> 3 rows",
        "table top_pages row 2 visitors: 5 -> 6",
    ]
    assert main(["diff", "usage_trends/A", "usage_trends/B", "--reports-dir", str(tmp_path)]) == 1
    assert "4 difference(s) between usage_trends/A and usage_trends/B" in capsys.readouterr().out
    assert main(["diff", str(a), str(a)]) == 0


def test_a_named_range_is_rerun_as_the_absolute_range_it_covered() -> None:
    record = RunRecord(
        "usage_trends",
        "20261115T120000Z",
        "/r/usage_trends/20261115T120000Z",
        "succeeded",
        "2026-11-15T12:00:00+00:00",
        parameters={"time_range": "7d", "segment": "power"},
        data_range={
            "label": "7d",
            "start": "2026-11-08T12:00:00+00:00",
            "end": "2026-11-15T12:00:00+00:00",
            "tz": "UTC",
        },
    )
    declared = {"time_range": None, "start": None, "end": None, "tz": None, "segment": None}
    assert rerun_parameters(record, declared) == {
        "time_range": "7d",
        "segment": "power",
        "start": "2026-11-08T12:00:00+00:00",
        "end": "2026-11-15T12:00:00+00:00",
        "tz": "UTC",
    }


@pytest.mark.slow
def test_rerun_gives_the_same_numbers_into_a_new_folder(demo_env, tmp_path: Path, capsys) -> None:
    reports = tmp_path / "reports"
    original = runs.run_report("usage_trends", {"time_range": "7d"}, reports_dir=reports, outputs=("json",))
    assert original.succeeded, original.error
    # what produced it: the code (package and git commit of the checkout), the data, the store
    assert original.versions["fawkes_analytics"] and original.versions["data"]
    if runs.git_commit(Path(__file__).resolve().parents[2]):
        assert len(original.versions["git_commit"].removesuffix("-dirty")) == 40

    assert main(["rerun", f"usage_trends/{original.run_id}", "--reports-dir", str(reports)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"rerun of usage_trends/{original.run_id}")
    (again,) = [
        RunRecord.read(p / "run.json") for p in (reports / "usage_trends").glob("2*") if p.name != original.run_id
    ]
    assert again.rerun_of == f"usage_trends/{original.run_id}"
    assert "data.json" in again.outputs and "report.html" not in again.outputs  # the same outputs as then
    assert (again.parameters["start"], again.parameters["end"]) == (
        original.data_range["start"],
        original.data_range["end"],
    )
    assert again.data_range["start"] == original.data_range["start"]
    assert again.versions["data"] == original.versions["data"]
    assert differences(original.path, again.path) == []
