"""A view nobody precomputed (a custom range, another time zone), computed for one viewer.

The dashboard kernel never imports the analytics stack: ``run_in_worker`` starts
``python -m fawkes_analytics.dashboard.live`` for the request, reads the stages it prints (shown
on the page) and kills it when the viewer presses Cancel, so the kernel stays light and the
memory of a computation is given back when it ends. At most ``FAWKES_ANALYTICS_DASHBOARD_LIVE_SLOTS``
(default 2) such workers run at once on a machine (file locks in its temporary folder, shared by
every kernel of the server: a pod's own /tmp); a request beyond that waits for a slot, saying so.

The worker runs ``compute_page``: the view goes through ``render.compute`` and
``render.write_view``, the very code the refresh publishes with, into
``<views root>/live/<hash>/``; the same request again (same data) reads the file written the
first time.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import ParameterError
from . import store
from .pages import CUSTOM, PAGES, Cancelled, Page, ViewKey

DEFAULT_SLOTS = 2
STAGE = "stage: "
DONE = "fragment: "


class LiveFailed(RuntimeError):
    """The worker failed (its output went to the server log)."""


_opened: dict[str, Any] = {}


def _source_and_catalog() -> tuple[Any, Any]:
    """The configured source and catalog, opened once per kernel."""
    from .. import catalog, sources

    if "source" not in _opened:
        _opened["source"] = sources.connect()
        _opened["catalog"] = catalog.load()
    return _opened["source"], _opened["catalog"]


def forget() -> None:
    """Reconnect next time (new data may have arrived)."""
    _opened.clear()


def compute_page(
    key: ViewKey,
    page: Page,
    *,
    stage: Callable[[str], None],
    cancelled: Callable[[], bool],
    root: Path | None = None,
) -> Path:
    """Compute ``page`` for ``key`` and return its fragment file (raises ``pages.Cancelled``)."""
    stage("Loading the analytics library")
    from .. import formats, timerange
    from . import render
    from .precompute import source_facts

    if cancelled():
        raise Cancelled
    stage("Opening the data")
    source, catalog = _source_and_catalog()
    tz = key.tz or store.configured_tz()
    if key.range == CUSTOM:
        time_range = timerange.resolve(None, start=key.start, end=key.end, tz=tz)
    else:
        time_range = timerange.resolve(key.range, tz=tz, as_of=source.default_as_of())
    folder = store.live_folder(key, page, f"{source.data_as_of()}|{source.default_as_of()}", root)
    fragment = folder / store.fragment_name(page, key.item)
    if fragment.is_file():
        return fragment
    overview = render.compute(
        source, catalog, time_range, page.areas, segment=key.segment or None, stage=stage, cancelled=cancelled
    )
    if cancelled():
        raise Cancelled
    stage("Drawing the page")
    from datetime import UTC, datetime

    facts = source_facts(source, f"Computed live {formats.when(datetime.now(UTC), tz)} from the rollup store")
    work = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    render.write_view(
        work, overview, facts, [page], segment=key.segment or None, csv_url=f"../../fawkes/csv/live/{folder.name}"
    )
    if folder.exists():  # another kernel wrote the same view meanwhile
        shutil.rmtree(work, ignore_errors=True)
    else:
        os.rename(work, folder)
    return fragment


def live_slots() -> int:
    try:
        return max(1, settings.integer("DASHBOARD_LIVE_SLOTS", DEFAULT_SLOTS))
    except ParameterError:
        return DEFAULT_SLOTS


@contextmanager
def slot(stage: Callable[[str], None], cancelled: Callable[[], bool]) -> Iterator[None]:
    """Hold one of the machine's live slots (an exclusive lock on ``<tmp>/fawkes-live-slots/N``) meanwhile."""
    folder = Path(tempfile.gettempdir()) / "fawkes-live-slots"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    waiting = False
    while True:
        for number in range(live_slots()):
            handle = open(folder / str(number), "a+")  # noqa: SIM115 - closed below
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if cancelled():
            raise Cancelled
        if not waiting:
            stage("Waiting for a free computing slot (other viewers are computing)")
            waiting = True
        time.sleep(0.3)


def run_in_worker(
    key: ViewKey,
    page: Page,
    *,
    stage: Callable[[str], None],
    cancelled: Callable[[], bool],
    root: Path | None = None,
) -> Path:
    """``compute_page`` in a child process: stages reported, killed on cancel."""
    root = Path(root or store.views_root())
    with slot(stage, cancelled):
        command = [sys.executable, "-m", "fawkes_analytics.dashboard.live", page.name, key.query(), str(root)]
        worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.__stderr__, text=True)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(worker, lines), daemon=True).start()
        fragment = None
        try:
            while True:
                if cancelled():
                    raise Cancelled
                try:
                    line = lines.get(timeout=0.1)
                except queue.Empty:
                    continue
                if line is None:
                    break
                if line.startswith(STAGE):
                    stage(line.removeprefix(STAGE))
                elif line.startswith(DONE):
                    fragment = Path(line.removeprefix(DONE))
            worker.wait()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if worker.returncode != 0 or fragment is None:
            raise LiveFailed(f"live view worker for {page.name}?{key.query()} exited with {worker.returncode}")
        return fragment


def _pump(worker: subprocess.Popen, lines: queue.Queue) -> None:
    """Hand the worker's output lines over, then None at its end."""
    assert worker.stdout is not None
    for line in worker.stdout:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def main(argv: list[str] | None = None) -> int:
    """The worker: compute one page for one query, print stages and the fragment's path."""
    parser = argparse.ArgumentParser(description="compute one dashboard view (run by a dashboard kernel)")
    parser.add_argument("page", choices=sorted(PAGES))
    parser.add_argument("query")
    parser.add_argument("root")
    args = parser.parse_args(argv)
    page = PAGES[args.page]
    key = ViewKey.from_query(args.query).for_page(page)

    def say(text: str) -> None:
        print(f"{STAGE}{text}", flush=True)

    fragment = compute_page(key, page, stage=say, cancelled=lambda: False, root=Path(args.root))
    print(f"{DONE}{fragment}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
