"""Settings read from the environment, in one place.

Every setting has an explicit default. ``current()`` reads the environment each time it is
called (it is cheap), so a test or a long-running process that changes a variable sees it.

| variable | meaning | default |
|---|---|---|
| ``FAWKES_ANALYTICS_ROLLUPS`` | rollup store location (a folder), or ``off`` | beside a DuckDB source file: ``<name>.rollups`` |
| ``FAWKES_ANALYTICS_MEMORY_LIMIT`` | DuckDB memory limit per process | ``2GB`` |
| ``FAWKES_ANALYTICS_TEMP_DIR`` | where DuckDB spills when over the limit | ``<system temp>/fawkes-analytics-spill`` |
| ``FAWKES_ANALYTICS_THREADS`` | DuckDB threads (0: one per core) | ``0`` |

The HTTP API (``fawkes_analytics.api``, docs/api.md) reads these through ``api()``. Every token
variable has a ``*_FILE`` twin naming a file (a mounted Secret) that holds the value; a list
file holds one token per line. Both may be set: the tokens are merged.

| variable | meaning | default |
|---|---|---|
| ``FAWKES_ANALYTICS_API_TOKENS`` | read tokens, comma-separated (every GET, ``/metrics``) | none |
| ``FAWKES_ANALYTICS_API_ADMIN_TOKEN`` | the token that may also ``POST /api/v1/analytics/refresh`` | none |
| ``FAWKES_ANALYTICS_METRICS_TOKEN`` | a token for ``GET /metrics`` only (Prometheus's) | none |
| ``FAWKES_ANALYTICS_API_CORS_ORIGINS`` | origins allowed to call the API from a browser, comma-separated, or ``*`` | none: CORS off |
| ``FAWKES_ANALYTICS_API_REFRESH_PER_HOUR`` | refreshes the API starts per rolling hour (one at a time) | ``6`` |
| ``FAWKES_ANALYTICS_REPORTS_DIR`` | run folders (shared with the runner) | the project's ``reports/`` |
| ``FAWKES_METRICS_TEXTFILE`` | the exposition ``/metrics`` serves (shared with the metrics export) | ``<reports>/metrics/analytics.prom`` |
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ParameterError

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


# --- the HTTP API ---------------------------------------------------------------------------
METRICS_TEXTFILE_ENV = "FAWKES_METRICS_TEXTFILE"
DEFAULT_REFRESH_PER_HOUR = 6


@dataclass(frozen=True)
class ApiSettings:
    """What the HTTP API needs: tokens by scope, CORS origins, the refresh budget, paths.

    Tokens never appear in ``repr`` (a settings object may end up in a log line).
    """

    read_tokens: tuple[str, ...] = field(default=(), repr=False)
    admin_tokens: tuple[str, ...] = field(default=(), repr=False)
    metrics_tokens: tuple[str, ...] = field(default=(), repr=False)
    cors_origins: tuple[str, ...] = ()
    refresh_per_hour: int = DEFAULT_REFRESH_PER_HOUR
    reports_dir: Path = PROJECT_ROOT / "reports"
    metrics_textfile: Path = PROJECT_ROOT / "reports" / "metrics" / "analytics.prom"


def _split(text: str, separators: str) -> tuple[str, ...]:
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    return tuple(part.strip() for part in text.split(separators[0]) if part.strip())


def _tokens(name: str, separators: str = ",") -> tuple[str, ...]:
    """Tokens from ``FAWKES_ANALYTICS_<name>`` and from the file named by ``..._FILE``.

    A file that cannot be read is an error naming the variable: a server must not start with
    fewer tokens than its operator configured. Lines starting with ``#`` in a file are comments.
    """
    tokens = list(_split(_get(name), separators))
    file_name = _get(name + "_FILE")
    if file_name:
        try:
            text = Path(file_name).read_text(encoding="utf-8")
        except OSError as exc:
            raise ParameterError(PREFIX + name + "_FILE", f"cannot read {file_name}: {exc.strerror}") from exc
        lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
        tokens += _split("\n".join(lines), "\n" + separators)
    return tuple(dict.fromkeys(tokens))


def reports_dir() -> Path:
    """Where run folders live: ``FAWKES_ANALYTICS_REPORTS_DIR`` or the project's reports/."""
    return Path(_get("REPORTS_DIR") or PROJECT_ROOT / "reports")


def api() -> ApiSettings:
    """The API settings as the environment says now (ParameterError names a bad variable)."""
    per_hour = _get("API_REFRESH_PER_HOUR", str(DEFAULT_REFRESH_PER_HOUR))
    if not per_hour.isdigit():
        raise ParameterError(PREFIX + "API_REFRESH_PER_HOUR", f"{per_hour!r} is not a whole number", ">= 0")
    reports = reports_dir()
    textfile = os.environ.get(METRICS_TEXTFILE_ENV, "").strip()
    return ApiSettings(
        read_tokens=_tokens("API_TOKENS"),
        admin_tokens=_tokens("API_ADMIN_TOKEN"),
        metrics_tokens=_tokens("METRICS_TOKEN"),
        cors_origins=_split(_get("API_CORS_ORIGINS"), ", "),
        refresh_per_hour=int(per_hour),
        reports_dir=reports,
        metrics_textfile=Path(textfile) if textfile else reports / "metrics" / "analytics.prom",
    )
