"""Run one report attempt, in a child process with a hard deadline, or inline.

The run layer enforces the report's own timeout by killing its kernel. This module is the
safety net around it: an attempt runs in a spawned child process (its own session), and if
it outlives ``hard_deadline`` seconds, or the scheduler is told to stop and the grace period
is over, the whole process tree (child, papermill, kernel) gets SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import dataclasses
import inspect
import multiprocessing
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from ..errors import ParameterError, RunTimeout

TERMINATE_WAIT = 5.0
STOP_WAIT = 20.0


def normalise(record: Any) -> dict:
    """A RunRecord (dataclass, object or mapping) as a JSON-ready dict with the contract's keys."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        data = dataclasses.asdict(record)
    elif isinstance(record, dict):
        data = dict(record)
    else:
        data = {
            k: getattr(record, k) for k in dir(record) if not k.startswith("_") and not callable(getattr(record, k))
        }
    out = {}
    for key, value in data.items():
        if isinstance(value, Path):
            value = str(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    out.setdefault("status", "failed")
    return out


def accepts_stop(runner: Callable[..., Any]) -> bool:
    """Whether the runner takes ``stop=`` (a threading.Event asking it to interrupt cleanly)."""
    try:
        params = inspect.signature(runner).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "stop" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def call_runner(
    runner: Callable[..., Any], report: str, parameters: dict, kwargs: dict, stop: threading.Event | None = None
) -> dict:
    """Call the runner and turn its record or exception into an attempt dict."""
    if stop is not None and accepts_stop(runner):
        kwargs = {**kwargs, "stop": stop}
    try:
        return {**normalise(runner(report, parameters, **kwargs)), "retryable": True}
    except ParameterError as exc:
        return {"status": "failed", "error": f"ParameterError: {exc}", "retryable": False}
    except RunTimeout as exc:
        return {"status": "timed_out", "error": f"RunTimeout: {exc}", "retryable": True, "run_dir": exc.run_dir}
    except Exception as exc:  # the runner's own failure: recorded, owners told, maybe retried
        tail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"status": "failed", "error": tail, "retryable": True, "run_dir": getattr(exc, "run_dir", None)}


def _child(conn, runner, report, parameters, kwargs) -> None:  # pragma: no cover - runs in the child
    # SIGTERM asks the run layer to stop cleanly (it kills its kernel and records 'interrupted').
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    conn.send(call_runner(runner, report, parameters, kwargs, stop))
    conn.close()


def kill_tree(pid: int, wait: float = TERMINATE_WAIT) -> None:
    """SIGTERM a process and all its descendants, SIGKILL what is left after ``wait`` seconds."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    if wait > 0:
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=wait)
    else:
        alive = procs
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=TERMINATE_WAIT)


def run_in_process(
    runner: Callable[..., Any],
    report: str,
    parameters: dict,
    kwargs: dict,
    *,
    hard_deadline: float | None,
    interrupt: threading.Event,
) -> dict:
    """Run one attempt in a spawned child; kill it at ``hard_deadline`` s or when ``interrupt`` is set."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child, args=(child, runner, report, parameters, kwargs), name=f"fawkes-run-{report}", daemon=False
    )
    started = time.monotonic()
    proc.start()
    child.close()
    try:
        while True:
            if parent.poll(0.1):
                try:
                    result = parent.recv()
                except EOFError:
                    result = None
                proc.join(10)
                if result is not None:
                    return result
                return {
                    "status": "failed",
                    "error": f"runner process exited with code {proc.exitcode} without a result",
                    "retryable": True,
                }
            if not proc.is_alive():
                if parent.poll(0):
                    continue
                return {
                    "status": "failed",
                    "error": f"runner process exited with code {proc.exitcode} without a result",
                    "retryable": True,
                }
            elapsed = time.monotonic() - started
            if hard_deadline is not None and elapsed > hard_deadline:
                kill_tree(proc.pid, wait=0)  # hung: SIGKILL the whole tree at once
                proc.join(5)
                return {
                    "status": "timed_out",
                    "error": f"killed by the scheduler after {elapsed:.1f} s (hard deadline {hard_deadline:g} s)",
                    "retryable": True,
                }
            if interrupt.is_set():
                proc.terminate()  # SIGTERM to the child only: the run layer stops and records it
                if parent.poll(STOP_WAIT):
                    try:
                        result = parent.recv()
                        proc.join(5)
                        return {**result, "retryable": False}
                    except EOFError:
                        pass
                kill_tree(proc.pid)
                proc.join(5)
                return {
                    "status": "interrupted",
                    "error": f"stopped by scheduler shutdown after {elapsed:.1f} s",
                    "retryable": False,
                }
    finally:
        parent.close()
        if proc.is_alive():
            kill_tree(proc.pid)
