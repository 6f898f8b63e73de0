"""The HTTP API: published results as JSON, run files, a refresh trigger and ``/metrics``.

Served by the dashboards' server (``fawkes-analytics serve`` adds ``handlers.routes`` to it), so
it shares its process, port and token. Every answer is a read of a published file (cached per
file version); the one write is a refresh job, which runs the CLI as child processes.
docs/api.md describes the endpoints; ``openapi.document()`` is the machine-readable contract.
"""

from __future__ import annotations

from .handlers import routes

__all__ = ["routes"]
