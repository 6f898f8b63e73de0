"""``refresh``: bring the rollup store up to date with the source, incrementally.

A refresh, as a recipe:

1. Take the store's lock (one refresh at a time; a second one waits or gives up).
2. Count the source's events per UTC day (one cheap scan of the timestamp column) and
   compare with the counts the newest manifest recorded. New events, late events (a
   timestamp before the watermark that arrived since) and deleted events all change some
   day's count; the earliest changed day is where work starts. Nothing changed: publish
   the same tables with a newer ``as_of`` and stop.
3. The cut ``C`` is midnight of that day. The stored sessions still open at ``C`` (last
   activity within 30 minutes before it) are *straddlers*: their users' events are read from
   the start of that session, everyone else's from ``C``. A session start has no activity
   within 30 minutes before it, so each user's events are derived from a clean start (see
   ``derive``), and sessions still open at the watermark are always derived again. (Moving
   ``C`` itself back until no session is open would run back to the first day on a busy
   site: someone is always online at midnight.)
4. Replace, table by table, what the region decides: sessions and their slots from ``C`` on
   and the straddlers' whole sessions; the other tables' rows from ``C`` on (keyed by their
   own time; a page transition by the time of its second pageview, which is when it comes
   into being). Each part (ten-day part of a month, see store.py) from the first touched
   one is written anew into a new version folder (old rows it keeps plus the new ones);
   earlier parts keep their files.
5. Publish the next manifest (an atomic rename). A refresh killed before this point leaves
   the previous version readable and only unreferenced files behind.

A first build (or one after a schema change, another source, or another engagement event
name) is the same recipe from the first day, in chunks of about ``chunk_events`` events so
that memory stays bounded, each chunk published as it completes and printed as progress.

Funnel attempts (``derive.funnel_attempts``, one table per ordered or strict catalog funnel)
follow the same recipe with their own cut, ``C - window``: an attempt whose step 1 is before
it has every step, exclusion mark and void its result rule reads before ``C`` (all of them
lie within the window after step 1, inclusive), so its row is final; the attempts from
``C - window`` on are derived again from the events from ``C - window`` on (an attempt depends
only on newer attempts, never on older ones; ``metrics.funnel_paths``). A funnel the
manifest does not list under the same fingerprint (new, or its definition changed) is built
from the first event, also when no event changed; funnels no longer in the catalog are
dropped.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
from filelock import FileLock, Timeout

from ..errors import FawkesError
from . import engines
from .derive import (
    TABLES,
    Derived,
    StoredFunnel,
    derive,
    funnel_attempts,
    funnel_schema,
    funnel_table,
    nullable,
    slot_of,
    storable,
)
from .store import SCHEMA_VERSION, SCHEMAS, TIME_KEYS, Manifest, RollupStore, utc_now

SESSION_GAP = timedelta(minutes=30)
CHUNK_EVENTS = 20_000_000
Progress = Callable[[str], None]


class RefreshBusy(FawkesError):
    """Another refresh holds the store's lock."""


@dataclass
class RefreshResult:
    """What one refresh did."""

    store: str
    mode: str  # "full", "incremental", "unchanged" or "funnels" (only the catalog's funnels changed)
    version: int
    data_version: int
    cut: datetime | None
    watermark: datetime | None
    events_read: int
    seconds: float
    steps: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        if self.mode == "unchanged":
            return f"rollups {self.store}: unchanged (version {self.version}, data as of {self.watermark})"
        if self.mode == "funnels":
            return (
                f"rollups {self.store}: catalog funnels rebuilt (version {self.version}, data as of {self.watermark})"
            )
        return (
            f"rollups {self.store}: {self.mode} refresh to version {self.version} from {self.cut:%Y-%m-%d %H:%M}"
            f" ({self.events_read:,} events in {self.seconds:.1f} s; newest event {self.watermark})"
        )


def _quiet(_message: str) -> None:
    return None


def _day_key(day: date | datetime | str) -> str:
    return str(day)[:10]


def _midnight(day: str) -> datetime:
    return datetime.fromisoformat(day)


def _part_of(moment: datetime) -> int:
    """The partition key of the part of the month ``moment`` (UTC) falls in: 20261121 for 21-30 Nov."""
    return moment.year * 10000 + moment.month * 100 + min((moment.day - 1) // 10, 2) * 10 + 1


def _part_expr(moment: ir.TimestampValue) -> ir.IntegerValue:
    """``_part_of`` as an engine expression."""
    return moment.year() * 10000 + moment.month() * 100 + ibis.least((moment.day() - 1) // 10, 2) * 10 + 1


def _file_part(relative: str) -> int:
    """The part a store file holds rows of (from its ``part=`` folder)."""
    return int(relative.split("part=", 1)[1].split("/", 1)[0])


def _split_files(months: dict[str, list[str]], first_part: int) -> tuple[dict[str, list[str]], list[str]]:
    """A table's files by month: those of parts before ``first_part`` (kept), and the others."""
    kept: dict[str, list[str]] = {}
    rewritten: list[str] = []
    for month, files in months.items():
        for relative in files:
            if _file_part(relative) < first_part:
                kept.setdefault(month, []).append(relative)
            else:
                rewritten.append(relative)
    return kept, rewritten


def day_counts(events: ir.Table) -> tuple[dict[str, dict[str, int]], int]:
    """Rows and rows without a user per UTC day of the events table, and rows without a time."""
    by_day = events.group_by(day=events.timestamp.date()).aggregate(
        rows=events.count(), null_users=events.user_id.isnull().cast("int64").sum()
    )
    frame = by_day.execute()
    days: dict[str, dict[str, int]] = {}
    null_timestamps = 0
    for day, rows, null_users in zip(frame["day"], frame["rows"], frame["null_users"], strict=True):
        if day is None or str(day) in ("NaT", "None"):
            null_timestamps = int(rows)
            continue
        days[_day_key(day)] = {"rows": int(rows), "null_users": int(null_users or 0)}
    return days, null_timestamps


def feedback_counts(feedback: ir.Table) -> dict[str, int]:
    frame = feedback.group_by(day=feedback.timestamp.date()).aggregate(rows=feedback.count()).execute()
    return {_day_key(d): int(n) for d, n in zip(frame["day"], frame["rows"], strict=True) if d is not None}


def _changed_days(old: dict[str, Any], new: dict[str, Any], value: Callable[[Any], int]) -> list[str]:
    return sorted(
        d for d in set(old) | set(new) if (value(old[d]) if d in old else -1) != (value(new[d]) if d in new else -1)
    )


def _rows(entry: Any) -> int:
    return int(entry["rows"]) if isinstance(entry, dict) else int(entry)


def _typed(table: ir.Table, schema: ibis.Schema) -> ir.Table:
    """``table`` with exactly ``schema``'s columns and types (so old and new rows union)."""
    return table.select(*(table[c].cast(t).name(c) for c, t in schema.items()))


class _Refresh:
    """One refresh of one store from one source (holds the lock while it runs)."""

    def __init__(
        self,
        source: Any,
        store: RollupStore,
        engagement: str,
        progress: Progress,
        chunk_events: int,
        funnels: Iterable[StoredFunnel] = (),
    ) -> None:
        self.source = source
        self.store = store
        self.backend = source.backend
        self.engagement = engagement
        self.progress = progress
        self.chunk_events = chunk_events
        self.identity = source.identity
        self.held: list[ir.Table] = []
        self.releases: list[Callable[[], None]] = []
        self.funnels = {f.fingerprint: f for f in funnels if storable(f.definition)}

    # --- the recipe ------------------------------------------------------------------
    def run(self, full: bool) -> RefreshResult:
        started, clock = utc_now(), time.perf_counter()
        engines.configure(self.backend)
        manifest = None if full else self._compatible(self.store.latest())
        events, feedback = self.source.events(), self.source.feedback()
        days, null_timestamps = day_counts(events)
        feedback_days = feedback_counts(feedback)
        if manifest is None:
            changed = sorted(set(days) | set(feedback_days)) or ["1970-01-01"]  # an empty source: empty tables
        else:
            changed = sorted(
                set(_changed_days(manifest.days, days, _rows))
                | set(_changed_days(manifest.feedback_days, feedback_days, _rows))
            )
        base = self.store.latest()
        if not changed and manifest is not None and set(manifest.funnels) != set(self.funnels):
            return self._funnels_only(manifest, base, started, clock)
        if not changed:
            return self._unchanged(manifest, base, started, null_timestamps, clock)
        mode = "full" if manifest is None else "incremental"
        cut = _midnight(changed[0])
        steps: list[dict[str, Any]] = []
        events_read = 0
        chunks = self._chunks(cut, days)
        for i, until in enumerate(chunks, 1):
            label = f"[{i}/{len(chunks)}] " if len(chunks) > 1 else ""
            span = f"{cut:%Y-%m-%d}" + (f" to {until:%Y-%m-%d}" if until else " on")
            self.progress(f"{label}deriving rollups from {span}")
            step_clock = time.perf_counter()
            manifest, read = self._step(manifest, base, cut, until, days, feedback_days, null_timestamps, started)
            base = manifest
            events_read += read
            steps.append(
                {
                    "cut": cut.isoformat(),
                    "until": until.isoformat() if until else None,
                    "events": read,
                    "seconds": round(time.perf_counter() - step_clock, 3),
                }
            )
            self.progress(
                f"{label}published version {manifest.version} ({read:,} events, {steps[-1]['seconds']:.1f} s)"
            )
            cut = until if until is not None else cut
        assert manifest is not None
        return RefreshResult(
            str(self.store.path),
            mode,
            manifest.version,
            manifest.data_version,
            datetime.fromisoformat(steps[0]["cut"]),
            manifest.watermark,
            events_read,
            time.perf_counter() - clock,
            steps,
        )

    # --- pieces -----------------------------------------------------------------------
    def _compatible(self, manifest: Manifest | None) -> Manifest | None:
        """The newest manifest if this refresh can build on it; None means build from scratch."""
        if manifest is None:
            return None
        if manifest.schema_version != SCHEMA_VERSION:
            self.progress(f"rollup schema changed ({manifest.schema_version} -> {SCHEMA_VERSION}): rebuilding")
            return None
        if manifest.source != self.identity:
            self.progress(f"the store was built from another source ({manifest.source}): rebuilding")
            return None
        if manifest.engagement_event != self.engagement:
            self.progress("the engagement event name changed: rebuilding")
            return None
        return manifest

    def _chunks(self, cut: datetime, days: dict[str, dict[str, int]]) -> list[datetime | None]:
        """Ends of the chunks to derive from ``cut`` on: UTC midnights about ``chunk_events`` apart."""
        ends: list[datetime | None] = []
        running = 0
        for day in sorted(d for d in days if d >= _day_key(cut)):
            if running >= self.chunk_events:
                ends.append(_midnight(day))
                running = 0
            running += days[day]["rows"]
        return [*ends, None]

    def _hold(self, table: ir.Table) -> ir.Table:
        cached = engines.cache(table)
        self.held.append(cached)
        return cached

    def _holder(self, funnel: StoredFunnel) -> Callable[[ir.Table], ir.Table]:
        """How to hold the funnel's intermediate tables (its ``materialise``; released after the step)."""

        def hold(table: ir.Table) -> ir.Table:
            held, release = funnel.materialise(table)
            self.releases.append(release)
            return held

        return hold

    def _release(self) -> None:
        for release in reversed(self.releases):
            try:
                release()
            except Exception:  # noqa: BLE001 - releasing a temp table must never fail a refresh
                pass
        self.releases.clear()
        for table in reversed(self.held):
            try:
                table.release()
            except Exception:  # noqa: BLE001 - releasing a temp table must never fail a refresh
                pass
        self.held.clear()

    def _straddlers(self, manifest: Manifest | None, cut: datetime) -> ir.Table | None:
        """Stored sessions still open at ``cut``: ``user_id, start, session_id`` (None: none)."""
        if manifest is None:
            return None
        sessions = engines.read_files(
            self.backend, self.store.absolute(manifest.files("sessions")), SCHEMAS["sessions"]
        )
        open_ = sessions.filter(sessions.start < cut, sessions.last_activity >= cut - SESSION_GAP)
        open_ = self._hold(open_.select("user_id", "start", "session_id"))
        return open_ if int(open_.count().execute()) else None

    def _region(self, cut: datetime, until: datetime | None, straddlers: ir.Table | None) -> tuple[ir.Table, datetime]:
        """The events to derive from: everyone's from ``cut``, the straddlers' from their session start."""
        events = self.source.events()
        region = events.filter(events.timestamp >= cut)
        if until is not None:
            region = region.filter(region.timestamp < until)
        if straddlers is None:
            return region, cut
        earliest = straddlers.start.min().execute()
        earliest = earliest.to_pydatetime() if hasattr(earliest, "to_pydatetime") else earliest
        back = straddlers.select(r_user=straddlers.user_id, r_start=straddlers.start)
        before = events.filter(events.timestamp >= earliest, events.timestamp < cut)
        before = before.join(back, before.user_id == back.r_user)
        before = before.filter(before.timestamp >= before.r_start).select(*events.columns)
        return nullable(region).union(nullable(before)), earliest

    def _step(
        self,
        manifest: Manifest | None,
        base: Manifest | None,
        cut: datetime,
        until: datetime | None,
        days: dict[str, dict[str, int]],
        feedback_days: dict[str, int],
        null_timestamps: int,
        started: datetime,
    ) -> tuple[Manifest, int]:
        version = (base.version if base else 0) + 1
        folder = self.store.version_folder(version)
        shutil.rmtree(folder, ignore_errors=True)  # left by a refresh killed before publishing
        try:
            straddlers = self._straddlers(manifest, cut)
            region, earliest = self._region(cut, until, straddlers)
            derived = self._derive(region, cut, until, dedupe=False)
            per_day = derived.duplicates.execute()
            if per_day["duplicates"].fillna(0).sum() > 0:  # replayed events: derive again, counting each once
                self._release()
                straddlers = self._straddlers(manifest, cut)
                region, earliest = self._region(cut, until, straddlers)
                derived = self._derive(region, cut, until, dedupe=True)
            tables = {
                name: self._write(name, derived.tables()[name], manifest, cut, earliest, straddlers, folder)
                for name in TABLES
            }
            funnel_tables, funnels = self._write_funnels(manifest, cut, until, folder)
            tables |= funnel_tables
        finally:
            self._release()
        per_day = per_day[[str(d)[:10] >= _day_key(cut) for d in per_day["day"]]]
        duplicates = {_day_key(d): int(n or 0) for d, n in zip(per_day["day"], per_day["duplicates"], strict=True)}
        read = int(per_day["rows"].fillna(0).sum())
        latest = per_day["latest"].max() if len(per_day) else None

        kept_days = {d: v for d, v in days.items() if until is None or d < _day_key(until)}
        for day, entry in kept_days.items():
            if day >= _day_key(cut):
                entry["duplicates"] = duplicates.get(day, 0)
            elif manifest is not None and day in manifest.days:
                entry["duplicates"] = manifest.days[day].get("duplicates", 0)
        watermark = manifest.watermark if manifest is not None else None
        if latest is not None and str(latest) != "NaT":
            latest = latest.to_pydatetime() if hasattr(latest, "to_pydatetime") else latest
            watermark = max(watermark, latest) if watermark else latest
        as_of = started if until is None else until.replace(tzinfo=timezone.utc)
        result = Manifest(
            version=version,
            schema_version=SCHEMA_VERSION,
            source=self.identity,
            engagement_event=self.engagement,
            watermark=watermark,
            as_of=as_of,
            refreshed_at=utc_now(),
            data_version=(base.data_version if base else 0) + 1,
            days=kept_days,
            feedback_days={d: n for d, n in feedback_days.items() if until is None or d < _day_key(until)},
            null_timestamps=null_timestamps,
            tables=tables,
            funnels=funnels,
            build={
                "cut": cut.isoformat(),
                "until": until.isoformat() if until else None,
                "events": read,
                "from": earliest.isoformat(),
            },
        )
        self.store.publish(result)
        return result, read

    def _derive(self, region: ir.Table, cut: datetime, until: datetime | None, dedupe: bool) -> Derived:
        feedback = self.source.feedback()
        feedback = feedback.filter(feedback.timestamp >= cut)
        if until is not None:
            feedback = feedback.filter(feedback.timestamp < until)
        return derive(region, feedback, engagement=self.engagement, dedupe=dedupe, hold=self._hold)

    def _write(
        self,
        name: str,
        fresh: ir.Table,
        manifest: Manifest | None,
        cut: datetime,
        earliest: datetime,
        straddlers: ir.Table | None,
        folder: Path,
    ) -> dict[str, list[str]]:
        """Write table ``name`` anew from the first part the region touches; return its files by month.

        What the region decides (see the module docstring) replaces the old rows; the old
        rows of the rewritten parts that it does not decide are kept.
        """
        schema, key = SCHEMAS[name], TIME_KEYS[name]
        cut_key: Any = int(slot_of(ibis.literal(cut)).execute()) if key.endswith("slot") else cut
        by_session = name in ("sessions", "user_slots")
        fresh = _typed(fresh, schema)
        if not by_session:
            fresh = fresh.filter(fresh[key] >= cut_key)
        first_part = _part_of(earliest if by_session else cut)
        kept: dict[str, list[str]] = {}
        if manifest is not None:
            kept, rewritten = _split_files(manifest.tables.get(name, {}), first_part)
            if name in ("first_seen", "users"):  # first times known from before the cut stay first
                fresh = self._new_firsts(name, fresh, manifest, cut)
            if rewritten:
                old = _typed(engines.read_files(self.backend, self.store.absolute(rewritten), schema), schema)
                old = old.filter(old[key] < cut_key)
                if by_session and straddlers is not None:
                    old = old.anti_join(straddlers.select("session_id"), "session_id")
                fresh = old.union(fresh)
        return self._write_parts(name, fresh, schema, key, kept, folder)

    def _write_parts(
        self, name: str, rows: ir.Table, schema: ibis.Schema, key: str, kept: dict[str, list[str]], folder: Path
    ) -> dict[str, list[str]]:
        """Write ``rows`` under ``folder/name``, one folder per part of ``key`` (UTC); return the
        files by month: ``kept`` plus the new ones."""
        moment = (rows[key] * 900).as_timestamp("s") if key.endswith("slot") else rows[key]
        rows = rows.mutate(part=_part_expr(moment))
        target = folder / name
        engines.write_partitioned(self.backend, rows, str(target), schema)
        written: dict[str, list[str]] = {month: list(files) for month, files in kept.items()}
        for path in engines.list_parquet(str(target)):
            relative = Path(path).relative_to(self.store.path).as_posix()
            written.setdefault(str(_file_part(relative) // 100), []).append(relative)
        return {month: sorted(files) for month, files in sorted(written.items())}

    def _write_funnels(
        self, manifest: Manifest | None, cut: datetime | None, until: datetime | None, folder: Path
    ) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, Any]]]:
        """Each catalog funnel's attempts table: ``({table: files by month}, manifest entries)``.

        A funnel the manifest holds under the same fingerprint is derived again from
        ``cut - window`` on (kept as it is when ``cut`` is None: no event changed); any other
        is built from the first event.
        """
        tables: dict[str, dict[str, list[str]]] = {}
        entries: dict[str, dict[str, Any]] = {}
        for fingerprint, stored in self.funnels.items():
            name = funnel_table(fingerprint)
            funnel = stored.definition
            known = manifest is not None and fingerprint in manifest.funnels
            if known and cut is None:
                tables[name] = manifest.tables.get(name, {})  # type: ignore[union-attr]
            else:
                since = cut - funnel.window if known and cut is not None else None
                if not known:
                    self.progress(f"funnel {funnel.name!r}: building its attempts from the first event")
                tables[name] = self._write_funnel(stored, name, manifest if known else None, since, until, folder)
            entries[fingerprint] = {"name": funnel.name, "table": name, "steps": len(funnel.steps)}
        return tables, entries

    def _write_funnel(
        self,
        funnel: StoredFunnel,
        name: str,
        manifest: Manifest | None,
        since: datetime | None,
        until: datetime | None,
        folder: Path,
    ) -> dict[str, list[str]]:
        """One funnel's attempts with step 1 from ``since`` on derived anew, earlier rows kept."""
        schema = funnel_schema(len(funnel.definition.steps))
        rows = funnel_attempts(funnel, self.source.events(), since, until, hold=self._holder(funnel))
        fresh = _typed(rows, schema)
        kept: dict[str, list[str]] = {}
        if manifest is not None and since is not None:
            kept, rewritten = _split_files(manifest.tables.get(name, {}), _part_of(since))
            if rewritten:
                old = _typed(engines.read_files(self.backend, self.store.absolute(rewritten), schema), schema)
                fresh = old.filter(old.start < since).union(fresh)
        return self._write_parts(name, fresh, schema, "start", kept, folder)

    def _funnels_only(
        self, manifest: Manifest, base: Manifest | None, started: datetime, clock: float
    ) -> RefreshResult:
        """No event changed but the catalog's funnels did: build the new ones, drop the old ones."""
        assert base is not None
        version = base.version + 1
        folder = self.store.version_folder(version)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            funnel_tables, funnels = self._write_funnels(manifest, None, None, folder)
        finally:
            self._release()
        stored = {name: files for name, files in manifest.tables.items() if name in TABLES}
        manifest.version = version
        manifest.data_version = base.data_version + 1
        manifest.as_of = started
        manifest.refreshed_at = utc_now()
        manifest.tables = stored | funnel_tables
        manifest.funnels = funnels
        manifest.build = {"funnels": sorted(f["name"] for f in funnels.values())}
        self.store.publish(manifest)
        self.progress(f"funnels changed: version {manifest.version}")
        return RefreshResult(
            str(self.store.path),
            "funnels",
            manifest.version,
            manifest.data_version,
            None,
            manifest.watermark,
            0,
            time.perf_counter() - clock,
        )

    def _new_firsts(self, name: str, fresh: ir.Table, manifest: Manifest, cut: datetime) -> ir.Table:
        """First-seen rows from the region minus those already known from before ``cut``."""
        old = engines.read_files(self.backend, self.store.absolute(manifest.files(name)), SCHEMAS[name])
        old = old.filter(old.first_ts < cut)
        keys = ["user_id", "event_name"] if name == "first_seen" else ["user_id"]
        return fresh.anti_join(old, keys)

    def _unchanged(
        self, manifest: Manifest | None, base: Manifest | None, started: datetime, null_timestamps: int, clock: float
    ) -> RefreshResult:
        assert manifest is not None and base is not None
        manifest.version = base.version + 1
        manifest.as_of = started
        manifest.refreshed_at = utc_now()
        manifest.null_timestamps = null_timestamps
        manifest.build = {"unchanged": True}
        self.store.publish(manifest)
        self.progress(f"no new or late events: version {manifest.version}, data as of {started:%Y-%m-%d %H:%M} UTC")
        return RefreshResult(
            str(self.store.path),
            "unchanged",
            manifest.version,
            manifest.data_version,
            None,
            manifest.watermark,
            0,
            time.perf_counter() - clock,
        )


def refresh(
    source: Any,
    store: RollupStore,
    *,
    engagement: str,
    full: bool = False,
    wait: float = 0.0,
    progress: Progress | None = None,
    chunk_events: int = CHUNK_EVENTS,
    funnels: Iterable[StoredFunnel] = (),
) -> RefreshResult:
    """Bring ``store`` up to date with ``source`` (see the module docstring).

    ``wait`` seconds are spent waiting for another refresh's lock before ``RefreshBusy``.
    ``funnels`` (``derive.StoredFunnel``, built by ``metrics.funnels.stored_funnels``) are the
    funnels whose attempts the store keeps (ordered and strict ones; unordered funnels are
    computed from the events); none by default.
    """
    store.path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(store.lock_path), thread_local=False)
    try:
        lock.acquire(timeout=wait)
    except Timeout as exc:
        raise RefreshBusy(f"another refresh of {store.path} is running (lock {store.lock_path})") from exc
    try:
        return _Refresh(source, store, engagement, progress or _quiet, chunk_events, funnels).run(full)
    finally:
        lock.release()
