"""Where data comes from: one explicit registry of source kinds, keyed by URL scheme.

The source is a connection URL, from ``FAWKES_ANALYTICS_SOURCE`` by default. :data:`SOURCES`
names, for each scheme, the function that opens it as ``"module:function"``; the module is
imported only when a URL of that scheme is opened, so opening a DuckDB file never loads the
HTTP clients and the command line loads none of them. A scheme not listed goes to
``ibis.connect`` (PostgreSQL, ClickHouse, BigQuery, Trino, ...).

Each source declares what it offers (:class:`~.base.Capability`) and answers ``status()``.
When the experimentation or feedback service is configured (``FAWKES_ANALYTICS_EXPERIMENTS_URL``,
``FAWKES_ANALYTICS_FEEDBACK_URL``), :func:`connect` attaches it to the source it opens
(services.py), as docs/sources.md describes.

Adding a kind of source: write ``sources/<kind>.py`` with an ``open_<kind>(url) -> Source``
and add its schemes to :data:`SOURCES` (docs/extending.md). A plug-in outside this package
adds its own entry the same way: ``SOURCES["myscheme"] = "mypackage.source:open_mine"``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import settings
from .base import Capability, Source, redact_url

if TYPE_CHECKING:
    from .ibis_source import IbisSource

ENV_VAR = settings.PREFIX + "SOURCE"
DEFAULT_DEMO_PATH = settings.DEFAULT_DEMO_PATH
DEFAULT_OPENER = "fawkes_analytics.sources.ibis_source:open_ibis_url"

# scheme -> "module:function" that opens a URL of that scheme. The one list of source kinds.
SOURCES: dict[str, str] = {
    "duckdb": "fawkes_analytics.sources.ibis_source:open_ibis_url",
    "file": "fawkes_analytics.sources.files:open_files",
    "parquet": "fawkes_analytics.sources.files:open_files",
    "csv": "fawkes_analytics.sources.files:open_files",
    "plausible": "fawkes_analytics.sources.plausible:open_plausible",
    "plausible+http": "fawkes_analytics.sources.plausible:open_plausible",
    "plausible+https": "fawkes_analytics.sources.plausible:open_plausible",
    "sc": "fawkes_analytics.sources.spark_connect:open_spark_connect",
}


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case, or '' for a bare path."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def opener_for(scheme: str) -> Callable[[str], Source]:
    """The function that opens URLs of ``scheme`` (imported now), or ``ibis.connect``'s wrapper."""
    module, _, name = SOURCES.get(scheme, DEFAULT_OPENER).partition(":")
    opener: Callable[[str], Source] = getattr(importlib.import_module(module), name)
    return opener


def default_url() -> str:
    """The configured source URL (``$FAWKES_ANALYTICS_SOURCE``, or the file named by
    ``$FAWKES_ANALYTICS_SOURCE_FILE`` when the URL carries a password), or the demo DuckDB file."""
    return settings.source_url()


def connect(url: str | None = None, *, services: bool = True) -> Source:
    """Open the source at ``url`` (default: ``FAWKES_ANALYTICS_SOURCE`` or the demo data).

    With ``services`` (the default) the configured experimentation and feedback services are
    attached (``FAWKES_ANALYTICS_EXPERIMENTS_URL`` / ``FAWKES_ANALYTICS_FEEDBACK_URL``).
    """
    url = url or default_url()
    source = opener_for(scheme_of(url))(url)
    if services and (settings.get("EXPERIMENTS_URL") or settings.get("FEEDBACK_URL")):
        from .services import with_services

        return with_services(source)
    return source


def __getattr__(name: str) -> Any:
    """``IbisSource`` is imported from ibis_source.py (and Ibis with it) only when asked for."""
    if name == "IbisSource":
        from .ibis_source import IbisSource

        return IbisSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENV_VAR",
    "SOURCES",
    "Capability",
    "IbisSource",
    "Source",
    "connect",
    "default_url",
    "opener_for",
    "redact_url",
]
