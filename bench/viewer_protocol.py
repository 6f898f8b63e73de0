"""A dashboard viewer without a browser: what the server and a kernel do for one page view.

A viewer's browser asks the server for two things before the widgets show (Voilà 0.5 with
ipywidgets 8, read from Voilà's page script and widget manager):

1. the page: ``GET /voila/render/<notebook>`` streamed to its end. The server puts the
   precomputed view in it first (the first paint), then the notebook's cells once the
   kernel has run them (the kernel's widgets with the viewer's view);
2. the widgets' state, over the kernel's websocket (``/api/kernels/<id>/channels``): a
   ``kernel_info_request`` (Jupyter's kernel connection sends it on connecting), then a comm
   to ``jupyter.widget.control`` with ``request_states``, answered by ``update_states`` with
   every widget's state (Voilà's widget manager, ``_loadFromKernel``). The page then draws
   the widgets from that state: browser work only.

``view`` does both, like a browser and with the same messages, and reports when each was
delivered; it checks that the widgets' state holds the view (the view's state element and its
header), so a kernel that sent nothing useful is a failure. The page's static files (Voilà's
bundles, plotly.js) are not fetched: browsers keep them (long-lived cache headers, and the
server only reads them from disk). A busy page (HTTP 503) is retried after its Retry-After,
as the busy page does by itself. Then the viewer reads for ``read_seconds`` and leaves the
way Voilà's page does (``POST /voila/api/shutdown/<kernel>``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

CONFIG = re.compile(r'<script id="jupyter-config-data" type="application/json">\s*(\{.*?\})\s*</script>', re.S)
KPI_MARKUP = 'class="fwk-value"'
WIDGET_VIEW_MARKS = ('class="fwk-state"', "fwk-header")  # what the browser's working-page check looks for


@dataclass
class ViewerTimes:
    """Seconds from the first request: the first KPI's markup received, the page received whole
    (the kernel ran), the widgets' state received (the page could draw its widgets now)."""

    first_kpi: float | None = None
    page: float | None = None
    widgets: float | None = None
    met_busy: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def message(msg_type: str, content: dict[str, Any], session: str, channel: str = "shell") -> dict[str, Any]:
    """A Jupyter message in the websocket's JSON form (no binary buffers needed here)."""
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "viewer",
            "session": session,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


async def fetch_page(client: httpx.AsyncClient, url: str, started: float, times: ViewerTimes) -> str:
    """The page, streamed to its end; retried after Retry-After while the server is busy."""
    while True:
        async with client.stream("GET", url) as response:
            if response.status_code == 503:
                times.met_busy = True
                await response.aread()
                await asyncio.sleep(float(response.headers.get("Retry-After", "3")))
                continue
            response.raise_for_status()
            parts = []
            async for text in response.aiter_text():
                parts.append(text)
                if times.first_kpi is None and KPI_MARKUP in text:
                    times.first_kpi = time.perf_counter() - started
            times.page = time.perf_counter() - started
            return "".join(parts)


async def widget_states(ws_url: str, timeout: float) -> dict[str, Any]:
    """kernel_info, then the widget control comm's ``request_states``: the widgets' states."""
    from tornado.websocket import websocket_connect

    session = uuid.uuid4().hex
    connection = await asyncio.wait_for(websocket_connect(f"{ws_url}?session_id={session}"), timeout)
    try:
        info = message("kernel_info_request", {}, session)
        await connection.write_message(json.dumps(info))
        await _reply(connection, info["header"]["msg_id"], "kernel_info_reply", timeout)
        comm_id = uuid.uuid4().hex
        opened = message(
            "comm_open", {"comm_id": comm_id, "target_name": "jupyter.widget.control", "data": {}}, session
        )
        opened["metadata"] = {"version": "1.0.0"}
        await connection.write_message(json.dumps(opened))
        request = message("comm_msg", {"comm_id": comm_id, "data": {"method": "request_states"}}, session)
        await connection.write_message(json.dumps(request))
        reply = await _reply(connection, request["header"]["msg_id"], "comm_msg", timeout)
        await connection.write_message(json.dumps(message("comm_close", {"comm_id": comm_id, "data": {}}, session)))
        return reply["content"]["data"]
    finally:
        connection.close()


async def _reply(connection: Any, parent: str, msg_type: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {msg_type} from the kernel within {timeout:.0f} s")
        raw = await asyncio.wait_for(connection.read_message(), left)
        if raw is None:
            raise ConnectionError("the kernel's websocket closed")
        if isinstance(raw, bytes):
            continue  # a binary frame (buffers): not one of the replies awaited here
        reply = json.loads(raw)
        if reply.get("parent_header", {}).get("msg_id") == parent and reply["header"]["msg_type"] == msg_type:
            return reply


def shows_the_view(states: dict[str, Any]) -> bool:
    """True when a widget (an HTML widget's value) holds the view's state and header."""
    values = [str(s.get("state", {}).get("value", "")) for s in states.get("states", {}).values()]
    return all(any(mark in value for value in values) for mark in WIDGET_VIEW_MARKS)


async def view(base_url: str, page_url: str, *, read_seconds: float = 2.0, timeout: float = 180.0) -> ViewerTimes:
    """One viewer opening ``page_url``: the page, the widgets' state, a moment of reading, leaving."""
    times = ViewerTimes()
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            html = await fetch_page(client, page_url, started, times)
            found = CONFIG.search(html)
            if found is None:
                raise RuntimeError("the page has no kernel (no jupyter-config-data)")
            kernel = json.loads(found.group(1))["kernelId"]
            ws_url = base_url.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels"
            states = await widget_states(ws_url, timeout)
            if not shows_the_view(states):
                raise RuntimeError("the widgets' state holds no view")
            times.widgets = time.perf_counter() - started
            await asyncio.sleep(read_seconds)
            await client.post(f"{base_url}/voila/api/shutdown/{kernel}")
    except Exception as exc:  # noqa: BLE001 - reported per viewer, counted as a failure
        times.error = f"{type(exc).__name__}: {exc}"
    return times


def crowd(base_url: str, page_url: str, viewers: int) -> list[ViewerTimes]:
    """``viewers`` protocol viewers started at the same moment."""

    async def run() -> list[ViewerTimes]:
        return await asyncio.gather(*(view(base_url, page_url) for _ in range(viewers)))

    return asyncio.run(run())
