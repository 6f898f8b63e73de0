"""Compute once, read everywhere: the incremental rollup store.

Sessions and the other derived tables (``derive``) are built from the canonical events once,
incrementally, into a store of Parquet files (``store``) by ``refresh``; every reader
(report and dashboard kernels, the metrics export, the API) reads them through
``tables.tables_for``, which falls back to deriving them from the raw events when no store
covers the question. ``fawkes-analytics refresh`` is the command; the shipped schedules run
it every 5 minutes.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .incremental import RefreshBusy, RefreshResult, refresh
from .store import Manifest, RollupStore
from .tables import Tables, engagement_event, tables_for

__all__ = [
    "Manifest",
    "RefreshBusy",
    "RefreshResult",
    "RollupStore",
    "Tables",
    "refresh",
    "refresh_source",
    "store_of",
    "tables_for",
]


def store_of(source: Any) -> RollupStore:
    """The rollup store of ``source`` (its configured or default location)."""
    location = getattr(source, "rollups_location", None)
    if location is None or getattr(source, "backend", None) is None:
        raise ConfigError(
            "FAWKES_ANALYTICS_ROLLUPS",
            "(environment)",
            f"no rollup store for the {getattr(source, 'kind', 'unknown')} source: set FAWKES_ANALYTICS_ROLLUPS to a "
            "folder (DuckDB files get one beside them; aggregate-only sources such as Plausible have none)",
        )
    return RollupStore(location)


def refresh_source(source: Any, **options: Any) -> RefreshResult:
    """Refresh the store of ``source`` (``sources.connect()`` opens the configured one); ``options`` go to ``refresh``.

    ``funnels`` (``metrics.funnels.stored_funnels(...)``) are the funnels whose attempts the
    store keeps; ``fawkes-analytics refresh`` passes the catalog's.
    """
    return refresh(source, store_of(source), engagement=engagement_event(None), **options)
