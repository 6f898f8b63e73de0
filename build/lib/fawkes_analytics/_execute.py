"""Child-process entry point of runs.py: execute one notebook with Papermill.

Usage: python -m fawkes_analytics._execute INPUT OUTPUT PARAMS_JSON CELL_TIMEOUT KERNEL CWD
On a notebook error it writes error.json (exception name, value, cell) beside OUTPUT and
exits 1; the partially executed notebook is kept for debugging.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import papermill
from papermill.exceptions import PapermillExecutionError


def main(argv: list[str]) -> int:
    source, output, params, cell_timeout, kernel, cwd = argv
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
        error = {"ename": exc.ename, "evalue": exc.evalue, "cell": exc.exec_count}
        (Path(output).parent / "error.json").write_text(json.dumps(error), encoding="utf-8")
        return 1
    except Exception as exc:  # kernel died, cell timed out, ...: record it for run.json
        error = {"ename": type(exc).__name__, "evalue": str(exc), "cell": None}
        (Path(output).parent / "error.json").write_text(json.dumps(error), encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
