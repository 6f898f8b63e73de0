"""Typed records at the seams: a run (run.json), its status, and how records become JSON.

These are small value objects (httpx's ``URL``/``Headers`` style) passed between the run
layer, the scheduler, delivery and the command line instead of dicts with string keys. Each
has ``to_dict()`` (JSON-ready, the on-disk format) and ``from_dict()`` (unknown keys are
kept aside, never lost), so ``type(r).from_dict(r.to_dict()) == r``.

This module imports only the standard library: the command line reads run records without
loading pandas.
"""

from __future__ import annotations

import dataclasses
import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

R = TypeVar("R", bound="Record")


class RunStatus(StrEnum):
    """The status of one run in run.json."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    DISK_FULL = "disk_full"  # the executor's report; the run layer raises DiskFull instead of recording it


def plain(value: Any) -> Any:
    """``value`` with records, enums, paths and tuples turned into plain JSON values."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


class Record:
    """Mixin of the typed records: ``to_dict``/``from_dict`` and JSON files."""

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        extra = data.pop("extra", None) or {}
        return {**extra, **data}

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """The record of ``data``; keys this version does not know go to ``extra`` when the record has one."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        known = {k: v for k, v in data.items() if k in names and k != "extra"}
        if "extra" in names:
            known["extra"] = {k: v for k, v in data.items() if k not in names}
        return cls(**known)

    @classmethod
    def read(cls: type[R], path: str | Path) -> R:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)


@dataclasses.dataclass
class RunRecord(Record):
    """What run.json says about one run."""

    report: str
    run_id: str
    run_dir: str
    status: RunStatus
    started_at: str
    finished_at: str | None = None
    duration_seconds: float | None = None
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    outputs: list[str] = dataclasses.field(default_factory=list)
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_range: dict[str, Any] = dataclasses.field(default_factory=dict)
    rollups: dict[str, Any] | None = None  # the rollup store version the run read (None: raw events)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    durations: dict[str, float] = dataclasses.field(default_factory=dict)
    delivery: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rerun_of: str | None = None  # REPORT/RUN_ID of the run this one repeats (`fawkes-analytics rerun`)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # keys written by others (schedule, ...)

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)

    @property
    def path(self) -> Path:
        return Path(self.run_dir)

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def summary(self) -> str:
        """One line: report, status, duration and where to look."""
        status = "ok" if self.succeeded else self.status.value.upper()
        html = self.path / "report.html"
        where = html if html.exists() else self.path
        return f"{self.report}: {status} in {self.duration_seconds or 0:.1f} s -> {where}"


@dataclasses.dataclass
class Attempt(Record):
    """One try at one job of a schedule slot (the scheduler retries failed ones).

    ``status`` is a run status, or ``interrupted`` when the scheduler stopped during it. The
    fields of the run record the runner returned (run_id, outputs, ...) stay in ``extra``.
    """

    schedule: str
    report: str  # the report, or ``command:<name>`` for a command job
    slot: str
    attempt: int
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    run_dir: str | None = None
    record_path: str | None = None
    error: str | None = None
    retryable: bool = True
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED


@dataclasses.dataclass
class PendingDelivery(Record):
    """A run whose delivery failed and waits for a retry (kept in the schedule's state file)."""

    report: str
    record_path: str
    status: str
    slot: str | None
    run_key: str | None = None
    run_dir: str | None = None
    error: str | None = None
    attempts: int = 0  # failed delivery rounds so far
    next_at: str | None = None
