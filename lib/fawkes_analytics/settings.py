"""Every environment variable and every default path, read in one place.

All variables share the prefix ``FAWKES_ANALYTICS_``; :data:`VARIABLES` lists each one with
its meaning and default (docs/configuration.md is the same table for readers). Names used
before the prefix was settled (``FAWKES_SMTP_HOST``, ``FAWKES_VOILA_TOKEN``,
``PUSHGATEWAY_URL``, ``PLAUSIBLE_API_KEY``, ...) are still read when the new name is not set,
with a :class:`DeprecatedSetting` warning (a ``DeprecationWarning``) that names the new name.

The environment is read at each call (it is cheap), so a test or a long-running process
that changes a variable sees it. Secrets (:attr:`Variable.secret`) may be given as a value
or as ``NAME_FILE``, the path of a file holding it (a Kubernetes secret volume; report and
dashboard kernels only ever get the file form, see kernel_env.py).

Paths: the project root is computed once (:data:`PROJECT_ROOT`) and gives the defaults
(``reports/``, ``notebooks/``, ``schedules/``, ``analytics.yaml``, ``data/``). A relative
path in a variable, a source URL (``duckdb://data/demo.duckdb``) or on the command line
resolves against the directory where the user ran the command (:func:`workdir`), also
inside report kernels, which run in ``notebooks/``: the run layer passes the caller's
directory to kernels as ``FAWKES_ANALYTICS_WORKDIR``.

This module imports nothing heavy: the command line reads it before it decides what to load.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, ParameterError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREFIX = "FAWKES_ANALYTICS_"
ROLLUPS_OFF = "off"
PARENT_PID_ENV = PREFIX + "PARENT_PID"  # set by the scheduler for command jobs
RUN_DIR_ENV = PREFIX + "RUN_DIR"  # set by the run layer in report kernels
WORKDIR_ENV = PREFIX + "WORKDIR"  # set by the run layer in report kernels
DEFAULT_DEMO_PATH = PROJECT_ROOT / "data" / "demo.duckdb"


class DeprecatedSetting(DeprecationWarning):
    """An environment variable was found under its old name; the message names the new one."""


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name after the prefix, what it means, its default."""

    name: str
    meaning: str
    default: str = ""
    old: tuple[str, ...] = ()  # names read (with a warning) when the new one is not set
    secret: bool = False  # may be given as NAME_FILE; never passed to kernels as a value

    @property
    def env_name(self) -> str:
        return PREFIX + self.name


_SMTP = "SMTP server for report emails"
VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        # where data comes from
        Variable(
            "SOURCE",
            "connection URL of the source (duckdb://, file://, parquet://, plausible://, sc://, any Ibis URL)",
            "duckdb://data/demo.duckdb (the demo data)",
            secret=True,
        ),
        Variable("CATALOG", "the catalog file", "analytics.yaml in the project"),
        Variable("EXPERIMENTS_URL", "base URL of the experimentation service (assignments)"),
        Variable("EXPERIMENTS_TOKEN", "bearer token of the experimentation service", secret=True),
        Variable("FEEDBACK_URL", "base URL of the feedback service (NPS answers)"),
        Variable("FEEDBACK_TOKEN", "bearer token of the feedback service", secret=True),
        Variable("PLAUSIBLE_API_KEY", "Plausible Stats API key", old=("PLAUSIBLE_API_KEY",), secret=True),
        Variable("CACHE_DIR", "cache of HTTP sources' answers (last good data)", "data/cache/http in the project"),
        Variable("LOG_SALT", "salt of the user-id hash when importing access logs"),
        # rollups and the engine
        Variable(
            "ROLLUPS", "rollup store location (a folder), or 'off'", "beside a DuckDB source file: <name>.rollups"
        ),
        Variable("MEMORY_LIMIT", "DuckDB memory limit per process", "2GB"),
        Variable("TEMP_DIR", "where DuckDB spills when over the limit", "<system temp>/fawkes-analytics-spill"),
        Variable("THREADS", "DuckDB threads (0: one per core)", "0"),
        # reports and runs
        Variable("REPORTS_DIR", "where run folders go", "reports/ in the project"),
        Variable("NOTEBOOKS_DIR", "where report notebooks are", "notebooks/ in the project"),
        Variable(
            "REPORTS_URL",
            "URL where reports/ is published, for links in emails and dashboards",
            old=("FAWKES_REPORTS_BASE_URL",),
        ),
        Variable("MAX_POINTS", "most time-series points a report may ask for", "5000"),
        Variable("PATH_ROOTS", "extra folders path parameters may point into (separated by ':')"),
        Variable("FILE_MODE", "mode of published files (octal, 0600 to 0666)", "0666 minus the umask"),
        Variable("MAX_LABEL_LENGTH", "longest label shown before it is shortened", "80"),
        Variable("PDF_PAGE_SIZE", "paper of PDF reports: A4, A3, A5, letter or legal", "A4"),
        Variable("WORKDIR", "the directory relative paths resolve against", "the current directory"),
        Variable("RUN_DIR", "the run folder of the report a kernel computes (set by the run layer)"),
        # schedules
        Variable(
            "SCHEDULES_DIR", "where schedule files are", "schedules/ in the project", old=("FAWKES_SCHEDULES_DIR",)
        ),
        Variable("STATE_DIR", "scheduler state", "<reports>/.scheduler", old=("FAWKES_STATE_DIR",)),
        Variable("MAX_CONCURRENT_RUNS", "runs the scheduler starts at once", "2", old=("FAWKES_MAX_CONCURRENT_RUNS",)),
        Variable(
            "PARENT_PID", "the scheduler a command job dies with (set by the scheduler)", old=("FAWKES_PARENT_PID",)
        ),
        # email
        Variable("SMTP_HOST", _SMTP, old=("FAWKES_SMTP_HOST",)),
        Variable("SMTP_PORT", "SMTP port", "587 (starttls), 465 (tls), 25 (none)", old=("FAWKES_SMTP_PORT",)),
        Variable("SMTP_SECURITY", "starttls, tls or none", "starttls", old=("FAWKES_SMTP_SECURITY",)),
        Variable("SMTP_USER", "SMTP login", old=("FAWKES_SMTP_USER",)),
        Variable("SMTP_PASSWORD", "SMTP password", old=("FAWKES_SMTP_PASSWORD",), secret=True),
        Variable("SMTP_FROM", "sender address", "fawkes-analytics@localhost", old=("FAWKES_SMTP_FROM",)),
        Variable("SMTP_TIMEOUT", "SMTP timeout in seconds", "30", old=("FAWKES_SMTP_TIMEOUT",)),
        Variable("SMTP_CA_FILE", "CA bundle for the SMTP server's certificate", old=("FAWKES_SMTP_CA_FILE",)),
        Variable(
            "SMTP_LIST_UNSUBSCRIBE",
            "List-Unsubscribe target (address or URL)",
            "mailto:<sender>",
            old=("FAWKES_SMTP_LIST_UNSUBSCRIBE",),
        ),
        # dashboards
        Variable("VOILA_TOKEN", "access token of the dashboard server", old=("FAWKES_VOILA_TOKEN",), secret=True),
        Variable(
            "VOILA_COOKIE_SECRET",
            "cookie secret of the dashboard server",
            old=("FAWKES_VOILA_COOKIE_SECRET",),
            secret=True,
        ),
        Variable("VOILA_PREHEAT", "preheated kernels for the overview dashboard", "0", old=("FAWKES_VOILA_PREHEAT",)),
        Variable("DASHBOARDS_DIR", "where dashboard notebooks are", "notebooks/dashboards in the project"),
        Variable(
            "DASHBOARD_POLL_SECONDS",
            "how often dashboards look for new published views (0: never)",
            "30",
            old=("FAWKES_DASHBOARD_POLL_SECONDS",),
        ),
        Variable("DASHBOARD_TZ", "time zone the dashboards' views are precomputed in", "UTC"),
        Variable("VIEWS_DIR", "where the dashboards' precomputed views are published", "<reports>/dashboards"),
        Variable("DASHBOARD_LIVE_SLOTS", "live dashboard computations at once per server", "2"),
        Variable("VOILA_MAX_KERNELS", "dashboard kernels at once per server", "sized to the memory limit"),
        Variable(
            "VOILA_MEMORY_LIMIT", "memory the dashboard server may use (e.g. 2Gi), for the kernel cap", "the cgroup's"
        ),
        # metrics export
        Variable("PUSHGATEWAY_URL", "Prometheus Pushgateway to push metrics to", old=("PUSHGATEWAY_URL",), secret=True),
        Variable("METRICS_TEXTFILE", "node-exporter textfile to write metrics to", old=("FAWKES_METRICS_TEXTFILE",)),
        Variable(
            "METRICS_INSTANCE",
            "the instance label of pushed metrics",
            "the host name",
            old=("FAWKES_METRICS_INSTANCE",),
        ),
        # the HTTP API (docs/api.md): every token variable also has a *_FILE twin (a mounted
        # Secret, one token a line); both may be set and the tokens are merged
        Variable("API_TOKENS", "read tokens of the HTTP API, comma-separated (every GET, /metrics)", secret=True),
        Variable("API_ADMIN_TOKEN", "the API token that may also POST /api/v1/analytics/refresh", secret=True),
        Variable("METRICS_TOKEN", "a token for GET /metrics only (Prometheus's)", secret=True),
        Variable(
            "API_CORS_ORIGINS",
            "origins allowed to call the API from a browser (comma-separated, or *)",
            "none: CORS off",
        ),
        Variable("API_REFRESH_PER_HOUR", "refreshes the API starts per rolling hour (one at a time)", "6"),
    )
}


def _variable(name: str) -> Variable:
    try:
        return VARIABLES[name.removeprefix(PREFIX)]
    except KeyError:
        raise KeyError(f"{name} is not a setting of settings.VARIABLES") from None


def _warn_old(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated: set {new} instead", DeprecatedSetting, stacklevel=4)


def get(name: str, default: str = "", env: Mapping[str, str] | None = None) -> str:
    """The value of setting ``name`` (``SMTP_HOST`` or ``FAWKES_ANALYTICS_SMTP_HOST``), stripped.

    The new name wins; an old name is read (with a warning) only when the new one is unset.
    """
    variable = _variable(name)
    env = os.environ if env is None else env
    value = env.get(variable.env_name, "").strip()
    if value:
        return value
    for old in variable.old:
        value = env.get(old, "").strip()
        if value:
            _warn_old(old, variable.env_name)
            return value
    return default


def secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A secret setting: ``$NAME``, else the contents of the file ``$NAME_FILE`` (old names too)."""
    variable = _variable(name)
    env = os.environ if env is None else env
    for candidate in (variable.env_name, *variable.old):
        value = env.get(candidate)
        path = env.get(f"{candidate}_FILE")
        if not value and not path:
            continue
        if candidate != variable.env_name:
            _warn_old(candidate, variable.env_name)
        if value:
            return value
        try:
            return Path(path or "").read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError("environment", f"{candidate}_FILE", f"cannot read {path}: {exc.strerror}") from None
    return None


def is_set(name: str, env: Mapping[str, str] | None = None) -> bool:
    """True when setting ``name`` is given under any of its names (or as a ``_FILE``)."""
    variable = _variable(name)
    env = os.environ if env is None else env
    names = (variable.env_name, *variable.old)
    return any(env.get(n) for n in names) or (variable.secret and any(env.get(f"{n}_FILE") for n in names))


def lookup(env_name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of a variable named by the user (``--token-env NAME``): a known setting under
    any of its names (secrets also as ``_FILE``), else ``$NAME`` or the contents of ``$NAME_FILE``."""
    for variable in VARIABLES.values():
        if env_name == variable.env_name or env_name in variable.old:
            value = secret(variable.name, env) if variable.secret else get(variable.name, env=env)
            return value or ""
    env = os.environ if env is None else env
    value = env.get(env_name, "").strip()
    path = env.get(f"{env_name}_FILE")
    if value or not path:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError("environment", f"{env_name}_FILE", f"cannot read {path}: {exc.strerror}") from None


def canonical_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with every old name moved to its new name (the new one wins when both are set).

    Used for kernel environments, so a kernel only ever sees the new names.
    """
    out = dict(env)
    for variable in VARIABLES.values():
        for old in variable.old:
            for suffix in ("", "_FILE"):
                if old + suffix in out and old != variable.env_name:
                    value = out.pop(old + suffix)
                    if not out.get(variable.env_name) and not out.get(variable.env_name + "_FILE"):
                        _warn_old(old + suffix, variable.env_name + suffix)
                        out[variable.env_name + suffix] = value
    return out


def integer(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """An integer setting, with an error naming the variable when it is not a whole number."""
    value = get(name, env=env)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ParameterError(_variable(name).env_name, f"{value!r} is not a whole number") from None


# -- paths ----------------------------------------------------------------------------------


def workdir(env: Mapping[str, str] | None = None) -> Path:
    """Where the user ran the command: ``$FAWKES_ANALYTICS_WORKDIR`` (set in kernels), else here."""
    given = get("WORKDIR", env=env)
    return Path(given) if given else Path.cwd()


def resolve_path(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """``path`` with ``~`` expanded; a relative path is taken from :func:`workdir`."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else workdir(env) / path


def _path(name: str, default: Path) -> Path:
    value = get(name)
    return resolve_path(value) if value else default


def reports_dir() -> Path:
    """Where run folders go."""
    return _path("REPORTS_DIR", PROJECT_ROOT / "reports")


def views_dir() -> Path:
    """Where the dashboards' precomputed views are published (``dashboards/`` in the reports)."""
    return _path("VIEWS_DIR", reports_dir() / "dashboards")


def voila_request_url() -> str | None:
    """Where a preheated Voilà kernel receives its viewer's request (Voilà's request-info
    websocket, ``voila.utils.wait_for_request``); None for a kernel started for its viewer."""
    if os.environ.get("VOILA_PREHEAT") != "True":
        return None
    base = os.environ.get("VOILA_WS_BASE_URL") or os.environ.get("VOILA_SERVER_URL") or "/"
    host = f"{os.environ.get('VOILA_APP_IP', '127.0.0.1')}:{os.environ.get('VOILA_APP_PORT', '8866')}"
    kernel = os.environ.get("VOILA_KERNEL_ID", "")
    return f"{os.environ.get('VOILA_WS_PROTOCOL', 'ws')}://{host}{base}voila/query/{kernel}"


def take_request_query(request_info: Mapping[str, str] | None = None) -> str:
    """The query string of the page a Voilà kernel renders, taken out of its environment.

    Voilà hands a dashboard kernel its request in the environment (``QUERY_STRING``), or, to a
    preheated kernel, as ``request_info`` received from ``voila_request_url``; a token in the
    URL must not stay there, so the query string and the request URL are removed once read.
    """
    query = os.environ.get("QUERY_STRING", "")
    if request_info is not None:
        query = str(request_info.get("QUERY_STRING", ""))
    for name in ("QUERY_STRING", "VOILA_REQUEST_URL", "SCRIPT_NAME"):
        os.environ.pop(name, None)
    return query


def notebooks_dir() -> Path:
    """Where the report notebooks are."""
    return _path("NOTEBOOKS_DIR", PROJECT_ROOT / "notebooks")


def dashboards_dir() -> Path:
    """Where the dashboard notebooks are."""
    return _path("DASHBOARDS_DIR", notebooks_dir() / "dashboards")


def schedules_dir() -> Path:
    """Where the schedule files are."""
    return _path("SCHEDULES_DIR", PROJECT_ROOT / "schedules")


def state_dir(reports: Path | None = None) -> Path:
    """Where the scheduler keeps its state: the setting, else ``<reports>/.scheduler``."""
    return _path("STATE_DIR", Path(reports or reports_dir()) / ".scheduler")


def catalog_path() -> Path:
    """The catalog file that data scientists edit."""
    return _path("CATALOG", PROJECT_ROOT / "analytics.yaml")


def cache_dir() -> Path:
    """The HTTP sources' answer cache."""
    return _path("CACHE_DIR", PROJECT_ROOT / "data" / "cache" / "http")


def user_cache_dir() -> Path:
    """This user's cache of derived files (compiled schema validators): ``$XDG_CACHE_HOME`` or
    ``~/.cache``, then ``fawkes-analytics``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "fawkes-analytics"


def path_roots() -> list[Path]:
    """Extra folders path parameters may point into."""
    return [resolve_path(p) for p in get("PATH_ROOTS").split(os.pathsep) if p.strip()]


def metrics_textfile() -> Path | None:
    value = get("METRICS_TEXTFILE")
    return resolve_path(value) if value else None


# -- the source -----------------------------------------------------------------------------


def source_url() -> str:
    """The configured source URL, or the demo DuckDB file."""
    return secret("SOURCE") or f"duckdb://{DEFAULT_DEMO_PATH}"


def local_path(location: str) -> str:
    """A file location from a source URL (``data/demo.duckdb``, ``/abs/x.parquet``, a glob),
    made absolute against :func:`workdir`; ``:memory:`` and the like are kept."""
    if not location or location.startswith(":"):
        return location
    return str(resolve_path(location))


# -- rollups and the engine -----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The rollup and engine settings of this process (see :data:`VARIABLES`)."""

    rollups: str | None
    memory_limit: str
    temp_dir: Path
    threads: int


def current() -> Settings:
    """The rollup and engine settings as the environment says now."""
    threads = get("THREADS", "0")
    return Settings(
        rollups=get("ROLLUPS") or None,
        memory_limit=get("MEMORY_LIMIT", "2GB"),
        temp_dir=Path(get("TEMP_DIR") or Path(_temp_root()) / "fawkes-analytics-spill"),
        threads=int(threads) if threads.isdigit() else 0,
    )


def _temp_root() -> str:
    import tempfile  # imported when needed: the command line reads settings before anything else

    return tempfile.gettempdir()


def rollups_location(source_path: Path | None) -> Path | None:
    """Where the rollup store of a source lives: the setting, else beside a DuckDB file, else nowhere.

    The store is never written into the source: for ``data/demo.duckdb`` the default is the
    folder ``data/demo.rollups``.
    """
    configured = current().rollups
    if configured == ROLLUPS_OFF:
        return None
    if configured:
        return resolve_path(configured)
    if source_path is None:
        return None
    return source_path.with_suffix(".rollups")


def markdown_table() -> str:
    """:data:`VARIABLES` as a Markdown table (docs/configuration.md is checked against it)."""
    lines = ["| variable | meaning | default | old name (deprecated) |", "|---|---|---|---|"]
    for v in VARIABLES.values():
        secret_note = " (secret: or `_FILE`)" if v.secret else ""
        old = ", ".join(f"`{o}`" for o in v.old if o != v.env_name)
        lines.append(f"| `{v.env_name}` | {v.meaning}{secret_note} | {v.default} | {old} |")
    return "\n".join(lines) + "\n"


# -- the HTTP API -----------------------------------------------------------------------------

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
    tokens = list(_split(get(name), separators))
    file_name = os.environ.get(PREFIX + name + "_FILE", "").strip()
    if file_name:
        try:
            text = Path(file_name).read_text(encoding="utf-8")
        except OSError as exc:
            raise ParameterError(PREFIX + name + "_FILE", f"cannot read {file_name}: {exc.strerror}") from exc
        lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
        tokens += _split("\n".join(lines), "\n" + separators)
    return tuple(dict.fromkeys(tokens))


def api() -> ApiSettings:
    """The API settings as the environment says now (ParameterError names a bad variable)."""
    per_hour = get("API_REFRESH_PER_HOUR", str(DEFAULT_REFRESH_PER_HOUR))
    if not per_hour.isdigit():
        raise ParameterError(PREFIX + "API_REFRESH_PER_HOUR", f"{per_hour!r} is not a whole number", ">= 0")
    reports = reports_dir()
    return ApiSettings(
        read_tokens=_tokens("API_TOKENS"),
        admin_tokens=_tokens("API_ADMIN_TOKEN"),
        metrics_tokens=_tokens("METRICS_TOKEN"),
        cors_origins=_split(get("API_CORS_ORIGINS"), ", "),
        refresh_per_hour=int(per_hour),
        reports_dir=reports,
        metrics_textfile=metrics_textfile() or reports / "metrics" / "analytics.prom",
    )
