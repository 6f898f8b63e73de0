"""Execute a report notebook with Papermill into a run folder and publish it.

One run, as a recipe: check the parameters (before any kernel starts), execute the notebook
in a child process under an overall timeout, render the code-free HTML (and PDF), write
``run.json``, rename the temporary folder into place, and point ``latest`` at it when it
succeeded. A failed run keeps its executed notebook and error for debugging and never
replaces ``latest``; nothing half-written is ever visible under a run id.

The notebook runs in a child process (``fawkes_analytics._execute``) so that a hung kernel
can be killed together with everything it started, without touching the caller. That child
and its kernel die with the caller (parent-death signal, see process.py), get only the
allow-listed kernel environment (kernel_env.py), and the executed notebook and log are
redacted before anything is published.

Guarantees of one run (docs/operations.md):

- report names resolve only to notebooks inside the notebooks folder; path parameters only
  inside the configured folders (parameters.py); bad input is refused before a kernel starts;
- a stop request (SIGTERM/SIGINT of the command, a scheduler shutdown) kills the kernel and
  records the run as ``cancelled``; it never replaces ``latest``;
- a full disk fails the run with :class:`~fawkes_analytics.errors.DiskFull` and removes the
  temporary folder: no partial run is left behind;
- temporary folders of crashed runs are removed by the next run of the report (workfolder.py);
- published files get one mode (atomic.py).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__, atomic, settings, workfolder
from . import parameters as parameter_checks
from .errors import DiskFull, ParameterError
from .export import formats as export_formats
from .kernel_env import kernel_env
from .process import kill_tree
from .records import RunRecord, RunStatus
from .settings import RUN_DIR_ENV
from .sources.base import redact_text

SOURCE_ENV = settings.PREFIX + "SOURCE"

OUTPUTS = ("html", "pdf", "csv", "json")
LATEST = "latest"
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
DISK_FULL_EXIT = 28  # _execute's exit code when the disk filled up (ENOSPC is errno 28)


def default_reports_dir() -> Path:
    """Where run folders go: ``FAWKES_ANALYTICS_REPORTS_DIR`` or the project's reports/."""
    return settings.reports_dir()


def notebooks_dir() -> Path:
    """Where report notebooks are: ``FAWKES_ANALYTICS_NOTEBOOKS_DIR`` or the project's notebooks/."""
    return settings.notebooks_dir()


def available_reports(directory: Path | None = None) -> list[str]:
    """Report names: the notebooks in notebooks/ (dashboards are served, not run)."""
    return sorted(p.stem for p in (directory or notebooks_dir()).glob("*.ipynb"))


def notebook_path(report: str, directory: Path | None = None) -> Path:
    """The notebook of ``report``: a plain name of a notebook inside the notebooks folder, nothing else."""
    directory = Path(directory or notebooks_dir())
    known = available_reports(directory)
    if not isinstance(report, str) or not REPORT_NAME.match(report) or report not in known:
        raise ParameterError("report", f"unknown report {report!r}", known)
    path = (directory / f"{report}.ipynb").resolve()
    if path.parent != directory.resolve():  # a symlink pointing outside the folder
        raise ParameterError("report", f"report {report!r} resolves outside {directory}", known)
    return path


def _versions() -> dict[str, str]:
    """The code a run used: Python, the packages that compute and run reports, and the git commit
    of the checkout when there is one (read from the installed metadata and .git, no imports)."""
    versions = {"python": platform.python_version(), "fawkes_analytics": __version__}
    for package in ("ibis-framework", "duckdb", "pandas", "papermill", "pyspark"):
        try:
            versions[package.removesuffix("-framework")] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    commit = git_commit(settings.PROJECT_ROOT)
    if commit:
        versions["git_commit"] = commit
    return versions


def data_versions(source: dict[str, Any], rollups: dict[str, Any] | None) -> dict[str, str]:
    """The data a run read: the rollup store's data version (it changes only when the tables
    change) and store version, else the newest event of the source."""
    if rollups and rollups.get("data_version") is not None:
        return {"data": f"rollups data {rollups['data_version']}", "rollups": str(rollups.get("version"))}
    as_of = source.get("data_as_of")
    return {"data": f"events as of {as_of}"} if as_of else {}


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root`` (a worktree too), with ``-dirty`` when files differ; None
    without git or outside a checkout (the container image)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head or None


def _new_run_id(base: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = stamp, 1
    while (base / run_id).exists() or (base / f".tmp-{run_id}").exists():
        n += 1
        run_id = f"{stamp}-{n}"
    return run_id


def _stop_child(process: subprocess.Popen, wait: float) -> None:
    """Stop the executor and everything it started (the kernel runs in its own session)."""
    kill_tree(process.pid, wait=wait)
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
) -> tuple[RunStatus, str | None]:
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
        str(os.getpid()),
    ]
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout if timeout else None
        while process.poll() is None:
            if deadline and time.monotonic() > deadline:
                _stop_child(process, wait=0)
                return RunStatus.TIMED_OUT, f"run exceeded its timeout of {timeout:g} s; the kernel was killed"
            if stop is not None and stop.is_set():
                _stop_child(process, wait=2)
                return RunStatus.CANCELLED, "run cancelled before it finished; the kernel was stopped"
            time.sleep(0.1)
    if process.returncode == 0:
        return RunStatus.SUCCEEDED, None
    if process.returncode == DISK_FULL_EXIT:
        return RunStatus.DISK_FULL, "no space left on device while executing the notebook"
    try:
        error = json.loads((output.parent / "error.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RunStatus.FAILED, f"notebook runner exited with code {process.returncode}; see run.log"
    return RunStatus.FAILED, f"{error.get('ename')}: {error.get('evalue')}"


def _update_latest(base: Path, run_id: str) -> None:
    """Point ``latest`` at ``run_id`` atomically (a symlink swapped with a rename)."""
    link = base / LATEST
    temporary = base / f"{workfolder.LATEST_SWAP_PREFIX}{run_id}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_id, target_is_directory=True)
    os.replace(temporary, link)


def redact_outputs(notebook_file: Path) -> None:
    """Remove credentials from everything a kernel printed into the executed notebook.

    Sources of secrets are kept out of kernels (kernel_env.py), but a driver error may still
    echo a connection string; stream text, error values and tracebacks, and text outputs
    pass through ``redact_text`` before the notebook (and the HTML made from it) is published.
    """
    if not notebook_file.exists():
        return
    notebook = json.loads(notebook_file.read_text(encoding="utf-8"))
    changed = False

    def clean(value: object) -> object:
        nonlocal changed
        cleaned: str | list[str]
        if isinstance(value, str):
            cleaned = redact_text(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            cleaned = [redact_text(v) for v in value]
        else:
            return value
        changed = changed or cleaned != value
        return cleaned

    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = clean(output[key])
            data = output.get("data") or {}
            for mime in ("text/plain", "text/html", "text/markdown", "application/json"):
                if mime in data:
                    data[mime] = clean(data[mime])
    if changed:
        atomic.write_text(notebook_file, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def _redact_file(path: Path) -> None:
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        cleaned = redact_text(text)
        if cleaned != text:
            atomic.write_text(path, cleaned)


def _import_renderer_meanwhile() -> None:
    """Import nbconvert (about 0.6 s) while the kernel works, not after it: this process only waits then."""
    threading.Thread(target=importlib.import_module, args=(f"{__package__}.render",), daemon=True).start()


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
) -> tuple[RunStatus, str | None, dict[str, Any]]:
    """Execute the notebook into ``work`` and render what ``outputs`` asks; (status, error, data.json)."""
    extra = {RUN_DIR_ENV: str(work)}
    if source_url:
        extra[SOURCE_ENV] = source_url
    clock = time.monotonic()
    if "html" in outputs or "pdf" in outputs:
        _import_renderer_meanwhile()
    with kernel_env(extra) as env:
        status, error = _execute(
            notebook, work / "notebook.ipynb", params, env, timeout, cell_timeout, kernel_name, work / "run.log", stop
        )
    record.durations["execute"] = round(time.monotonic() - clock, 3)
    if status == RunStatus.DISK_FULL or (error and "[Errno 28]" in error):
        raise DiskFull(str(work.parent), redact_text(error or ""))
    redact_outputs(work / "notebook.ipynb")
    _redact_file(work / "run.log")
    _redact_file(work / "error.json")
    data_file = work / "data.json"
    data = json.loads(data_file.read_text(encoding="utf-8")) if data_file.exists() else {}
    if status != RunStatus.SUCCEEDED:
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
        export_formats.write(outputs, work, data)  # registered formats (export/formats.py)
    except Exception as exc:  # rendering problems fail the run, they never publish half a report
        if atomic.is_disk_full(exc):
            raise DiskFull(str(work.parent), str(exc)) from exc
        status, error = RunStatus.FAILED, f"rendering failed: {exc}"
    record.durations["render"] = round(time.monotonic() - clock, 3)
    if stop is not None and stop.is_set():
        status, error = RunStatus.CANCELLED, "run cancelled before it was published"
    return status, error, data


def _positive(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
        raise ParameterError(name, f"{value!r} is not a positive number of seconds", "> 0")
    return float(value)


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
    rerun_of: str | None = None,
) -> RunRecord:
    """Run ``report`` into a new run folder and return its record.

    Bad parameters raise ``ParameterError`` before anything starts; a failing, hung or
    cancelled notebook gives a record with status ``failed``, ``timed_out`` or ``cancelled``
    (never an exception). A full disk raises ``DiskFull`` and leaves no folder behind.
    """
    timeout = _positive("timeout", timeout)
    cell_timeout = _positive("cell_timeout", cell_timeout)
    unknown = [o for o in outputs if o not in export_formats.names()]
    if unknown:
        raise ParameterError("outputs", f"unknown output {unknown[0]!r}", list(export_formats.names()))
    notebook = notebook_path(report, notebooks)
    reports_root = Path(reports_dir or default_reports_dir())
    params = parameter_checks.resolve(notebook, parameters, reports_dir=reports_root)
    base = reports_root / report
    base.mkdir(parents=True, exist_ok=True)
    workfolder.sweep(base)
    run_id = _new_run_id(base)
    folder = workfolder.WorkFolder(base, run_id)
    work = folder.path
    started = datetime.now(timezone.utc)
    record = RunRecord(
        report,
        run_id,
        str(base / run_id),
        RunStatus.RUNNING,
        started.isoformat(),
        parameters=params,
        versions=_versions(),
        rerun_of=rerun_of,
    )
    try:
        atomic.write_text(work / "run.json", record.to_json())
        data: dict[str, Any] = {}
        try:
            status, error, data = _execute_and_render(
                report, notebook, work, params, record, outputs, source_url, timeout, cell_timeout, kernel_name, stop
            )
        except DiskFull:
            raise
        except Exception as exc:  # whatever goes wrong, the run is recorded and its folder kept
            if atomic.is_disk_full(exc):
                raise DiskFull(str(base), str(exc)) from exc
            status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"

        finished = datetime.now(timezone.utc)
        record.status, record.error = status, redact_text(error) if error else None
        record.finished_at = finished.isoformat()
        record.duration_seconds = round((finished - started).total_seconds(), 3)
        record.source = data.get("source", {})
        record.data_range = data.get("time_range", {})
        record.rollups = data.get("rollups")
        record.versions.update(data_versions(record.source, record.rollups))
        record.outputs = sorted(
            str(p.relative_to(work)) for p in work.rglob("*") if p.is_file() and p.name != workfolder.OWNER_FILE
        )
        atomic.write_text(work / "run.json", record.to_json())
        atomic.apply_modes(work)
    except BaseException as exc:
        folder.discard()  # a full disk, or the process is going down: leave nothing half-written
        if atomic.is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise DiskFull(str(base), str(exc)) from exc
        raise
    folder.publish(base / run_id)
    if record.succeeded:
        _update_latest(base, run_id)
    return record


def latest_run(report: str, reports_dir: Path | None = None) -> Path | None:
    """The folder of the newest successful run of ``report``, if any."""
    link = Path(reports_dir or default_reports_dir()) / report / LATEST
    return link.resolve() if link.exists() else None


def find_run(run: str | Path, reports_dir: Path) -> Path:
    """A run folder from ``REPORT/RUN_ID``, a run id, ``REPORT/latest`` or a path to the folder."""
    candidate = settings.resolve_path(run)
    if candidate.is_dir() and (candidate / "run.json").exists():
        return candidate.resolve()
    text = str(run)
    matches = [p.parent for p in reports_dir.glob(f"{text}/run.json")] if "/" in text else []
    if not matches:
        matches = [p.parent for p in reports_dir.glob(f"*/{text}/run.json") if not p.parent.is_symlink()]
    if len(matches) == 1:
        return matches[0].resolve()
    if not matches:
        raise ParameterError(
            "run", f"no published run {text!r} under {reports_dir}", "REPORT/RUN_ID as `history` shows it"
        )
    raise ParameterError("run", f"{text!r} matches several runs", sorted(f"{m.parent.name}/{m.name}" for m in matches))


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
