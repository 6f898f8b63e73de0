"""Retention: how many run folders a report keeps, and pruning the rest.

A policy keeps a run while it is among the newest ``runs`` runs **and** younger than
``days`` days (either limit may be absent). Pruning never removes:

- the run ``latest`` points at;
- a run that a delivery still needs: the caller passes those (the scheduler's pending
  delivery retries), and a run whose run.json still has a delivery entry in state
  ``sending`` or ``failed`` is kept as well;
- temporary folders (``.tmp-*``: see workfolder.py) or anything that is not a run folder.

Where the policy comes from (docs/operations.md): a schedule's ``retention`` key governs the
runs that schedule started; the catalog's ``retention.reports.<report>`` governs the other
runs of that report, then ``retention.default``, then :data:`DEFAULT_POLICY`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import ConfigError

LATEST = "latest"
KEEP_FOR_DELIVERY = ("sending", "failed")


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep at most ``runs`` runs and none older than ``days`` days (None: no such limit)."""

    runs: int | None = None
    days: float | None = None

    @classmethod
    def parse(cls, raw: Any, path: str, key: str) -> RetentionPolicy:
        """``{runs: N, days: D}`` from a configuration file, with errors naming the key."""
        if not isinstance(raw, Mapping):
            raise ConfigError(path, key, "must be a mapping such as {runs: 30} or {days: 90}")
        unknown = set(raw) - {"runs", "days"}
        if unknown:
            raise ConfigError(path, f"{key}.{sorted(unknown)[0]}", "unknown key (allowed: days, runs)")
        runs, days = raw.get("runs"), raw.get("days")
        if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 1):
            raise ConfigError(path, f"{key}.runs", f"{runs!r} must be a whole number >= 1")
        if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0):
            raise ConfigError(path, f"{key}.days", f"{days!r} must be a positive number of days")
        return cls(runs, float(days) if days is not None else None)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("runs", self.runs), ("days", self.days)) if v is not None}

    def describe(self) -> str:
        parts = [f"the newest {self.runs}" if self.runs else "", f"{self.days:g} days" if self.days else ""]
        return "keep " + " and at most ".join(p for p in parts if p) if any(parts) else "keep everything"


DEFAULT_POLICY = RetentionPolicy(runs=100)


def _read_record(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _started(run_dir: Path, record: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(record["started_at"]))
    except (KeyError, ValueError):
        return datetime.fromtimestamp(run_dir.stat().st_mtime, UTC)


def _needed_for_delivery(record: Mapping[str, Any]) -> bool:
    return any(entry.get("state") in KEEP_FOR_DELIVERY for entry in record.get("delivery") or [])


def prune(
    report_dir: Path,
    policy: RetentionPolicy,
    *,
    protect: Collection[Path] = (),
    select: Callable[[Mapping[str, Any]], bool] | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[Path]:
    """Remove the runs of ``report_dir`` that ``policy`` no longer keeps; returns them.

    ``select`` limits pruning to runs whose run.json it accepts (the runs of one schedule);
    the others are neither counted nor removed.
    """
    report_dir = Path(report_dir)
    if not report_dir.is_dir() or (policy.runs is None and policy.days is None):
        return []
    now = now or datetime.now(UTC)
    latest = (report_dir / LATEST).resolve() if (report_dir / LATEST).is_symlink() else None
    protected = {Path(p).resolve() for p in protect}
    candidates = []
    for run_dir in report_dir.iterdir():
        if run_dir.name.startswith(".") or run_dir.is_symlink() or not run_dir.is_dir():
            continue
        if not (run_dir / "run.json").exists():
            continue
        record = _read_record(run_dir)
        if select is not None and not select(record):
            continue
        candidates.append((_started(run_dir, record), run_dir, record))
    candidates.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    removed = []
    for rank, (started, run_dir, record) in enumerate(candidates):
        too_many = policy.runs is not None and rank >= policy.runs
        too_old = policy.days is not None and now - started > timedelta(days=policy.days)
        if not (too_many or too_old):
            continue
        resolved = run_dir.resolve()
        if resolved == latest or resolved in protected or _needed_for_delivery(record):
            continue
        if not dry_run:
            shutil.rmtree(run_dir, ignore_errors=True)
        removed.append(run_dir)
    return removed


def report_policy(report: str, catalog: Any) -> RetentionPolicy:
    """The catalog's policy for ``report`` (``retention.reports.<report>``, then the default).

    ``catalog.report_retention(report)`` loads the catalog and asks this (the catalog parses
    policies with this module, so this module never imports the catalog)."""
    by_report = getattr(catalog, "retention", None) or {}
    return by_report.get(report) or getattr(catalog, "default_retention", None) or DEFAULT_POLICY


def not_under_a_schedule_policy(record: Mapping[str, Any]) -> bool:
    """Runs that no schedule's own retention governs (see the module docstring)."""
    return not (record.get("schedule") or {}).get("retention")
