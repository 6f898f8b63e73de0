"""Where data comes from: a registry of source kinds keyed by URL scheme.

The source is a connection URL, from ``FAWKES_ANALYTICS_SOURCE`` by default. ``duckdb://``
files (the embedded default, created by the demo generator) and any other Ibis backend URL
give an ``IbisSource``; other kinds register an opener with ``register``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base import Source, read_secret, redact_url
from .ibis_source import IbisSource, open_ibis_url

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DEMO_PATH = PROJECT_ROOT / "data" / "demo.duckdb"
ENV_VAR = "FAWKES_ANALYTICS_SOURCE"

_OPENERS: dict[str, Callable[[str], Source]] = {}


def register(scheme: str, opener: Callable[[str], Source]) -> None:
    """Make ``connect`` open URLs of ``scheme`` with ``opener``."""
    _OPENERS[scheme] = opener


def default_url() -> str:
    """The configured source URL (``$FAWKES_ANALYTICS_SOURCE``, or the file named by
    ``$FAWKES_ANALYTICS_SOURCE_FILE`` when the URL carries a password), or the demo DuckDB file."""
    return read_secret(ENV_VAR) or f"duckdb://{DEFAULT_DEMO_PATH}"


def connect(url: str | None = None) -> Source:
    """Open the source at ``url`` (default: ``FAWKES_ANALYTICS_SOURCE`` or the demo data)."""
    url = url or default_url()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    opener = _OPENERS.get(scheme, open_ibis_url)
    return opener(url)


def _open_spark_connect(url: str) -> Source:
    from .spark_connect import open_spark_connect  # imports pyspark: only when used

    return open_spark_connect(url)


register("sc", _open_spark_connect)

# Each of these modules registers its URL schemes on import.
from . import access_log, files, plausible, services  # noqa: E402,F401

__all__ = ["ENV_VAR", "IbisSource", "Source", "connect", "default_url", "redact_url", "register"]
