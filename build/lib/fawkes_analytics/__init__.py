"""Fawkes Analytics: the shared library behind every report, dashboard and metric."""

from __future__ import annotations

from . import catalog, schema, timerange
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
from .sources import Source, connect

__version__ = "0.1.0"

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
