"""Sources backed by an Ibis backend: DuckDB (the default), Spark, and any Ibis URL."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from .. import schema, settings
from ..errors import SourceUnavailable
from .base import Source, redact_text, redact_url

META_TABLE = "fawkes_meta"


class IbisSource(Source):
    """Canonical tables stored in an Ibis backend under their canonical names."""

    def __init__(
        self,
        backend: Any,
        url: str,
        kind: str | None = None,
        tables: dict[str, str] | None = None,
        path: Path | None = None,
    ) -> None:
        self.backend = backend
        self.url = url
        self.kind = kind or backend.name
        self.table_names = {"events": "events", "assignments": "assignments", "feedback": "feedback", **(tables or {})}
        self.path = path  # the database file, for file-based sources

    @property
    def identity(self) -> str:
        """What names this source in a rollup store's manifest (never a secret)."""
        return str(self.path.resolve()) if self.path is not None else redact_url(self.url)

    @property
    def rollups_location(self) -> Path | None:
        """Where this source's rollup store lives (``settings.rollups_location``)."""
        return settings.rollups_location(self.path)

    def _table(self, name: str) -> ir.Table:
        stored = self.table_names[name]
        if "." in stored:  # a qualified name in a catalog (Spark): the engine says if it is there
            database, table_name = stored.rsplit(".", 1)
            return self.backend.table(table_name, database=database)
        if stored not in self.backend.list_tables():
            # An absent optional table reads as empty so a report can say "no data".
            if name == "events":
                raise SourceUnavailable(f"source {redact_url(self.url)}: table '{stored}' not found")
            return schema.as_memtable(name, schema.empty_frame(name))
        table = self.backend.table(stored)
        schema.check_columns(
            name, {k: str(v) for k, v in table.schema().items()}, where=f"source {redact_url(self.url)}"
        )
        return table

    @cached_property
    def _events(self) -> ir.Table:
        return self._table("events")

    def events(self) -> ir.Table:
        return self._events

    def assignments(self) -> ir.Table:
        return self._table("assignments")

    def feedback(self) -> ir.Table:
        return self._table("feedback")

    @cached_property
    def meta(self) -> dict[str, str]:
        """Key/value metadata the demo generator writes (empty for other sources)."""
        if META_TABLE not in self.backend.list_tables():
            return {}
        frame = self.backend.table(META_TABLE).to_pandas()
        return dict(zip(frame["key"], frame["value"], strict=True))

    @property
    def is_demo(self) -> bool:  # type: ignore[override]
        return self.meta.get("demo") == "true"

    @cached_property
    def _as_of(self) -> datetime | None:
        latest = self.events().timestamp.max().execute()
        if latest is None or str(latest) == "NaT":
            return None
        return (
            latest.to_pydatetime().replace(tzinfo=timezone.utc)
            if hasattr(latest, "to_pydatetime")
            else latest.replace(tzinfo=timezone.utc)
        )

    def data_as_of(self) -> datetime | None:
        """The newest event: from the rollup store's manifest when there is one, else a query."""
        from ..rollups.tables import engagement_event, store_tables

        stored = store_tables(self, engagement_event(None))
        if stored is not None and stored.manifest.watermark is not None:
            return stored.manifest.watermark.replace(tzinfo=timezone.utc)
        return self._as_of

    def default_as_of(self) -> datetime:
        """The anchor of named ranges: the demo's end, else what the rollup store vouches for, else now."""
        if self.is_demo and self.meta.get("end"):
            return datetime.fromisoformat(self.meta["end"])
        from ..rollups.tables import engagement_event, store_tables

        stored = store_tables(self, engagement_event(None))
        if stored is not None:
            return stored.manifest.as_of
        return datetime.now(timezone.utc)


def open_duckdb(path: str | Path, read_only: bool = True) -> IbisSource:
    """Open a DuckDB file; read-only by default so several reports can read at once."""
    path = Path(path)
    if not path.exists():
        raise SourceUnavailable(
            f"DuckDB file {path} does not exist (run `make run` or `fawkes-analytics demo-data` to create the demo data)"
        )
    backend = ibis.duckdb.connect(str(path), read_only=read_only)
    backend.raw_sql("SET enable_progress_bar = false")  # progress bars would litter notebook output
    from ..rollups.engines import configure

    configure(backend)
    return IbisSource(backend, f"duckdb://{path}", "duckdb", path=path)


def open_ibis_url(url: str) -> IbisSource:
    """Open ``duckdb://path`` or any other URL that ``ibis.connect`` understands.

    A relative DuckDB path is taken from where the user ran the command (``settings.workdir``),
    also inside a report kernel, which runs in notebooks/.
    """
    if url.startswith("duckdb://"):
        return open_duckdb(settings.local_path(url.removeprefix("duckdb://")))
    try:
        backend = ibis.connect(url)
    except Exception as exc:  # the backend's own error type varies per driver
        raise SourceUnavailable(f"cannot connect to {redact_url(url)}: {redact_text(str(exc))}") from exc
    return IbisSource(backend, url)
