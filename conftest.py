"""Root pytest configuration: nbval runs the report notebooks on a small demo data set.

Notebook kernels inherit this process's environment, so the source and the reports folder
are pointed at temporary places before any test starts; tests that need another source set
their own with monkeypatch.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

HERE = Path(__file__).parent
_scratch = tempfile.TemporaryDirectory(prefix="fawkes-tests-")


def pytest_sessionstart(session: pytest.Session) -> None:
    from fawkes_analytics import demo

    folder = Path(_scratch.name)
    path = folder / "nbval-demo.duckdb"
    if not path.exists():
        demo.generate(
            path,
            events=40_000,
            seed=5,
            days=60,
            end=datetime.fromisoformat("2026-11-15T12:00:00+00:00"),
            progress=False,
        )
    os.environ["FAWKES_ANALYTICS_SOURCE"] = f"duckdb://{path}"
    os.environ["FAWKES_ANALYTICS_REPORTS_DIR"] = str(folder / "reports")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Notebooks under tests/ are fixtures for the runner (one hangs on purpose), not nbval tests."""
    if collection_path.suffix == ".ipynb" and (HERE / "tests") in collection_path.parents:
        return True
    return None
