"""Sources are plug-ins listed in one registry, imported when used, with capabilities and a status."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fawkes_analytics import sources
from fawkes_analytics.sources.base import Capability
from fawkes_analytics.sources.fallback import SourceStatus


def test_every_registered_scheme_names_an_opener_that_exists() -> None:
    for scheme in sources.SOURCES:
        opener = sources.opener_for(scheme)
        assert callable(opener), scheme
    # a scheme not listed is an Ibis URL (postgres://, trino://, ...)
    assert sources.opener_for("postgres").__name__ == "open_ibis_url"


def test_importing_the_sources_package_loads_no_source_module_and_no_query_engine() -> None:
    """No registration by import side effects: the HTTP clients, Ibis and DuckDB load only when
    a URL of their kind is opened."""
    code = (
        "import json, sys; import fawkes_analytics.sources as s; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('fawkes_analytics.sources.', 'ibis', 'duckdb', 'httpx')))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert loaded == ["fawkes_analytics.sources.base", "fawkes_analytics.sources.fallback"]


def test_sources_declare_what_they_offer(demo_db) -> None:
    from fawkes_analytics.sources.plausible import PlausibleSource

    store = sources.connect(f"duckdb://{demo_db.path}")
    assert store.capabilities == {Capability.EVENTS, Capability.ASSIGNMENTS, Capability.FEEDBACK}
    assert PlausibleSource.capabilities == {Capability.AGGREGATE_ONLY}


def test_a_table_source_is_live_and_says_so(demo_db) -> None:
    status = sources.connect(f"duckdb://{demo_db.path}").status()
    assert isinstance(status, SourceStatus) and status.available and status.banner is None


def test_a_relative_duckdb_path_is_read_from_where_the_command_ran(demo_db, tmp_path, monkeypatch) -> None:
    """``duckdb://data/demo.duckdb`` in the documented form works from the caller's directory, and
    inside a kernel (which runs in notebooks/) through FAWKES_ANALYTICS_WORKDIR."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo.duckdb").symlink_to(demo_db.path)
    monkeypatch.chdir(tmp_path)
    assert sources.connect("duckdb://data/demo.duckdb").events().count().execute() == demo_db.events
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(Exception, match="does not exist"):
        sources.connect("duckdb://data/demo.duckdb")
    monkeypatch.setenv("FAWKES_ANALYTICS_WORKDIR", str(tmp_path))
    assert sources.connect("duckdb://data/demo.duckdb").events().count().execute() == demo_db.events
