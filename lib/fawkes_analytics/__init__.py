"""Fawkes Analytics: the shared library behind every report, dashboard and metric."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._imports import skip_slow_optional_imports
from .errors import (
    ConfigError,
    FawkesError,
    ParameterError,
    RunError,
    RunTimeout,
    SchemaError,
    SourceResponseError,
    SourceUnavailable,
)

if TYPE_CHECKING:
    from .sources import Source, connect

__version__ = "0.1.0"

skip_slow_optional_imports()


def __getattr__(name: str) -> object:
    """Import the data layer (Ibis, DuckDB) only when it is used, so light callers stay fast."""
    if name in ("Source", "connect"):
        from . import sources

        return getattr(sources, name)
    if name in ("catalog", "schema", "timerange"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "FawkesError",
    "ParameterError",
    "RunError",
    "RunTimeout",
    "SchemaError",
    "Source",
    "SourceResponseError",
    "SourceUnavailable",
    "catalog",
    "connect",
    "schema",
    "timerange",
]
