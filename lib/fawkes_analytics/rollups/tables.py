"""Where a reader gets the derived tables: the rollup store when it covers, else raw events.

``tables_for(source, until)`` is what every metric family calls. It returns the store's
tables when the store was built from this source, with this schema and engagement event,
and vouches for the data up to ``until``; otherwise it derives the same tables from the raw
events in this process (materialised once per data version of the source, so a report
that asks several questions pays once). Both give the same numbers: they are the same
``derive`` expressions.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any

import ibis.expr.types as ir

from . import engines
from .derive import ENGAGEMENT, TABLES, derive, funnel_fingerprint, funnel_schema
from .store import SCHEMA_VERSION, SCHEMAS, Manifest, RollupStore

CHECK_SECONDS = 2.0  # how long a reader trusts what it knows before looking again
_lock = threading.RLock()


def _months(start: datetime | None, end: datetime | None) -> list[str] | None:
    """Month keys from ``start``'s month through ``end``'s (None: all)."""
    if start is None or end is None:
        return None
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


class Tables:
    """The derived tables of one source, from one place (see the subclasses)."""

    kind = "none"

    def table(self, name: str, start: datetime | None = None, end: datetime | None = None) -> ir.Table:
        """Table ``name``; rows whose time lies in ``[start, end)`` are all there (others may be too)."""
        raise NotImplementedError

    def quality(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
        """Rows left out or counted once, between ``start`` and ``end`` (UTC days)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What a run records about the tables it read."""
        return {"kind": self.kind}


class StoreTables(Tables):
    """The tables of one manifest of a rollup store."""

    kind = "rollups"

    def __init__(self, store: RollupStore, manifest: Manifest, backend: Any) -> None:
        self.store = store
        self.manifest = manifest
        self.backend = backend
        self._read: dict[tuple[str, tuple[str, ...] | None], ir.Table] = {}

    def covers(self, until: datetime | None) -> bool:
        """Whether the store vouches for every event before ``until``."""
        if until is None:
            return True
        if until.tzinfo is None:
            until = until.replace(tzinfo=timezone.utc)
        return until <= self.manifest.as_of

    def table(self, name: str, start: datetime | None = None, end: datetime | None = None) -> ir.Table:
        months = _months(_naive(start), _naive(end))
        key = (name, tuple(months) if months is not None else None)
        with _lock:
            if key not in self._read:
                files = self.store.absolute(self.manifest.files(name, months))
                self._read[key] = engines.read_files(self.backend, files, SCHEMAS[name])
            return self._read[key]

    def funnel_attempts(
        self, funnel: Any, start: datetime | None = None, end: datetime | None = None
    ) -> ir.Table | None:
        """The stored attempts of ``funnel`` (every row with step 1 in ``[start, end)`` is there),
        or None when the store holds no attempts for this exact definition."""
        entry = self.manifest.funnels.get(funnel_fingerprint(funnel))
        if entry is None:
            return None
        months = _months(_naive(start), _naive(end))
        key = (entry["table"], tuple(months) if months is not None else None)
        with _lock:
            if key not in self._read:
                files = self.store.absolute(self.manifest.files(entry["table"], months))
                self._read[key] = engines.read_files(self.backend, files, funnel_schema(len(funnel.steps)))
            return self._read[key]

    def quality(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
        first = str(_naive(start).date()) if start else None
        last = str((_naive(end) - timedelta(microseconds=1)).date()) if end else None
        return self.manifest.quality(first, last)

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "kind": self.kind,
            "store": str(self.store.path),
            "version": m.version,
            "data_version": m.data_version,
            "schema_version": m.schema_version,
            "watermark": m.watermark.isoformat() if m.watermark else None,
            "as_of": m.as_of.isoformat(),
            "refreshed_at": m.refreshed_at.isoformat(),
        }


class RawTables(Tables):
    """The tables derived from every event of the source, in this process."""

    kind = "raw"

    def __init__(self, source: Any, engagement: str, version: tuple[int, str]) -> None:
        self.source = source
        self.engagement = engagement
        self.version = version
        self._held: list[ir.Table] = []
        self._tables: dict[str, ir.Table] | None = None
        self._materialised: dict[str, ir.Table] = {}
        self._per_day: dict[str, int] = {}
        self._quality: dict[str, int] | None = None

    def _hold(self, table: ir.Table) -> ir.Table:
        cached = engines.cache(table)
        self._held.append(cached)
        return cached

    def _derived(self) -> dict[str, ir.Table]:
        """The derivation's expressions (its shared intermediate tables materialised once)."""
        with _lock:
            if self._tables is None:
                derived = self._derive(dedupe=False)
                per_day = derived.duplicates.execute()
                self._per_day = {
                    str(d)[:10]: int(n or 0) for d, n in zip(per_day["day"], per_day["duplicates"], strict=True)
                }
                if sum(self._per_day.values()):  # replayed events: derive again, counting each once
                    self.release()
                    derived = self._derive(dedupe=True)
                self._tables = derived.tables()
            return self._tables

    def _derive(self, dedupe: bool) -> Any:
        return derive(
            self.source.events(), self.source.feedback(), engagement=self.engagement, dedupe=dedupe, hold=self._hold
        )

    def table(self, name: str, start: datetime | None = None, end: datetime | None = None) -> ir.Table:
        if name not in TABLES:
            raise KeyError(name)
        with _lock:
            if name not in self._materialised:
                self._materialised[name] = self._hold(self._derived()[name])
            return self._materialised[name]

    def quality(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
        """The same counts as the store's (duplicates as ``derive`` finds them), from the raw events."""
        self._derived()
        first = str(_naive(start).date()) if start else None
        last = str((_naive(end) - timedelta(microseconds=1)).date()) if end else None
        events = self.source.events()
        window = events.filter(events.user_id.isnull(), events.timestamp.notnull())
        if first is not None:
            window = window.filter(window.timestamp >= datetime.fromisoformat(first))
        if last is not None:
            window = window.filter(window.timestamp < datetime.fromisoformat(last) + timedelta(days=1))
        duplicates = sum(
            n for day, n in self._per_day.items() if (first is None or day >= first) and (last is None or day <= last)
        )
        return {
            "null_user_ids": int(window.count().execute()),
            "duplicate_event_ids": duplicates,
            "null_timestamps": int(events.filter(events.timestamp.isnull()).count().execute()),
        }

    def release(self) -> None:
        for table in reversed(self._held):
            try:
                table.release()
            except Exception:  # noqa: BLE001 - the backend may already be gone
                pass
        self._held.clear()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "events": self.version[0], "newest_event": self.version[1]}


# --- choosing, with per-source memory ------------------------------------------------------
_raw: weakref.WeakKeyDictionary[Any, tuple[float, RawTables]] = weakref.WeakKeyDictionary()
_stores: weakref.WeakKeyDictionary[Any, tuple[float, StoreTables | None]] = weakref.WeakKeyDictionary()


def data_version(source: Any) -> tuple[int, str]:
    """Row count and newest timestamp of the events table: changes whenever data is added."""
    events = source.events()
    frame = events.aggregate(n=events.count(), latest=events.timestamp.max()).execute()
    return int(frame["n"].iloc[0]), str(frame["latest"].iloc[0])


_engagement_of_file: dict[tuple[str, float], str] = {}


def engagement_event(catalog: Any | None) -> str:
    """The engagement event name of ``catalog`` (of the default catalog file when None).

    The default catalog is read once per file version (path and modification time): this is
    asked on every metric call.
    """
    if catalog is not None:
        return getattr(catalog, "engagement_event", ENGAGEMENT)
    from .. import settings
    from ..catalog import load
    from ..errors import ConfigError

    path = str(settings.catalog_path())
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        return ENGAGEMENT
    if key not in _engagement_of_file:
        try:
            _engagement_of_file[key] = load(path).engagement_event
        except ConfigError:
            return ENGAGEMENT
    return _engagement_of_file[key]


def store_tables(source: Any, engagement: str) -> StoreTables | None:
    """The source's rollup store, when there is one built from this source and usable now."""
    location = getattr(source, "rollups_location", None)
    if location is None or getattr(source, "backend", None) is None:
        return None
    now = time.monotonic()
    with _lock:
        known = _stores.get(source)
        if known is not None and now - known[0] < CHECK_SECONDS:
            return known[1]
        store = RollupStore(location)
        versions = store.versions()
        current = known[1] if known else None
        if current is not None and versions and current.manifest.version == versions[-1]:
            _stores[source] = (now, current)
            return current
        manifest = store.latest() if versions else None
        usable = (
            manifest is not None
            and manifest.schema_version == SCHEMA_VERSION
            and manifest.source == source.identity
            and manifest.engagement_event == engagement
        )
        found = StoreTables(store, manifest, source.backend) if usable else None  # type: ignore[arg-type]
        _stores[source] = (now, found)
        return found


def raw_tables(source: Any, engagement: str) -> RawTables:
    """The source's tables derived in this process, once per data version."""
    now = time.monotonic()
    with _lock:
        known = _raw.get(source)
        if known is not None and now - known[0] < CHECK_SECONDS and known[1].engagement == engagement:
            return known[1]
        version = data_version(source)
        if known is not None and known[1].version == version and known[1].engagement == engagement:
            _raw[source] = (now, known[1])
            return known[1]
        if known is not None:
            known[1].release()
        fresh = RawTables(source, engagement, version)
        _raw[source] = (now, fresh)
        return fresh


def tables_for(source: Any, until: datetime | None = None, catalog: Any | None = None) -> Tables:
    """The derived tables to answer questions about data before ``until``."""
    engagement = engagement_event(catalog)
    stored = store_tables(source, engagement)
    if stored is not None and stored.covers(until):
        return stored
    return raw_tables(source, engagement)


def stored_funnel_attempts(source: Any, funnel: Any, start: datetime, end: datetime) -> ir.Table | None:
    """The store's attempt rows of ``funnel`` for a report over ``[start, end)``, or None.

    The store answers when it was built from this source, vouches for the data up to
    ``end`` (as for every other table: conversions are counted up to its ``as_of``) and
    holds the funnel under the same definition (its fingerprint). Otherwise the caller
    computes the attempts from the events.
    """
    stored = store_tables(source, engagement_event(None))
    if stored is None or not stored.covers(end):
        return None
    return stored.funnel_attempts(funnel, start, end)


def forget(source: Any | None = None) -> None:
    """Drop what this process remembers about sources (all of them when None)."""
    with _lock:
        targets = list(_raw.keys()) if source is None else [source]
        for item in targets:
            known = _raw.pop(item, None)
            if known is not None:
                known[1].release()
        if source is None:
            _stores.clear()
        else:
            _stores.pop(source, None)
