"""Child processes that never outlive their parent, and killing a process with everything it started.

A report run is a chain of processes: the command (``run``, ``run-all``, ``schedule``), the
scheduler's attempt child, the notebook executor (``_execute``) and the Jupyter kernel. If the
command is SIGKILLed nothing in it can clean up, so each child asks the Linux kernel for a
*parent-death signal* (``prctl(PR_SET_PDEATHSIG)``) as its first act: when its parent dies it
gets SIGTERM, stops its own children and exits. The Jupyter kernel itself polls its parent
(ipykernel's ``JPY_PARENT_PID``) and exits within a second when the executor is gone.

On systems without ``prctl`` (macOS) :func:`die_with_parent` does nothing; the overall
timeouts still kill hung work, but a SIGKILLed command may leave its children behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from typing import Any

import psutil

PR_SET_PDEATHSIG = 1
TERMINATE_WAIT = 5.0


def die_with_parent(sig: int = signal.SIGTERM, parent_pid: int | None = None) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; True when it is set.

    ``parent_pid`` is the parent this process was started by: if it is already gone (it died
    between fork and this call) the signal is raised at once instead.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
    return True


def kill_tree(pid: int, wait: float = TERMINATE_WAIT, include_root: bool = True) -> None:
    """SIGTERM a process and all its descendants, SIGKILL what is left after ``wait`` seconds.

    ``wait=0`` sends SIGKILL at once (for hung work). ``include_root=False`` stops only the
    descendants (a process cleaning up after itself).
    """
    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + ([root] if include_root else [])
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


class StopOnSignal:
    """While active, SIGTERM and SIGINT set :attr:`event` instead of killing the command.

    Long operations (a report run) watch the event, stop their children and record the run
    as cancelled; the command then prints one line and exits with ``128 + signal``.
    Use in the main thread only (Python delivers signals there).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        import threading

        self.event = threading.Event()
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum
        self.event.set()

    def __enter__(self) -> StopOnSignal:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)
