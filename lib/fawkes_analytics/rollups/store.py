"""The rollup store: partitioned Parquet files named by immutable, numbered manifests.

Layout of a store folder::

    manifest-00000042.json           the newest complete version (readers take the highest)
    v00000042/<table>/part=20261121/*.parquet  rows of 21-30 Nov (parts: days 1-10, 11-20, 21-end)
    v00000041/...                    files of earlier versions still referenced, or kept a while
    answers/d00000007/*.json         answers computed from the tables' data version 7 (answers.py)

A manifest lists each table's files by month (readers pick the months of their range). Files
hold ten-day parts of a month, so that a refresh rewrites only the part its cut falls in and
the later ones (a few days, not the month), while a long range still reads few files.

A refresh writes its files into a new version folder, then writes the next manifest under a
temporary name and renames it into place: until that rename, readers see the previous
version whole; a refresh killed at any point leaves only unreferenced files, which the next
refresh removes. Nothing is ever rewritten in place, so readers never lock anything and a
refresh never waits for them (DuckDB allows one writer per database file, which is why the
store is not a DuckDB file). The same layout serves Spark, where the folder is a path that
the driver and the cluster both see.

A manifest records the schema version, the source it was built from, the watermark (newest
event processed), what the store vouches for (``as_of``), per UTC day the rows, rows without
a user and duplicated event ids seen, and for each table the files of each month. Funnel
attempts (``derive.funnel_attempts``) are tables too, one per catalog funnel, named
``funnel_attempts/<fingerprint>`` and listed under ``funnels`` with the fingerprint of the
funnel definition they were built for; their columns depend on the number of steps
(``derive.funnel_schema``) and their time key is ``start`` (step 1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ibis

from ..atomic import write_text
from .derive import TABLES

SCHEMA_VERSION = 5  # bump when a derived table changes shape or meaning: stores rebuild
MANIFEST = re.compile(r"^manifest-(\d{8})\.json$")
KEEP_VERSIONS = 3  # manifests kept for readers that opened an older one
GRACE_SECONDS = 15 * 60  # unreferenced files younger than this are left alone

# The columns of every table, so that an empty month and an engine's narrower integer types
# read the same everywhere.
SCHEMAS: dict[str, ibis.Schema] = {
    "sessions": ibis.schema(
        {
            "user_id": "string",
            "session_id": "string",
            "start": "timestamp",
            "last_event": "timestamp",
            "last_activity": "timestamp",
            "duration_us": "int64",
            "pageviews": "int64",
            "events": "int64",
            "is_bounce": "boolean",
            "entry_page": "string",
            "exit_page": "string",
            "referrer": "string",
            "source": "string",
            "utm_source": "string",
            "utm_medium": "string",
            "utm_campaign": "string",
            "start_slot": "int64",
            "end_slot": "int64",
        }
    ),
    "user_slots": ibis.schema(
        {"user_id": "string", "slot": "int64", "session_id": "string", "events": "int64", "pageviews": "int64"}
    ),
    "event_slots": ibis.schema(
        {"user_id": "string", "slot": "int64", "event_name": "string", "n": "int64", "first_ts": "timestamp"}
    ),
    "page_slots": ibis.schema({"user_id": "string", "slot": "int64", "page": "string", "pageviews": "int64"}),
    "page_transitions": ibis.schema(
        {
            "page": "string",
            "slot": "int64",
            "next_slot": "int64",
            "us": "int64",
            "leaves": "int64",
            "transitions": "int64",
        }
    ),
    "first_seen": ibis.schema({"user_id": "string", "event_name": "string", "first_ts": "timestamp"}),
    "users": ibis.schema({"user_id": "string", "first_ts": "timestamp"}),
    "feedback_slots": ibis.schema(
        {"slot": "int64", "kind": "string", "category": "string", "score": "int64", "responses": "int64"}
    ),
}
# The time that places a row in a month and decides which rows a refresh replaces.
TIME_KEYS: dict[str, str] = {
    "sessions": "start",
    "user_slots": "slot",
    "event_slots": "slot",
    "page_slots": "slot",
    "page_transitions": "next_slot",
    "first_seen": "first_ts",
    "users": "first_ts",
    "feedback_slots": "slot",
}
assert set(SCHEMAS) == set(TABLES) == set(TIME_KEYS)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass
class Manifest:
    """One complete version of the store."""

    version: int
    schema_version: int
    source: str
    engagement_event: str
    watermark: datetime | None  # newest valid event processed (naive UTC)
    as_of: datetime  # the data is complete up to here (aware UTC): the refresh's read time
    refreshed_at: datetime
    data_version: int  # changes only when the tables change
    days: dict[str, dict[str, int]] = field(default_factory=dict)
    feedback_days: dict[str, int] = field(default_factory=dict)
    null_timestamps: int = 0
    tables: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    # funnel attempts held: {fingerprint: {"name", "table", "steps"}} (``derive.funnel_fingerprint``)
    funnels: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        data = {
            "format": 1,
            "version": self.version,
            "schema_version": self.schema_version,
            "source": self.source,
            "engagement_event": self.engagement_event,
            "watermark": _iso(self.watermark),
            "as_of": _iso(self.as_of),
            "refreshed_at": _iso(self.refreshed_at),
            "data_version": self.data_version,
            "days": self.days,
            "feedback_days": self.feedback_days,
            "null_timestamps": self.null_timestamps,
            "tables": self.tables,
            "build": self.build,
            "funnels": self.funnels,
        }
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(
            version=int(data["version"]),
            schema_version=int(data["schema_version"]),
            source=str(data["source"]),
            engagement_event=str(data["engagement_event"]),
            watermark=_parse(data.get("watermark")),
            as_of=_parse(data["as_of"]),  # type: ignore[arg-type]
            refreshed_at=_parse(data["refreshed_at"]),  # type: ignore[arg-type]
            data_version=int(data["data_version"]),
            days=data.get("days", {}),
            feedback_days=data.get("feedback_days", {}),
            null_timestamps=int(data.get("null_timestamps", 0)),
            tables=data.get("tables", {}),
            build=data.get("build", {}),
            funnels=data.get("funnels", {}),
        )

    def files(self, table: str, months: list[str] | None = None) -> list[str]:
        """Relative paths of ``table``'s files (of ``months`` only, when given)."""
        by_month = self.tables.get(table, {})
        chosen = sorted(by_month) if months is None else [m for m in sorted(by_month) if m in set(months)]
        return [path for month in chosen for path in by_month[month]]

    def quality(self, first_day: str | None = None, last_day: str | None = None) -> dict[str, int]:
        """Rows without a user, duplicated event ids (and, store-wide, rows without a time)."""
        out = {"null_user_ids": 0, "duplicate_event_ids": 0, "null_timestamps": self.null_timestamps}
        for day, counts in self.days.items():
            if (first_day is None or day >= first_day) and (last_day is None or day <= last_day):
                out["null_user_ids"] += counts.get("null_users", 0)
                out["duplicate_event_ids"] += counts.get("duplicates", 0)
        return out


class RollupStore:
    """A store folder: its manifests, version folders and the refresh lock."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.path = Path(location)

    def __repr__(self) -> str:
        return f"RollupStore({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path / ".refresh.lock"

    def versions(self) -> list[int]:
        if not self.path.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.path.iterdir() if (m := MANIFEST.match(p.name)))

    def manifest_path(self, version: int) -> Path:
        return self.path / f"manifest-{version:08d}.json"

    def latest(self) -> Manifest | None:
        """The newest complete version, or None for an empty or missing store."""
        versions = self.versions()
        if not versions:
            return None
        return Manifest.from_json(self.manifest_path(versions[-1]).read_text(encoding="utf-8"))

    def manifests(self) -> list[Manifest]:
        """Every kept manifest, oldest first (a manifest removed meanwhile is skipped)."""
        found = []
        for version in self.versions():
            try:
                found.append(Manifest.from_json(self.manifest_path(version).read_text(encoding="utf-8")))
            except FileNotFoundError:
                continue
        return found

    def version_folder(self, version: int) -> Path:
        return self.path / f"v{version:08d}"

    def absolute(self, relative: list[str]) -> list[str]:
        return [str(self.path / p) for p in relative]

    def publish(self, manifest: Manifest) -> None:
        """Make ``manifest`` the newest version (an atomic rename), then tidy old versions."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.manifest_path(manifest.version), manifest.to_json())
        self.collect_garbage()

    def collect_garbage(self, grace_seconds: float = GRACE_SECONDS) -> list[str]:
        """Remove manifests beyond the last few and version folders no kept manifest uses.

        Folders younger than ``grace_seconds`` stay (a refresh may be writing them, or a
        reader may still read them), unless they are older than the newest manifest's own
        folder and unreferenced.
        """
        versions = self.versions()
        keep = versions[-KEEP_VERSIONS:]
        for old in versions[: -KEEP_VERSIONS or None] if len(versions) > KEEP_VERSIONS else []:
            self.manifest_path(old).unlink(missing_ok=True)
        used: set[str] = set()
        for version in keep:
            manifest = Manifest.from_json(self.manifest_path(version).read_text(encoding="utf-8"))
            for months in manifest.tables.values():
                for files in months.values():
                    used.update(f.split("/", 1)[0] for f in files)
            used.add(f"v{version:08d}")
        removed = []
        now = time.time()
        newest = keep[-1] if keep else 0
        for entry in self.path.iterdir() if self.path.is_dir() else []:
            if not entry.is_dir() or not re.match(r"^v\d{8}$", entry.name) or entry.name in used:
                continue
            stale = now - entry.stat().st_mtime > grace_seconds or int(entry.name[1:]) < newest
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return removed


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
