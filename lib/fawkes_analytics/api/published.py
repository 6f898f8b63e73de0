"""Find published runs in the reports folder, without importing the analytics stack.

Layout (written by ``fawkes_analytics.runs``): ``<reports>/<report>/<run id>/`` holds run.json,
data.json, CSVs, report.html, report.pdf and charts/; ``<reports>/<report>/latest`` links to the
newest successful run; ``.tmp-*`` folders are runs still being written and are never read.

Which run answers a request:

- no ``time_range``: the run ``latest`` points to (one ``readlink``);
- a ``time_range``: the newest successful run whose parameters say that ``time_range`` (and
  whatever other parameters the endpoint pins, e.g. ``experiment_id``).

A run's parameters are the ones its report recorded in data.json (every parameter, defaults
included), over run.json's (only those given on the command line).

Lookups go through ``Publications``, an ordered tuple of sources each able to say "this report,
with these parameters, is published here". Run folders are the one source today; precomputed
views per time range can be put in front of them as a second source with the same ``find``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

LATEST = "latest"
RUN_ID = re.compile(r"^\d{8}T\d{6}Z(?:-\d+)?$")
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class PublishedRun:
    """One run folder and what its run.json says about it."""

    report: str
    run_id: str
    folder: Path
    record: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    parameters: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def status(self) -> str:
        return str(self.record.get("status", "unknown"))

    @property
    def started_at(self) -> str:
        return str(self.record.get("started_at") or "")

    @property
    def data_file(self) -> Path:
        return self.folder / "data.json"


class PublishedSource(Protocol):
    """Something that can say where a report's result, for given parameters, is published."""

    def find(self, report: str, parameters: Mapping[str, str]) -> PublishedRun | None: ...


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _identity(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (str(path), stat.st_mtime_ns, stat.st_size)


class RunFolders:
    """Runs in ``<reports>/<report>/<run id>/``, with their run.json read once per version."""

    def __init__(self, reports_dir: Path) -> None:
        self.reports_dir = Path(reports_dir)
        self._records: dict[tuple[str, int, int], dict[str, Any] | None] = {}
        self._parameters: dict[tuple[str, int, int], dict[str, Any]] = {}

    # -- single runs --------------------------------------------------------------------
    def resolve(self, report: str, run_id: str) -> PublishedRun | None:
        """The run ``run_id`` (or ``latest``) of ``report``, if its folder exists."""
        if not REPORT_NAME.match(report):
            return None
        base = self.reports_dir / report
        if run_id == LATEST:
            try:
                run_id = os.readlink(base / LATEST).rstrip("/").rsplit("/", 1)[-1]
            except OSError:
                return None
        if not RUN_ID.match(run_id):
            return None
        folder = base / run_id
        if not folder.is_dir():
            return None
        record = self._record(folder / "run.json")
        parameters = {**(record.get("parameters") or {}), **self._published_parameters(folder / "data.json")}
        return PublishedRun(report, run_id, folder, record, parameters)

    def _record(self, path: Path) -> dict[str, Any]:
        key = _identity(path)
        if key is None:
            return {}
        if key not in self._records:
            if len(self._records) > 10_000:
                self._records.clear()
            self._records[key] = _read_json(path)
        return self._records[key] or {}

    def _published_parameters(self, path: Path) -> dict[str, Any]:
        """``parameters`` of a data.json, read once per version of the file (only they are kept)."""
        key = _identity(path)
        if key is None:
            return {}
        if key not in self._parameters:
            if len(self._parameters) > 10_000:
                self._parameters.clear()
            parameters = (_read_json(path) or {}).get("parameters")
            self._parameters[key] = parameters if isinstance(parameters, dict) else {}
        return self._parameters[key]

    # -- many runs ----------------------------------------------------------------------
    def reports(self) -> list[str]:
        """Reports with at least one run folder, sorted."""
        if not self.reports_dir.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.reports_dir)
            if entry.is_dir() and REPORT_NAME.match(entry.name) and any(self._run_ids(entry.name))
        )

    def _run_ids(self, report: str) -> list[str]:
        try:
            entries = os.scandir(self.reports_dir / report)
        except OSError:
            return []
        with entries:
            return [e.name for e in entries if RUN_ID.match(e.name) and e.is_dir(follow_symlinks=False)]

    def runs(self, report: str) -> list[PublishedRun]:
        """Every run of ``report``, newest first (by start time, then id)."""
        found = [run for run_id in self._run_ids(report) if (run := self.resolve(report, run_id)) is not None]
        return sorted(found, key=lambda run: (run.started_at, run.run_id), reverse=True)

    def find(self, report: str, parameters: Mapping[str, str]) -> PublishedRun | None:
        """``latest`` when no parameter is pinned, else the newest successful run matching them."""
        if not parameters:
            return self.resolve(report, LATEST)
        for run in self.runs(report):
            if run.status == "succeeded" and all(
                str(run.parameters.get(name)) == value for name, value in parameters.items()
            ):
                return run
        return None


@dataclass(frozen=True)
class Publications:
    """The sources asked, in order, for a report's published result."""

    sources: tuple[PublishedSource, ...]

    def find(self, report: str, parameters: Mapping[str, str]) -> PublishedRun | None:
        for source in self.sources:
            found = source.find(report, parameters)
            if found is not None:
                return found
        return None
