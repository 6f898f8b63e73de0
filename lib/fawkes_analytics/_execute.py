"""Child-process entry point of runs.py: execute one notebook with Papermill.

Usage: python -m fawkes_analytics._execute INPUT OUTPUT PARAMS_JSON CELL_TIMEOUT KERNEL CWD PARENT_PID

- It dies with its parent: a parent-death signal (SIGTERM) is set first thing, and SIGTERM
  stops the kernel and everything it started before this process exits (process.py).
- On a notebook error it writes error.json (exception name, value, cell) beside OUTPUT and
  exits 1; the partially executed notebook is kept for debugging.
- When the disk is full it exits with code 28 (ENOSPC) without a traceback; the run layer
  then removes the whole temporary folder.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from fawkes_analytics.atomic import is_disk_full
from fawkes_analytics.process import die_with_parent, kill_tree

DISK_FULL_EXIT = 28


def _on_sigterm(signum: int, _frame: object) -> None:
    kill_tree(os.getpid(), wait=2, include_root=False)
    os._exit(128 + signum)


def _write_error(output: str, error: dict) -> None:
    try:
        (Path(output).parent / "error.json").write_text(json.dumps(error), encoding="utf-8")
    except OSError:
        pass  # the disk may be full; the exit code still says the run failed


def main(argv: list[str]) -> int:
    source, output, params, cell_timeout, kernel, cwd, *parent = argv
    signal.signal(signal.SIGTERM, _on_sigterm)
    die_with_parent(signal.SIGTERM, int(parent[0]) if parent else None)

    import papermill  # imported after the signal set-up: a killed parent must not wait for it
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            source,
            output,
            parameters=json.loads(params),
            kernel_name=kernel or None,
            execution_timeout=float(cell_timeout) or None,
            progress_bar=False,
            cwd=cwd,
        )
    except PapermillExecutionError as exc:
        _write_error(output, {"ename": exc.ename, "evalue": exc.evalue, "cell": exc.exec_count})
        return 1
    except Exception as exc:  # kernel died, cell timed out, disk full, ...: record it for run.json
        if is_disk_full(exc):
            print(f"no space left on device: {exc}", file=sys.stderr)
            return DISK_FULL_EXIT
        _write_error(output, {"ename": type(exc).__name__, "evalue": str(exc), "cell": None})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
