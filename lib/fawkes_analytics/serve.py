"""Serve notebooks/dashboards with Voilà, locked down for stakeholders.

What this adds on top of a plain `voila notebooks/dashboards`:

- sources stripped and no tracebacks for viewers: a failing cell shows a friendly sentence,
  the traceback goes to the server log (Voilà logs it with ``log.exception``);
- token authentication whenever the server listens on anything but loopback: the token comes
  from an environment variable (never the command line, which `ps` shows), and the server
  refuses to start on a non-loopback address without one;
- a cap on concurrent kernels (``--max-kernels``, default sized to the memory limit): a viewer
  beyond it gets a "busy, retrying" page that retries by itself (``dashboard/server.py``);
- a short kernel culling policy (5 minutes idle by default) so idle viewers do not pile up
  kernels; preheated kernels waiting for a viewer are never culled;
- optional preheated kernels (Voilà's pool, refilled when there is room under the cap);
- a landing page at ``/`` listing the dashboards, their data's freshness and the latest
  reports (opened in the browser), CSV downloads of the published views behind the same
  authentication as the pages, and plotly.js served locally for the interactive charts;
- ``/healthz``: a tiny handler that answers 200 without touching a notebook or a kernel, so
  Kubernetes probes are cheap (Voilà renders, and so starts a kernel for, every page it serves);
- kernels without secrets: once the token and cookie secret are read, the server's own
  environment is cut down to the kernel allow-list (kernel_env.py), because Voilà starts every
  kernel with the server's environment: no dashboard kernel sees the token, the cookie
  secret, the SMTP password or API keys (the source URL with a password reaches it as a file).
  Voilà also copies the request URL and query string into each kernel's environment; a
  viewer who opened ``?token=...`` would hand the token to the kernel, so those values are
  redacted on the way (``RedactingKernelManager``);
- nothing served without authentication but ``/healthz``: Voilà's unauthenticated static
  file route (``/voila/files/``) serves no file at all, so data (CSV downloads included, which
  the page builds in the kernel) only reaches a viewer who has the token;
- optionally a Prometheus endpoint on a separate port (kept off the Ingress) with the number
  of running kernels and the process metrics.

Configuration is passed to Voilà as a traitlets Config object only; user and system Jupyter
config files are deliberately ignored so that a stray ``voila.json`` cannot turn tracebacks
back on in production.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import settings
from .errors import ParameterError
from .kernel_env import restrict_process_environment
from .settings import ApiSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8866
HEALTH_PATH = "/healthz"
TOKEN_ENV = "FAWKES_ANALYTICS_VOILA_TOKEN"
COOKIE_SECRET_ENV = "FAWKES_ANALYTICS_VOILA_COOKIE_SECRET"
DEFAULT_CULL_IDLE_SECONDS = 300
DEFAULT_CULL_INTERVAL_SECONDS = 30
POOL_REFILL_DELAY_SECONDS = 10.0
# How long Voila waits for a cell's last outputs after its reply (nbclient: 4 s). On a busy
# machine a preheated kernel's widget came later and was dropped: the viewer got no controls.
IOPUB_TIMEOUT_SECONDS = 30
DEFAULT_PREHEAT_NOTEBOOKS = ("overview.ipynb",)
VOILA_TEMPLATE = "fawkes"  # templates/voila/fawkes: Voilà's lab page with the dashboards' scripts

FRIENDLY_ERROR = (
    "This part of the dashboard could not be computed right now. The details were logged on "
    "the server; please try again later or tell the analytics team."
)
FRIENDLY_TIMEOUT = (
    "This part of the dashboard took too long to compute. Please try a shorter time range or try again later."
)


def project_root() -> Path:
    """The checkout (or image work directory) holding notebooks/ and analytics.yaml."""
    return settings.PROJECT_ROOT


def default_notebooks_dir() -> Path:
    """notebooks/dashboards of the project, unless FAWKES_ANALYTICS_DASHBOARDS_DIR says otherwise."""
    return settings.dashboards_dir()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; '0.0.0.0', '::' and names are not loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    """Everything that decides how Voilà is started, validated once.

    ``token`` empty means no authentication, which is only allowed on loopback.
    ``preheat`` is the pool size of ready kernels per preheated notebook (0 turns it off).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str = field(default="", repr=False)
    notebooks_dir: Path = field(default_factory=default_notebooks_dir)
    preheat: int = 0
    preheat_notebooks: tuple[str, ...] = DEFAULT_PREHEAT_NOTEBOOKS
    cull_idle_timeout: int = DEFAULT_CULL_IDLE_SECONDS
    cull_interval: int = DEFAULT_CULL_INTERVAL_SECONDS
    cull_connected: bool = True
    base_url: str = "/"
    cookie_secret: bytes = field(default=b"", repr=False)
    metrics_port: int | None = None
    cell_timeout: int = 120
    max_kernels: int = 0  # 0: the default sized to the memory limit (dashboard.server.default_max_kernels)

    def __post_init__(self) -> None:
        if not self.token and not is_loopback(self.host):
            raise ParameterError(
                "token",
                f"serving on non-loopback address {self.host!r} needs a token; set {TOKEN_ENV} "
                "(or the variable named by --token-env)",
            )
        if not 0 < self.port < 65536:
            raise ParameterError("port", f"{self.port} is not a TCP port", "1-65535")
        if self.preheat < 0:
            raise ParameterError("preheat", f"{self.preheat} is negative", ">= 0")
        if self.cull_idle_timeout < 0 or self.cull_interval <= 0:
            raise ParameterError(
                "cull_idle_timeout",
                f"idle timeout {self.cull_idle_timeout}s / interval {self.cull_interval}s",
                "timeout >= 0 (0 disables culling), interval > 0",
            )
        if not Path(self.notebooks_dir).is_dir():
            raise ParameterError("notebooks_dir", f"{self.notebooks_dir} is not a directory")
        if self.max_kernels < 0:
            raise ParameterError("max_kernels", f"{self.max_kernels} is negative", ">= 1, or 0 for the default")
        if self.preheat and self.max_kernels and self.preheat * len(self.preheat_notebooks) >= self.max_kernels:
            raise ParameterError(
                "preheat",
                f"{self.preheat} preheated kernels per notebook for {len(self.preheat_notebooks)} notebook(s) "
                f"leave no room under the cap of {self.max_kernels} kernels",
            )
        if not self.base_url.startswith("/") or not self.base_url.endswith("/"):
            raise ParameterError("base_url", f"{self.base_url!r} must start and end with '/'")

    @property
    def auth_enabled(self) -> bool:
        return bool(self.token)

    def voila_config(self) -> object:
        """The traitlets Config handed to Voilà (the only configuration it reads)."""
        from traitlets.config import Config

        cfg = Config()
        cfg.Voila.ip = self.host
        cfg.Voila.port = self.port
        cfg.Voila.port_retries = 0  # fail fast instead of silently moving to another port
        cfg.Voila.open_browser = False
        cfg.Voila.root_dir = str(Path(self.notebooks_dir).resolve())
        cfg.Voila.base_url = self.base_url
        cfg.Voila.token = self.token
        if self.cookie_secret:
            cfg.Voila.cookie_secret = self.cookie_secret
        cfg.VoilaConfiguration.strip_sources = True
        cfg.VoilaConfiguration.template = "lab"  # with templates/voila/fawkes in front (setup_template_dirs)
        cfg.VoilaConfiguration.extension_denylist = ["jupyterlab-plotly"]  # charts are drawn by our page script
        cfg.VoilaConfiguration.file_allowlist = []  # /voila/files/ needs no token: serve nothing there
        cfg.VoilaConfiguration.multi_kernel_manager_class = kernel_manager_class()
        cfg.FawkesKernelManager.max_kernels = self.max_kernels
        cfg.VoilaConfiguration.show_tracebacks = False
        cfg.VoilaConfiguration.preheat_kernel = self.preheat > 0
        cfg.VoilaConfiguration.default_pool_size = self.preheat
        cfg.VoilaExecutor.show_tracebacks = False
        cfg.VoilaExecutor.cell_error_instruction = FRIENDLY_ERROR
        cfg.VoilaExecutor.cell_timeout_instruction = FRIENDLY_TIMEOUT
        cfg.VoilaExecutor.timeout = self.cell_timeout
        cfg.VoilaExecutor.iopub_timeout = IOPUB_TIMEOUT_SECONDS
        cfg.MappingKernelManager.cull_idle_timeout = self.cull_idle_timeout
        cfg.MappingKernelManager.cull_interval = self.cull_interval
        cfg.MappingKernelManager.cull_connected = self.cull_connected
        cfg.MappingKernelManager.cull_busy = False
        if self.preheat > 0:
            # A used preheated kernel is replaced after a pause, not at once: in a rush of viewers
            # the replacements would compete with the viewers' own kernels for the cores.
            cfg.VoilaKernelManager.fill_delay = POOL_REFILL_DELAY_SECONDS
            pools: dict[str, dict[str, int]] = {"default": {"pool_size": 0}}
            pools.update({name: {"pool_size": self.preheat} for name in self.preheat_notebooks})
            cfg.VoilaKernelManager.kernel_pools_config = pools
        return cfg


def kernel_manager_class() -> type:
    """Jupyter's kernel manager with the kernel cap and every environment value redacted."""
    from .dashboard.server import kernel_manager_class as capped

    return capped()


def dashboard_max_kernels() -> int:
    """The kernel cap from the environment, else the default sized to the memory limit."""
    from .dashboard.server import max_kernels

    return max_kernels()


def _build_app_class(api_config: ApiSettings | None = None) -> Any:
    """Voilà's application with the health handler, the API over ``api_config``, no config files."""
    import tornado.web
    from jupyter_server.utils import url_path_join
    from voila.app import Voila
    from voila.tornado.handler import TornadoVoilaHandler

    from .api import routes as api_routes
    from .dashboard import server as dashboard_server
    from .dashboard import template_cache

    template_cache.install()  # the page templates compiled once per process, not per page view

    class HealthHandler(tornado.web.RequestHandler):
        """Answers 200 from the event loop: no notebook, no kernel, no authentication."""

        def get(self) -> None:
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps({"status": "ok"}))

        def head(self) -> None:
            self.set_status(200)
            self.finish()

    class FawkesVoila(Voila):
        name = "fawkes-voila"

        def load_config_file(self, *args: object, **kwargs: object) -> None:
            """Ignore jupyter/voila config files: the settings are ours alone."""

        def setup_template_dirs(self) -> None:
            """Voilà's lab template, with ours (templates/voila/fawkes) in front of it."""
            super().setup_template_dirs()
            self.template_paths.insert(0, str(dashboard_server.VOILA_TEMPLATES / VOILA_TEMPLATE))

        def init_handlers(self) -> list:
            base = self.server_url or self.base_url
            health = (url_path_join(base, HEALTH_PATH), HealthHandler)
            api = api_routes(base, self.token or "", api_config)  # docs/api.md
            page_kwargs = {
                "template_paths": self.template_paths,
                "config": self.config,
                "voila_configuration": self.voila_configuration,
            }
            ours = dashboard_server.handlers(base, TornadoVoilaHandler, page_kwargs)
            return [health, *api, *ours, *super().init_handlers()]

    return FawkesVoila


def _start_metrics_server(app: object, host: str, port: int) -> None:
    """Expose kernel count and process metrics on a separate port for the ServiceMonitor."""
    from prometheus_client import REGISTRY, start_http_server
    from prometheus_client.core import GaugeMetricFamily

    class KernelCollector:
        def collect(self):  # noqa: ANN202 - prometheus collector protocol
            manager = getattr(app, "kernel_manager", None)
            count = len(list(manager.list_kernel_ids())) if manager is not None else 0
            yield GaugeMetricFamily(
                "fawkes_voila_kernels", "Notebook kernels running in this Voila server.", value=count
            )

    REGISTRY.register(KernelCollector())
    start_http_server(port, addr=host)


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    notebooks_dir: str | Path | None = None,
    *,
    preheat: int = 0,
    preheat_notebooks: Sequence[str] = DEFAULT_PREHEAT_NOTEBOOKS,
    cull_idle_timeout: int = DEFAULT_CULL_IDLE_SECONDS,
    cull_interval: int = DEFAULT_CULL_INTERVAL_SECONDS,
    cull_connected: bool = True,
    base_url: str = "/",
    metrics_port: int | None = None,
    token_env: str = TOKEN_ENV,
    max_kernels: int | None = None,
) -> int:
    """Start Voilà on ``host:port`` and block until it stops (SIGTERM/SIGINT); returns 0.

    ``token=None`` reads the token from the environment variable ``token_env``. Raises
    ParameterError before binding anything if the settings are unsafe (non-loopback without a
    token) or invalid.
    """
    if token is None:
        token = settings.lookup(token_env)
    chosen = ServeSettings(
        host=host,
        port=port,
        token=token,
        notebooks_dir=Path(notebooks_dir) if notebooks_dir else default_notebooks_dir(),
        preheat=preheat,
        preheat_notebooks=tuple(preheat_notebooks),
        cull_idle_timeout=cull_idle_timeout,
        cull_interval=cull_interval,
        cull_connected=cull_connected,
        base_url=base_url,
        cookie_secret=(settings.secret("VOILA_COOKIE_SECRET") or "").encode(),
        metrics_port=metrics_port,
        max_kernels=max_kernels or dashboard_max_kernels(),
    )
    api_config = settings.api()  # before the environment is cut down: the API's tokens live there
    restrict_process_environment()  # from here on, only what kernels may see (kernel_env.py)
    # instance(), not a plain constructor: Voilà's renderers log through the global application
    # logger, and only a registered instance makes cell tracebacks reach the server log.
    app = _build_app_class(api_config).instance(config=chosen.voila_config())
    app.initialize([])
    app.log.info(
        "Serving %s on %s:%s (auth %s, preheat %s, at most %s kernels, cull idle kernels after %ss)",
        chosen.notebooks_dir,
        chosen.host,
        chosen.port,
        "on" if chosen.auth_enabled else "off (loopback only)",
        chosen.preheat,
        chosen.max_kernels,
        chosen.cull_idle_timeout,
    )
    if chosen.metrics_port:
        _start_metrics_server(app, chosen.host, chosen.metrics_port)
    app.start()  # blocks; Voilà shuts its kernels down when the loop stops
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` options, shared by the fawkes-analytics CLI and `python -m`."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    parser.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        help="environment variable holding the access token (default: %(default)s); "
        "required when --host is not loopback",
    )
    parser.add_argument("--notebooks-dir", default=None, help="folder of dashboards (default: notebooks/dashboards)")
    parser.add_argument(
        "--preheat",
        type=int,
        default=None,
        metavar="N",
        help="keep N preheated kernels for the overview dashboard (0 = off; env FAWKES_ANALYTICS_VOILA_PREHEAT)",
    )
    parser.add_argument(
        "--cull-idle",
        type=int,
        default=DEFAULT_CULL_IDLE_SECONDS,
        metavar="SECONDS",
        help="shut down kernels idle this long, even with a tab open (0 = never; default: %(default)s)",
    )
    parser.add_argument(
        "--cull-interval",
        type=int,
        default=DEFAULT_CULL_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="how often to look for idle kernels (default: %(default)s)",
    )
    parser.add_argument(
        "--max-kernels",
        type=int,
        default=None,
        metavar="N",
        help="at most N kernels at once; viewers beyond get a page that retries by itself "
        "(default: FAWKES_ANALYTICS_VOILA_MAX_KERNELS, else sized to the memory limit)",
    )
    parser.add_argument("--base-url", default="/", help="URL prefix when served behind a proxy path")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics (kernel count, process) on this port; off by default",
    )


def _run(args: argparse.Namespace) -> int:
    """Handler of `fawkes-analytics serve`: 2 with a message when the settings are refused."""
    try:
        return serve(
            host=args.host,
            port=args.port,
            notebooks_dir=args.notebooks_dir,
            preheat=args.preheat if args.preheat is not None else settings.integer("VOILA_PREHEAT", 0),
            cull_idle_timeout=args.cull_idle,
            cull_interval=args.cull_interval,
            base_url=args.base_url,
            metrics_port=args.metrics_port,
            token_env=args.token_env,
            max_kernels=args.max_kernels,
        )
    except ParameterError as exc:
        print(f"fawkes-analytics serve: {exc}", flush=True)
        return 2


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add `serve`: the Voilà dashboards with the production settings above."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the Voilà dashboards (sources hidden, token auth off loopback, idle kernels culled)",
        description=__doc__.splitlines()[0],
    )
    add_arguments(parser)
    parser.set_defaults(func=_run)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m fawkes_analytics.serve`: the same command without the full CLI."""
    parser = argparse.ArgumentParser(prog="fawkes-analytics serve", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
