"""A report run reads the rollup store and records which version it read in run.json."""

from __future__ import annotations

import json
import shutil

import pytest

from fawkes_analytics import runs
from fawkes_analytics.rollups import RollupStore, refresh_source
from fawkes_analytics.rollups.tables import forget
from fawkes_analytics.sources.ibis_source import open_duckdb

pytestmark = pytest.mark.slow


def test_a_run_records_the_store_version_it_read(demo_db, tmp_path, monkeypatch):
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db.path, copy)
    forget()
    result = refresh_source(open_duckdb(copy))
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", f"duckdb://{copy}")
    record = runs.run_report("usage_trends", {"time_range": "7d"}, reports_dir=tmp_path / "reports")
    assert record.succeeded, record.error
    saved = json.loads((record.path / "run.json").read_text())
    assert saved["rollups"]["kind"] == "rollups"
    assert saved["rollups"]["version"] == result.version == RollupStore(copy.with_suffix(".rollups")).latest().version
    data = json.loads((record.path / "data.json").read_text())
    assert data["rollups"]["data_version"] == result.data_version

    # Without a store the run says it read the raw events.
    monkeypatch.setenv("FAWKES_ANALYTICS_ROLLUPS", "off")
    raw = runs.run_report("usage_trends", {"time_range": "7d"}, reports_dir=tmp_path / "reports")
    assert raw.succeeded, raw.error
    assert json.loads((raw.path / "run.json").read_text())["rollups"]["kind"] == "raw"
    # The same numbers either way.
    assert json.loads((raw.path / "data.json").read_text())["kpis"] == data["kpis"]
