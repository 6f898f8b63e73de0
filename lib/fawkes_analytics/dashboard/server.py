"""What the dashboard server adds to Voilà: a kernel cap, a landing page, downloads, reports.

- ``kernel_manager_class``: Jupyter's kernel manager with a cap on concurrent kernels. A
  viewer's page that would start a kernel beyond the cap gets ``KernelCapReached``, which
  ``CappedVoilaHandler`` turns into a "busy, retrying" page (HTTP 503 with Retry-After and a
  page that retries by itself) before anything else is sent. The page Voilà sends carries the
  precomputed view the URL asks for (``first_paint.py``): it is on screen before the kernel
  and the widgets are. Preheated kernels count towards
  the cap: the pool is refilled as far as there is room, again whenever a kernel ends, and an
  idle preheated kernel is never culled (it is waiting for a viewer, not abandoned). Every environment value of a new kernel
  is redacted (a token a viewer put in the URL never reaches a kernel).
- ``default_max_kernels``: the cap that fits the memory limit (the container's cgroup limit,
  or ``FAWKES_ANALYTICS_VOILA_MEMORY_LIMIT``): room for the server and the live workers,
  the rest in dashboard kernels of the measured size (deploy/README.md).
- handlers: the landing page at ``/`` (every dashboard with its description, the data's
  freshness, the latest reports), CSV downloads of the published views and the latest
  reports, both behind the same authentication as the pages; plotly.js and the page script
  from the installed packages (no CDN).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import settings
from ..templates import render, style_tag
from . import store
from .first_paint import MARKER, first_paint
from .pages import PAGES

# Measured on the demo data (PSS, deploy/README.md "Memory"), rounded up for headroom: the
# server with the API (~180 MiB), one light dashboard kernel (~42 MiB), one live worker at its
# peak while it computes (~310 MiB).
SERVER_MIB = 200
KERNEL_MIB = 50
LIVE_WORKER_MIB = 320
RETRY_SECONDS = 3
STATIC_DIR = Path(__file__).resolve().parent.parent / "templates" / "static"
VOILA_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "voila"
REPORT_FILES = {"report.html": "text/html; charset=utf-8", "report.pdf": "application/pdf"}


class KernelCapReached(RuntimeError):
    """Every kernel seat of this server is taken."""


# --- capacity ---------------------------------------------------------------------------------
def parse_bytes(text: str) -> int | None:
    """'2Gi', '1536Mi', '2G', '2147483648' as bytes; None for 'max' or nonsense."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*", text or "", re.IGNORECASE)
    if not match:
        return None
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    factor = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    factor |= {"KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}
    return int(number * factor[unit])


def memory_limit() -> int | None:
    """The memory this server may use: the setting, else the container's cgroup limit."""
    configured = parse_bytes(settings.get("VOILA_MEMORY_LIMIT"))
    return configured or cgroup_memory_limit()


def cgroup_memory_limit() -> int | None:
    """The container's memory limit (cgroup v2 or v1); None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = parse_bytes(Path(path).read_text().strip())
        except OSError:
            continue
        if value and value < 2**50:  # cgroup v1 writes a huge number for "no limit"
            return value
    return None


def default_max_kernels(limit: int | None = None, live_slots: int = 2) -> int:
    """Kernels that fit the memory limit: (limit - server - live workers) / kernel, at least 2.

    Without a known limit, the machine's memory stands in for it.
    """
    if limit is None:
        limit = memory_limit()
    if limit is None:
        import psutil

        limit = psutil.virtual_memory().total
    spare = limit / 2**20 - SERVER_MIB - live_slots * LIVE_WORKER_MIB
    return max(2, int(spare // KERNEL_MIB))


def max_kernels() -> int:
    """``FAWKES_ANALYTICS_VOILA_MAX_KERNELS``, else the default sized to the memory limit."""
    from .live import live_slots

    configured = settings.integer("VOILA_MAX_KERNELS", 0)
    return configured if configured > 0 else default_max_kernels(live_slots=live_slots())


# --- the kernel manager --------------------------------------------------------------------
def kernel_manager_class() -> type:
    """Jupyter's async kernel manager with the cap, pool-aware culling and redacted environments."""
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from traitlets import Integer

    from ..sources.base import redact_text

    class FawkesKernelManager(AsyncMappingKernelManager):
        max_kernels = Integer(0, config=True, help="kernels at most (0: no cap)")

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._starting = 0
            self._closing = False

        @property
        def kernel_count(self) -> int:
            """Running kernels and kernels being started."""
            return len(self._kernels) + self._starting

        def full(self) -> bool:
            return bool(self.max_kernels) and self.kernel_count >= self.max_kernels

        def ready_in_pool(self, notebook: str) -> bool:
            """True when a preheated kernel for ``notebook`` waits for a viewer."""
            return any(_ready(task) for task in getattr(self, "_pools", {}).get(notebook, []))

        def ready_first(self, notebook: str) -> None:
            """Put the pool's ready kernels first: Voilà hands the first one of the pool out."""
            pool = getattr(self, "_pools", {}).get(notebook)
            if pool:
                pool.sort(key=lambda task: not _ready(task))

        def _pooled_ids(self) -> set[str]:
            ids = set()
            for pool in getattr(self, "_pools", {}).values():
                ids |= {task.result().get("kernel_id") for task in pool if _ready(task)}
            return ids

        def drop_failed_from_pools(self) -> None:
            """Forget preheat attempts that found no room (a viewer would get their error)."""
            for pool in getattr(self, "_pools", {}).values():
                pool[:] = [t for t in pool if not (t.done() and (t.cancelled() or t.exception() is not None))]

        def refill_pools(self) -> None:
            """Top the preheated pools up again, as far as the cap leaves room."""
            self.drop_failed_from_pools()
            fill = getattr(self, "fill_if_needed", None)
            if fill is None or self.full() or self._closing:
                return
            for notebook in list(getattr(self, "_pools", {})):
                fill(delay=0, notebook_name=notebook)

        async def start_kernel(self, *args: Any, env: dict[str, str] | None = None, **kwargs: Any) -> str:  # type: ignore[override]
            # A kernel beyond the cap is refused at once, for a viewer (who gets the busy page)
            # and for the preheated pool alike: a pool waiting for room would hold the viewers
            # who take its places. The pool is topped up again whenever a kernel ends.
            if self.full():
                raise KernelCapReached(f"{self.kernel_count} kernels running, cap {self.max_kernels}")
            if env is not None:
                env = {name: redact_text(value) for name, value in env.items()}
            self._starting += 1
            try:
                return await super().start_kernel(*args, env=env, **kwargs)
            finally:
                self._starting -= 1

        async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
            await super().shutdown_kernel(kernel_id, *args, **kwargs)
            self.refill_pools()

        async def shutdown_all(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
            self._closing = True  # the server stops: no pool refill
            await super().shutdown_all(*args, **kwargs)

        async def cull_kernel_if_idle(self, kernel_id: str) -> None:
            if kernel_id in self._pooled_ids():
                return  # a preheated kernel waits for a viewer: not idle in the culling sense
            await super().cull_kernel_if_idle(kernel_id)

    return FawkesKernelManager


def _ready(task: Any) -> bool:
    """A pool place whose kernel has started and run the notebook up to the request."""
    return task.done() and not task.cancelled() and task.exception() is None


# --- handlers ----------------------------------------------------------------------------
def handlers(base_url: str, voila_handler: type, voila_kwargs: dict[str, Any]) -> list[tuple]:
    """The routes this module adds, and Voilà's page route with the cap (in front of Voilà's)."""
    import tornado.web
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.utils import url_path_join
    from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler

    class LandingHandler(JupyterHandler):
        """``/``: every dashboard with its description, data as of, and the latest reports."""

        @tornado.web.authenticated
        def get(self) -> None:
            self.set_header("Cache-Control", "no-store")
            self.finish(str(landing_page()))

    class CsvHandler(JupyterHandler):
        """A table behind a published or live view, as the safe CSV the views folder holds."""

        @tornado.web.authenticated
        def get(self, relative: str) -> None:
            path = store.inside(store.views_root(), relative) if relative.endswith(".csv") else None
            if path is None:
                raise tornado.web.HTTPError(404)
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", f'attachment; filename="{path.parent.name}_{path.name}"')
            self.set_header("Cache-Control", "private, no-store")
            self.set_header("X-Content-Type-Options", "nosniff")
            self.finish(path.read_bytes())

    class ReportHandler(JupyterHandler):
        """The latest report.html (or .pdf) of a report, shown in the browser."""

        @tornado.web.authenticated
        def get(self, report: str, name: str) -> None:
            name = name or "report.html"
            if name not in REPORT_FILES or not re.fullmatch(r"[a-z0-9_]+", report):
                raise tornado.web.HTTPError(404)
            path = store.inside(settings.reports_dir(), f"{report}/latest/{name}")
            if path is None:
                raise tornado.web.HTTPError(404)
            self.set_header("Content-Type", REPORT_FILES[name])
            self.set_header("Content-Disposition", "inline")
            self.set_header("Cache-Control", "private, no-cache")
            self.set_header("X-Content-Type-Options", "nosniff")
            self.finish(path.read_bytes())

    class StaticHandler(tornado.web.RequestHandler):
        """plotly.js (from the plotly package) and the page script: public code, no data."""

        def get(self, name: str) -> None:
            path = static_file(name)
            if path is None:
                raise tornado.web.HTTPError(404)
            self.set_header("Content-Type", "application/javascript; charset=utf-8")
            self.set_header("Cache-Control", "public, max-age=86400")
            self.finish(path.read_bytes())

    class ShutdownOnLeave(VoilaShutdownKernelHandler):
        """Voilà's "the viewer left" call (sent from ``beforeunload``), which carries no XSRF
        token: with authentication on, Voilà refuses it and the kernel lingers until culled. It
        still needs authentication, and only names a kernel by its random id."""

        def check_xsrf_cookie(self) -> None:
            return None

    class TreeRedirect(tornado.web.RequestHandler):
        def get(self, *_args: Any) -> None:
            self.redirect(url_path_join(base_url, "/"))

    class CappedVoilaHandler(voila_handler):
        """Voilà's page with the precomputed view already in it (``first_paint.py``), or the
        busy page when a new kernel would exceed the cap."""

        @tornado.web.authenticated
        async def get(self, path: str | None = None) -> None:
            manager = self.kernel_manager
            notebook = self._notebook = path or ""
            manager.drop_failed_from_pools()
            manager.ready_first(notebook)
            if manager.full() and not manager.ready_in_pool(notebook):
                self.busy(manager)
                return
            first: str | None = served_first_paint(notebook, self.request.query, self.log)
            try:
                async for html in self.get_generator(path=path):
                    if first is not None and MARKER in html:
                        html, first = html.replace(MARKER, first, 1), None
                    self.write(html)
                    self.flush()
            except KernelCapReached:
                if self._headers_written:
                    raise
                self.clear()
                self.busy(manager)

        def should_use_rendered_notebook(self, *args: Any, **kwargs: Any) -> bool:
            # Only a preheated kernel that is ready. Voilà would otherwise hand out a pool place
            # still starting (a refill) and hold the viewer, and the page with its first paint,
            # until that kernel has started and run the notebook; starting one's own is sooner.
            ready = self.kernel_manager.ready_in_pool(getattr(self, "_notebook", ""))
            return ready and super().should_use_rendered_notebook(*args, **kwargs)

        def busy(self, manager: Any) -> None:
            self.set_status(503)
            self.set_header("Retry-After", str(RETRY_SECONDS))
            self.set_header("Cache-Control", "no-store")
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(str(busy_page(manager.max_kernels, RETRY_SECONDS)))

    def route(pattern: str) -> str:
        return url_path_join(base_url, pattern)

    return [
        (base_url, LandingHandler),
        (route(r"/voila/tree(/.*)?"), TreeRedirect),
        (route(r"/voila/api/shutdown/(.*)"), ShutdownOnLeave),
        (route(r"/fawkes/csv/(.+)"), CsvHandler),
        (route(r"/fawkes/reports/([a-z0-9_]+)/(report\.html|report\.pdf)?"), ReportHandler),
        (route(r"/fawkes/static/([a-z.]+\.js)"), StaticHandler),
        (route(r"/voila/render/(.*)"), CappedVoilaHandler, voila_kwargs),
    ]


def served_first_paint(notebook: str, query: str, log: Any) -> str:
    """``first_paint`` for the page handler: a failure leaves the page to the kernel, logged."""
    try:
        return first_paint(notebook, query)
    except Exception:  # noqa: BLE001 - the kernel still paints the view; the log says why this did not
        log.exception("first paint of %s failed", notebook)  # never the query: it may hold the token
        return ""


def static_file(name: str) -> Path | None:
    if name == "plotly.min.js":
        import plotly

        return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    path = STATIC_DIR / name
    return path if name == "dashboard.js" and path.is_file() else None


def landing_page() -> Any:
    """The landing page: the dashboards, how fresh their data is, and the latest reports."""
    from .. import formats

    publication = store.latest()
    as_of = None
    if publication is not None:
        zone = publication.tz
        as_of = formats.when(publication.data_as_of, zone) if publication.data_as_of else "unknown (no events)"
        refreshed = formats.when(publication.index.get("generated_at"), zone)
    reports = []
    root = settings.reports_dir()
    for latest in sorted(root.glob("*/latest")):
        if (latest / "report.html").is_file():
            run_id = latest.resolve().name
            reports.append((latest.parent.name.replace("_", " ").capitalize(), latest.parent.name, run_id))
    return render(
        "dashboard/landing.html.j2",
        style=style_tag(),
        pages=list(PAGES.values()),
        as_of=as_of,
        refreshed=refreshed if publication is not None else None,
        zone=publication.tz if publication is not None else store.configured_tz(),
        reports=reports,
    )


def busy_page(cap: int, retry: int) -> Any:
    return render("dashboard/busy.html.j2", style=style_tag(), cap=cap, retry=retry)
