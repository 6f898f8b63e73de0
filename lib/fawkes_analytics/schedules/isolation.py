"""Run one job attempt: a report in a child process with a hard deadline (or inline), or a command.

The run layer enforces the report's own timeout by killing its kernel. This module is the
safety net around it: an attempt runs in a spawned child process (its own session), and if
it outlives ``hard_deadline`` seconds, or the scheduler is told to stop and the grace period
is over, the whole process tree (child, papermill, kernel) gets SIGTERM, then SIGKILL.
Children die with the scheduler even when it is SIGKILLed (parent-death signal, process.py):
the report child stops its kernel and records its run as cancelled.

A command job (``fawkes-analytics <command> [args]``) runs as a subprocess with its output in
a log file beside its record, under the same timeout and stop rules.
"""

from __future__ import annotations

import dataclasses
import inspect
import multiprocessing
import os
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import DiskFull, ParameterError, RunTimeout
from ..process import TERMINATE_WAIT, die_with_parent
from ..process import kill_tree as _kill_tree
from ..records import Record
from ..settings import PARENT_PID_ENV
from ..sources.base import redact_text

STOP_WAIT = 20.0
LOG_TAIL_CHARS = 2000


def normalise(record: Any) -> dict:
    """A RunRecord (dataclass, object or mapping) as a JSON-ready dict with the contract's keys."""
    if isinstance(record, Record):
        data = record.to_dict()
    elif dataclasses.is_dataclass(record) and not isinstance(record, type):
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
        return {"status": "failed", "error": redact_text(f"ParameterError: {exc}"), "retryable": False}
    except RunTimeout as exc:
        return {"status": "timed_out", "error": f"RunTimeout: {exc}", "retryable": True, "run_dir": exc.run_dir}
    except DiskFull as exc:
        return {"status": "failed", "error": redact_text(f"DiskFull: {exc}"), "retryable": True}
    except Exception as exc:  # the runner's own failure: recorded, owners told, maybe retried
        tail = redact_text("".join(traceback.format_exception_only(type(exc), exc)).strip())
        return {"status": "failed", "error": tail, "retryable": True, "run_dir": getattr(exc, "run_dir", None)}


def _child(conn, runner, report, parameters, kwargs) -> None:  # pragma: no cover - runs in the child
    # SIGTERM asks the run layer to stop cleanly (it kills its kernel and records 'cancelled');
    # the scheduler dying (even by SIGKILL) sends SIGTERM too.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    parent = multiprocessing.parent_process()
    die_with_parent(signal.SIGTERM, parent.pid if parent is not None else None)
    result = call_runner(runner, report, parameters, kwargs, stop)
    try:
        conn.send(result)
        conn.close()
    except OSError:
        pass  # the scheduler is gone; the run record says what happened


def kill_tree(pid: int | None, wait: float = TERMINATE_WAIT) -> None:
    """SIGTERM a process and all its descendants, SIGKILL what is left after ``wait`` seconds
    (nothing when the process never started: ``pid`` None)."""
    if pid is not None:
        _kill_tree(pid, wait)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _log_tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return redact_text(text[-LOG_TAIL_CHARS:])


def run_command(argv: Sequence[str], *, timeout: float | None, interrupt: threading.Event, log_path: Path) -> dict:
    """Run a command job to completion, timeout or stop; its output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started, started_at = time.monotonic(), _now()
    env = {**os.environ, PARENT_PID_ENV: str(os.getpid())}
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
        status, error = None, None
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if timeout is not None and elapsed > timeout:
                kill_tree(process.pid, wait=0)
                status, error = "timed_out", f"command exceeded its timeout of {timeout:g} s and was killed"
            elif interrupt.is_set():
                kill_tree(process.pid)
                status, error = "interrupted", f"stopped by scheduler shutdown after {elapsed:.1f} s"
            if status:
                process.wait(timeout=10)
                break
            time.sleep(0.1)
    if status is None:
        if process.returncode == 0:
            status = "succeeded"
        else:
            status = "failed"
            tail = _log_tail(log_path).splitlines()[-3:]
            error = f"command exited with code {process.returncode}" + (f": {' / '.join(tail)}" if tail else "")
    return {
        "status": status,
        "error": error,
        "retryable": status in ("failed", "timed_out"),
        "run_dir": None,
        "log": str(log_path),
        "command": " ".join(["fawkes-analytics", *argv[3:]]),
        "started_at": started_at,
        "finished_at": _now(),
        "duration_seconds": round(time.monotonic() - started, 3),
    }


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
