"""A dashboard page in a Voilà kernel: first paint from a published file, live work on demand.

A dashboard notebook is two lines::

    from fawkes_analytics.dashboard import show
    show("overview")

First paint reads the query string (``?range=30d&segment=power&tz=...``), then the fragment of
that view from the latest publication (``store.py``): one file read, with ipywidgets and the
standard library only; the analytics stack is not imported. Switching to another precomputed
view reads another file. A view nobody precomputed (a custom range, another time zone, or
"Recompute") runs ``live.compute_page`` in a worker thread, which imports the analytics stack
then; the page shows each stage and a Cancel button meanwhile. The current view is written
into the page (``.fwk-state``) and the page script puts it in the address bar, so a view can
be shared by its URL. Every callback is guarded: a failure shows a friendly sentence, the
traceback goes to the server's log.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from .. import settings
from ..templates import render, style_tag
from . import store
from .first_paint import navigation
from .pages import ALL_USERS, CUSTOM, NAMED_RANGES, PAGES, Cancelled, ViewKey

DEFAULT_POLL_SECONDS = 30.0
ZONES = ("UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo")
EVERYONE = "All users"

log = logging.getLogger("fawkes_analytics.dashboard")
if not log.handlers:  # the kernel's sys.stderr goes to the page; __stderr__ is the server log
    _handler = logging.StreamHandler(sys.__stderr__)
    _handler.setFormatter(logging.Formatter("[%(levelname)s %(asctime)s fawkes dashboard] %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False

FRIENDLY = (
    "This view could not be computed right now. The details were logged on the server; "
    "please try again later or tell the analytics team."
)


def poll_seconds() -> float:
    """How often an open page looks for a newer publication (``..._DASHBOARD_POLL_SECONDS``; 0: never)."""
    raw = settings.get("DASHBOARD_POLL_SECONDS")
    try:
        return max(float(raw), 0.0) if raw else DEFAULT_POLL_SECONDS
    except ValueError:
        log.warning("FAWKES_ANALYTICS_DASHBOARD_POLL_SECONDS=%r is not a number; using %s s", raw, DEFAULT_POLL_SECONDS)
        return DEFAULT_POLL_SECONDS


def request_query() -> str:
    """The page's query string (a preheated kernel waits for its viewer's request here); the
    token a viewer may have put in the URL never stays in the kernel's environment."""
    url = settings.voila_request_url()
    return settings.take_request_query(wait_for_request(url) if url else None)


def wait_for_request(url: str, timeout: float = 5.0) -> dict[str, str] | None:
    """A preheated kernel waits here for its viewer: Voilà sends the request's details (query
    string, URL) over a websocket when it hands the kernel out. None if nothing came.

    What ``voila.utils.wait_for_request`` does, without importing Voilà, whose package loads
    Jupyter's whole server stack (measured: 3.4 CPU-seconds per preheated kernel, in a rush).
    A thread with its own event loop: the kernel's loop is busy running this cell.
    """
    import json

    from tornado.websocket import websocket_connect

    received: list[str] = []

    async def receive() -> None:
        connection = await websocket_connect(url, connect_timeout=timeout)
        try:
            message = await connection.read_message()
        finally:
            connection.close()
        if isinstance(message, str):
            received.append(message)

    def run() -> None:
        try:
            asyncio.run(receive())
        except Exception:  # noqa: BLE001 - logged; the page then shows the default view
            log.exception("dashboard: the request of this preheated kernel did not arrive")

    waiter = threading.Thread(target=run, name="fawkes-wait-for-request", daemon=True)
    waiter.start()
    waiter.join()
    return {str(k): str(v) for k, v in json.loads(received[0]).items()} if received else None


class DashboardPage:
    """One dashboard page for one viewer: build it and display ``.widget``."""

    def __init__(
        self,
        name: str = "overview",
        *,
        query: str | None = None,
        root: Path | None = None,
        poll: float | None = None,
        compute: Callable[..., Path] | None = None,
    ) -> None:
        if name not in PAGES:
            raise ValueError(f"unknown dashboard page {name!r}; known: {', '.join(PAGES)}")
        self.page = PAGES[name]
        self.root = Path(root or store.views_root())
        self.poll_interval = poll_seconds() if poll is None else poll
        self._compute = compute
        self.publication = store.latest(self.root)
        self.key = ViewKey.from_query(query).for_page(self.page)
        self.shown_key: ViewKey | None = None
        self.origin = ""  # "precomputed" or "live": where the numbers on screen come from
        self._quiet = False
        self._worker: threading.Thread | None = None
        self._cancel = threading.Event()
        self._poller: Any = None

        self.nav = widgets.HTML()
        self.range = widgets.ToggleButtons(
            options=[*[(r, r) for r in NAMED_RANGES], ("Custom", CUSTOM)],
            description="Range",
            style={"button_width": "68px"},
        )
        self.start = widgets.DatePicker(description="From")
        self.end = widgets.DatePicker(description="To (excl.)")
        self.apply = widgets.Button(description="Show range", layout=widgets.Layout(width="auto"))
        self.custom = widgets.HBox([self.start, self.end, self.apply], layout=widgets.Layout(display="none"))
        self.segment = widgets.Dropdown(description="Segment", layout=widgets.Layout(width="auto"))
        self.item = widgets.Dropdown(description=self.page.item_area[:-1].capitalize() or "Item")
        self.tz = widgets.Dropdown(description="Time zone", layout=widgets.Layout(width="auto"))
        self.recompute = widgets.Button(
            description="Recompute",
            tooltip="Compute this view now from the rollup store",
            layout=widgets.Layout(width="auto"),
        )
        self.cancel = widgets.Button(
            description="Cancel", button_style="warning", layout=widgets.Layout(display="none", width="auto")
        )
        self.status = widgets.HTML()
        self.content = widgets.HTML()
        wanted = [self.range if "range" in self.page.controls else None]
        wanted += [self.segment if "segment" in self.page.controls else None]
        wanted += [self.item if "item" in self.page.controls else None, self.tz, self.recompute, self.cancel]
        self.controls = widgets.HBox(
            [w for w in wanted if w is not None], layout=widgets.Layout(flex_flow="row wrap", align_items="center")
        )
        self.widget = widgets.VBox([self.nav, self.controls, self.custom, self.status, self.content])
        self.widget.add_class("fwk-dashboard")

        for control in (self.range, self.segment, self.item, self.tz):
            control.observe(self._guarded(self._on_control), names="value")
        self.apply.on_click(self._guarded(lambda _b: self._on_control(None)))
        self.recompute.on_click(self._guarded(lambda _b: self.show(self.key, live=True)))
        self.cancel.on_click(self._guarded(lambda _b: self._cancel.set()))
        self._guarded(self._first_paint)()

    # --- guards ---------------------------------------------------------------------------
    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the viewer sees a sentence, the log the traceback
                log.exception("dashboard %s failed", self.page.name)
                self._busy(False)
                self.status.value = box("error", FRIENDLY)
                return None

        return run

    # --- painting ------------------------------------------------------------------------
    def _first_paint(self) -> None:
        self._set_options()
        self.show(self.key)

    def _set_options(self) -> None:
        """Controls from the publication's index and the current key (no analytics stack)."""
        publication = self.publication
        configured = publication.tz if publication else store.configured_tz()
        with self._silenced():
            segments = publication.segments if publication else []
            self.segment.options = [(EVERYONE, ALL_USERS), *[(s.replace("_", " ").capitalize(), s) for s in segments]]
            if self.key.segment and self.key.segment not in segments:
                self.segment.options = [*self.segment.options, (self.key.segment, self.key.segment)]
            self.segment.value = self.key.segment
            zones = [configured, *[z for z in ZONES if z != configured]]
            if self.key.tz and self.key.tz not in zones:
                zones.append(self.key.tz)
            self.tz.options = [(f"{z} (precomputed)" if z == configured else z, z) for z in zones]
            self.tz.value = self.key.tz or configured
            if self.page.item_area:
                items = publication.items(self.page.item_area) if publication else []
                self.item.options = [(title, name) for name, title in items] or [("(first)", "")]
                names = [name for name, _ in items]
                self.item.value = self.key.item if self.key.item in names else (names[0] if names else "")
            self.range.value = self.key.range
            self._show_custom(self.key.range == CUSTOM)
            if self.key.range == CUSTOM:
                from datetime import date

                self.start.value, self.end.value = date.fromisoformat(self.key.start), date.fromisoformat(self.key.end)

    def _silenced(self) -> Any:
        page = self

        class Silenced:
            def __enter__(self) -> None:
                page._quiet = True

            def __exit__(self, *exc: object) -> None:
                page._quiet = False

        return Silenced()

    def _show_custom(self, shown: bool) -> None:
        self.custom.layout.display = "" if shown else "none"

    def _on_control(self, _change: Any) -> None:
        if self._quiet:
            return
        chosen = self.range.value
        self._show_custom(chosen == CUSTOM)
        if chosen == CUSTOM and _change is not None and _change.get("owner") is self.range:
            self.status.value = box("infobox", "Pick the first day and the day after the last, then press Show range.")
            return
        key = replace(self.key, segment=self.segment.value or ALL_USERS, item=self.item.value or "")
        configured = self.publication.tz if self.publication else store.configured_tz()
        key = replace(key, tz="" if self.tz.value == configured else self.tz.value)
        if chosen == CUSTOM:
            if not (self.start.value and self.end.value) or self.start.value >= self.end.value:
                self.status.value = box("infobox", "Pick a start day and an end day after it, then press Show range.")
                return
            key = replace(key, range=CUSTOM, start=self.start.value.isoformat(), end=self.end.value.isoformat())
        else:
            key = replace(key, range=chosen, start="", end="")
        self.show(key.for_page(self.page))

    def show(self, key: ViewKey, live: bool = False) -> None:
        """Show ``key``: the precomputed fragment when there is one (and ``live`` is off), else compute it."""
        self.key = key
        fragment = None if live or self.publication is None else self.publication.fragment(key, self.page)
        if fragment is not None:
            self._paint(fragment.read_text(encoding="utf-8"), key, "precomputed")
            self.status.value = ""
            return
        if self.publication is None and not live and self.shown_key is None:
            self._paint("", key, "none")
            self.status.value = box(
                "infobox",
                "No dashboard views have been published yet: they appear after the next refresh of the data "
                "(every 5 minutes). Press Recompute to compute this view now.",
            )
            return
        self._start_live(key)

    def _paint(self, fragment: str, key: ViewKey, origin: str) -> None:
        self.origin = origin
        self.shown_key = key
        self.nav.value = str(navigation(self.page.name, key, origin))
        self.content.value = fragment

    # --- live work -----------------------------------------------------------------------
    def _start_live(self, key: ViewKey) -> None:
        if self._worker is not None and self._worker.is_alive():
            self._cancel.set()
            self._worker.join(timeout=30)
        self._cancel = threading.Event()
        cancel = self._cancel
        self._busy(True)
        self._stage("Starting")

        def work() -> None:
            try:
                compute = self._compute or _live_compute
                fragment = compute(key, self.page, stage=self._stage, cancelled=cancel.is_set, root=self.root)
                if cancel.is_set():
                    raise Cancelled
                self._paint(fragment.read_text(encoding="utf-8"), key, "live")
                self.status.value = ""
            except Cancelled:
                self._restore()
                self.status.value = box("infobox", "Cancelled: still showing the previous view.")
            except Exception:  # noqa: BLE001 - shown as a sentence, logged whole
                log.exception("dashboard %s: live view %s failed", self.page.name, key.query())
                self.status.value = box("error", FRIENDLY)
            finally:
                self._busy(False)

        self._worker = threading.Thread(target=work, name=f"fawkes-live-{self.page.name}", daemon=True)
        self._worker.start()

    def _stage(self, text: str) -> None:
        self.status.value = str(render("dashboard/stage.html.j2", stage=text, style=style_tag()))

    def _busy(self, busy: bool) -> None:
        self.cancel.layout.display = "" if busy else "none"
        for control in (self.recompute, self.apply):
            control.disabled = busy

    def _restore(self) -> None:
        """Put the controls back on the view still shown (after a cancel)."""
        if self.shown_key is not None:
            self.key = self.shown_key
            self._set_options()

    def wait(self, timeout: float = 120.0) -> None:
        """Wait for a live computation to end (tests)."""
        if self._worker is not None:
            self._worker.join(timeout)

    # --- new publications ----------------------------------------------------------------
    def check_for_new_views(self) -> bool:
        """One poll: adopt a newer publication; repaint when a precomputed view is on screen."""
        current = store.latest_id(self.root)
        if current is None or (self.publication is not None and current == self.publication.id):
            return False
        self.publication = store.latest(self.root)
        log.info("dashboard %s: new views %s", self.page.name, current)
        if self.origin in ("precomputed", "none") and not (self._worker and self._worker.is_alive()):
            self._set_options()
            self.show(self.key)
        return True

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            self._guarded(self.check_for_new_views)()

    def start_polling(self) -> None:
        """Poll on the kernel's event loop (ipykernel runs cells inside it)."""
        if self.poll_interval <= 0 or self._poller is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._poller = loop.create_task(self._poll_forever())

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _live_compute(*args: Any, **kwargs: Any) -> Path:
    from .live import run_in_worker  # a child process loads the analytics stack, not this kernel

    return run_in_worker(*args, **kwargs)


def box(kind: str, text: str) -> str:
    """A status line (infobox or error) with the stylesheet."""
    return str(render("dashboard/status.html.j2", kind=kind, text=text, style=style_tag()))


def show(page: str = "overview", **kwargs: Any) -> DashboardPage:
    """What a dashboard notebook calls: read the request, build the page, poll for new views."""
    import time

    started = time.perf_counter()
    if "query" not in kwargs:
        kwargs["query"] = request_query()
    asked = time.perf_counter()
    dashboard = DashboardPage(page, **kwargs)
    dashboard.start_polling()
    log.info(
        "dashboard %s: %s view painted in %.2f s (request info after %.2f s)",
        page,
        dashboard.origin,
        time.perf_counter() - asked,
        asked - started,
    )
    return dashboard
