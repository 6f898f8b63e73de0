"""Settings read from the environment, in one place.

Every setting has an explicit default. ``current()`` reads the environment each time it is
called (it is cheap), so a test or a long-running process that changes a variable sees it.

| variable | meaning | default |
|---|---|---|
| ``FAWKES_ANALYTICS_ROLLUPS`` | rollup store location (a folder), or ``off`` | beside a DuckDB source file: ``<name>.rollups`` |
| ``FAWKES_ANALYTICS_MEMORY_LIMIT`` | DuckDB memory limit per process | ``2GB`` |
| ``FAWKES_ANALYTICS_TEMP_DIR`` | where DuckDB spills when over the limit | ``<system temp>/fawkes-analytics-spill`` |
| ``FAWKES_ANALYTICS_THREADS`` | DuckDB threads (0: one per core) | ``0`` |
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREFIX = "FAWKES_ANALYTICS_"
ROLLUPS_OFF = "off"


@dataclass(frozen=True)
class Settings:
    """The settings of this process (see the module docstring for each one)."""

    rollups: str | None
    memory_limit: str
    temp_dir: Path
    threads: int


def _get(name: str, default: str = "") -> str:
    return os.environ.get(PREFIX + name, "").strip() or default


def current() -> Settings:
    """The settings as the environment says now."""
    threads = _get("THREADS", "0")
    return Settings(
        rollups=_get("ROLLUPS") or None,
        memory_limit=_get("MEMORY_LIMIT", "2GB"),
        temp_dir=Path(_get("TEMP_DIR") or Path(tempfile.gettempdir()) / "fawkes-analytics-spill"),
        threads=int(threads) if threads.isdigit() else 0,
    )


def rollups_location(source_path: Path | None) -> Path | None:
    """Where the rollup store of a source lives: the setting, else beside a DuckDB file, else nowhere.

    The store is never written into the source: for ``data/demo.duckdb`` the default is the
    folder ``data/demo.rollups``.
    """
    configured = current().rollups
    if configured == ROLLUPS_OFF:
        return None
    if configured:
        return Path(configured)
    if source_path is None:
        return None
    return source_path.with_suffix(".rollups")
