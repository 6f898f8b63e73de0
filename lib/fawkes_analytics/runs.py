"""Execute a report notebook with Papermill into a run folder and publish it.

One run, as a recipe: check the parameters (before any kernel starts), execute the notebook
in a child process under an overall timeout, render the code-free HTML (and PDF), write
``run.json``, rename the temporary folder into place, and point ``latest`` at it when it
succeeded. A failed run keeps its executed notebook and error for debugging and never
replaces ``latest``; nothing half-written is ever visible under a run id.

The notebook runs in a child process (``fawkes_analytics._execute``) so that a hung kernel
can be killed together with everything it started, without touching the caller.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from . import __version__
from . import parameters as parameter_checks
from .errors import ParameterError
from .export.json import write_json
from .report import RUN_DIR_ENV
from .results import Result
from .sources import ENV_VAR as SOURCE_ENV
from .sources.base import redact_text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR_ENV = "FAWKES_ANALYTICS_REPORTS_DIR"
NOTEBOOKS_DIR_ENV = "FAWKES_ANALYTICS_NOTEBOOKS_DIR"
OUTPUTS = ("html", "pdf", "csv", "json")
LATEST = "latest"


@dataclass
class RunRecord(Result):
    """What run.json says about one run."""

    report: str
    run_id: str
    run_dir: str
    status: str  # running | succeeded | failed | timed_out | interrupted
    started_at: str
    finished_at: str | None = None
    duration_seconds: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    outputs: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    data_range: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    delivery: list[dict[str, Any]] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return Path(self.run_dir)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


def default_reports_dir() -> Path:
    """Where run folders go: ``FAWKES_ANALYTICS_REPORTS_DIR`` or the project's reports/."""
    return Path(os.environ.get(REPORTS_DIR_ENV) or PROJECT_ROOT / "reports")


def notebooks_dir() -> Path:
    return Path(os.environ.get(NOTEBOOKS_DIR_ENV) or NOTEBOOKS_DIR)


def available_reports(directory: Path | None = None) -> list[str]:
    """Report names: the notebooks in notebooks/ (dashboards are served, not run)."""
    return sorted(p.stem for p in (directory or notebooks_dir()).glob("*.ipynb"))


def notebook_path(report: str, directory: Path | None = None) -> Path:
    directory = directory or notebooks_dir()
    path = directory / f"{report}.ipynb"
    if not path.exists():
        raise ParameterError("report", f"unknown report {report!r}", available_reports(directory))
    return path


def _versions() -> dict[str, str]:
    import duckdb
    import ibis
    import pandas
    import papermill

    return {
        "python": platform.python_version(),
        "fawkes_analytics": __version__,
        "ibis": ibis.__version__,
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "papermill": papermill.__version__,
    }


def _new_run_id(base: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = stamp, 1
    while (base / run_id).exists() or (base / f".tmp-{run_id}").exists():
        n += 1
        run_id = f"{stamp}-{n}"
    return run_id


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill the child and everything it started (the kernel runs in its own session)."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for member in [*family, psutil.Process(process.pid)] if process.poll() is None else family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=5)
    process.wait(timeout=10)


def _execute(
    notebook: Path,
    output: Path,
    params: dict[str, Any],
    env: dict[str, str],
    timeout: float | None,
    cell_timeout: float | None,
    kernel_name: str | None,
    log_path: Path,
    stop: threading.Event | None,
) -> tuple[str, str | None]:
    """Run the notebook in a child process; return (status, error)."""
    command = [
        sys.executable,
        "-m",
        "fawkes_analytics._execute",
        str(notebook),
        str(output),
        json.dumps(params),
        str(cell_timeout or 0),
        kernel_name or "",
        str(notebook.parent),
    ]
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout if timeout else None
        while process.poll() is None:
            if deadline and time.monotonic() > deadline:
                _kill_tree(process)
                return "timed_out", f"run exceeded its timeout of {timeout:g} s; the kernel was killed"
            if stop is not None and stop.is_set():
                _kill_tree(process)
                return "interrupted", "run interrupted by shutdown"
            time.sleep(0.1)
    if process.returncode == 0:
        return "succeeded", None
    error_file = output.parent / "error.json"
    if error_file.exists():
        error = json.loads(error_file.read_text(encoding="utf-8"))
        return "failed", f"{error.get('ename')}: {error.get('evalue')}"
    return "failed", f"notebook runner exited with code {process.returncode}; see run.log"


def _update_latest(base: Path, run_id: str) -> None:
    """Point ``latest`` at ``run_id`` atomically (a symlink swapped with a rename)."""
    link = base / LATEST
    temporary = base / f".{LATEST}-{run_id}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_id, target_is_directory=True)
    os.replace(temporary, link)


def _execute_and_render(
    report: str,
    notebook: Path,
    work: Path,
    params: dict[str, Any],
    record: RunRecord,
    outputs: tuple[str, ...] | list[str],
    source_url: str | None,
    timeout: float | None,
    cell_timeout: float | None,
    kernel_name: str | None,
    stop: threading.Event | None,
) -> tuple[str, str | None, dict[str, Any]]:
    """Execute the notebook into ``work`` and render what ``outputs`` asks; (status, error, data.json)."""
    env = dict(os.environ, **{RUN_DIR_ENV: str(work)})
    if source_url:
        env[SOURCE_ENV] = source_url
    clock = time.monotonic()
    status, error = _execute(
        notebook, work / "notebook.ipynb", params, env, timeout, cell_timeout, kernel_name, work / "run.log", stop
    )
    record.durations["execute"] = round(time.monotonic() - clock, 3)
    data_file = work / "data.json"
    data = json.loads(data_file.read_text(encoding="utf-8")) if data_file.exists() else {}
    if status != "succeeded":
        return status, error, data

    from . import render  # nbconvert is slow to import; only a finished run needs it

    clock = time.monotonic()
    try:
        title = data.get("title") or report.replace("_", " ").title()
        if "html" in outputs or "pdf" in outputs:
            render.render_html(work / "notebook.ipynb", work / "report.html", title)
        if "pdf" in outputs:
            render.render_pdf(work / "report.html", work / "report.pdf")
        if "html" not in outputs:
            (work / "report.html").unlink(missing_ok=True)
        if "csv" not in outputs:
            for csv_file in work.glob("*.csv"):
                csv_file.unlink()
    except Exception as exc:  # rendering problems fail the run, they never publish half a report
        status, error = "failed", f"rendering failed: {exc}"
    record.durations["render"] = round(time.monotonic() - clock, 3)
    return status, error, data


def run_report(
    report: str,
    parameters: dict[str, Any] | None = None,
    *,
    reports_dir: Path | None = None,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    outputs: tuple[str, ...] | list[str] = ("html", "csv", "json"),
    kernel_name: str | None = None,
    source_url: str | None = None,
    notebooks: Path | None = None,
    stop: threading.Event | None = None,
) -> RunRecord:
    """Run ``report`` into a new run folder and return its record.

    Bad parameters raise ``ParameterError`` before anything starts; a failing or hung
    notebook gives a record with status ``failed`` or ``timed_out`` (never an exception).
    """
    unknown = [o for o in outputs if o not in OUTPUTS]
    if unknown:
        raise ParameterError("outputs", f"unknown output {unknown[0]!r}", list(OUTPUTS))
    notebook = notebook_path(report, notebooks)
    params = parameter_checks.resolve(notebook, parameters)
    base = Path(reports_dir or default_reports_dir()) / report
    base.mkdir(parents=True, exist_ok=True)
    run_id = _new_run_id(base)
    work = base / f".tmp-{run_id}"
    work.mkdir()
    started = datetime.now(timezone.utc)
    record = RunRecord(
        report, run_id, str(base / run_id), "running", started.isoformat(), parameters=params, versions=_versions()
    )
    write_json(record, work / "run.json")

    data: dict[str, Any] = {}
    try:
        status, error, data = _execute_and_render(
            report, notebook, work, params, record, outputs, source_url, timeout, cell_timeout, kernel_name, stop
        )
    except Exception as exc:  # whatever goes wrong, the run is recorded and its folder kept
        status, error = "failed", f"{type(exc).__name__}: {exc}"

    finished = datetime.now(timezone.utc)
    record.status, record.error = status, redact_text(error) if error else None
    record.finished_at = finished.isoformat()
    record.duration_seconds = round((finished - started).total_seconds(), 3)
    record.source = data.get("source", {})
    record.data_range = data.get("time_range", {})
    record.outputs = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
    write_json(record, work / "run.json")
    os.rename(work, base / run_id)
    if record.succeeded:
        _update_latest(base, run_id)
    return record


def latest_run(report: str, reports_dir: Path | None = None) -> Path | None:
    """The folder of the newest successful run of ``report``, if any."""
    link = Path(reports_dir or default_reports_dir()) / report / LATEST
    return link.resolve() if link.exists() else None


def list_runs(reports_dir: Path | None = None, report: str | None = None) -> list[dict[str, Any]]:
    """Every finished run's run.json, newest first."""
    root = Path(reports_dir or default_reports_dir())
    records = []
    for run_json in root.glob(f"{report or '*'}/*/run.json"):
        if run_json.parent.name.startswith(".") or run_json.parent.is_symlink():
            continue
        try:
            records.append(json.loads(run_json.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(records, key=lambda r: r.get("started_at", ""), reverse=True)
