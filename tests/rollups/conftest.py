"""Fixtures for the rollup store: a growing DuckDB events log and a small catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fawkes_analytics.rollups.tables import forget

from .support import EventLog, write_catalog


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventLog]:
    """An empty events log with its store beside it, read with a small catalog."""
    monkeypatch.setenv("FAWKES_ANALYTICS_CATALOG", str(write_catalog(tmp_path)))
    monkeypatch.delenv("FAWKES_ANALYTICS_ROLLUPS", raising=False)
    forget()
    yield EventLog(tmp_path / "events.duckdb")
    forget()
