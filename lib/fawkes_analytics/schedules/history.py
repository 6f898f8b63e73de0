"""``fawkes-analytics history``: past runs with status, duration and delivery state.

Rows come from the run records themselves (``reports/<report>/<run>/run.json``, which carry
the ``schedule`` and ``delivery`` the scheduler wrote) plus the scheduler's stand-in records
for attempts that left no run folder (killed by the watchdog before the run layer wrote one).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..delivery.state import read_json
from ..records import Record
from ..sources.base import redact_text


@dataclass
class HistoryRow(Record):
    """One run attempt as listed by ``history``."""

    started_at: str
    report: str
    status: str
    duration_seconds: float | None
    delivery: str
    schedule: str
    attempt: int | None
    run_dir: str
    error: str | None


def summarise_delivery(entries: list[dict]) -> str:
    """``sent 2, failed 1`` style summary; ``-`` when nothing was to be delivered."""
    counts = Counter(e.get("state", "?") for e in entries)
    return ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "-"


def _row(record: dict, path: Path) -> HistoryRow:
    schedule = record.get("schedule") or {}
    return HistoryRow(
        started_at=str(record.get("started_at") or ""),
        report=str(record.get("command") or record.get("report") or path.parent.parent.name),
        status=str(record.get("status") or "unknown"),
        duration_seconds=record.get("duration_seconds"),
        delivery=summarise_delivery(record.get("delivery") or []),
        schedule=str(schedule.get("name") or "-"),
        attempt=schedule.get("attempt"),
        run_dir=str(record.get("run_dir") or path.parent),
        error=redact_text(str(record["error"])) if record.get("error") else None,
    )


def collect(
    reports_dir: Path,
    state_dir: Path | None = None,
    *,
    report: str | None = None,
    schedule: str | None = None,
    limit: int = 50,
) -> list[HistoryRow]:
    """Newest first, optionally filtered by report or schedule name."""
    paths = [
        p
        for p in Path(reports_dir).glob("*/*/run.json")
        if not p.parent.name.startswith(".") and not p.parent.is_symlink()
    ]
    if state_dir is not None:
        paths += list((Path(state_dir) / "runs").glob("*.json"))
    rows = []
    for path in paths:
        try:
            record = read_json(path, {}) or {}
        except (OSError, json.JSONDecodeError):
            continue
        row = _row(record, path)
        if (report and row.report != report) or (schedule and row.schedule != schedule):
            continue
        rows.append(row)
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return rows[:limit]


def format_table(rows: list[HistoryRow]) -> str:
    """A fixed-width table for terminals."""
    header = ("started (UTC)", "schedule", "report", "try", "status", "duration", "delivery", "run")
    lines = [
        (
            r.started_at[:19].replace("T", " "),
            r.schedule,
            r.report,
            str(r.attempt or "-"),
            r.status,
            f"{r.duration_seconds:.1f} s" if isinstance(r.duration_seconds, (int, float)) else "-",
            r.delivery,
            r.run_dir,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*line) for line in lines)]
    )
