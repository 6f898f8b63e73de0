"""An append-only events log in a real DuckDB file, and a comparison of every metric family.

The log is written with DuckDB directly (not through schema validation), so tests can put
in what a real warehouse may hold: rows without a user or a time, duplicated event ids,
events that arrive late.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from fawkes_analytics import catalog as catalog_module
from fawkes_analytics import metrics, timerange
from fawkes_analytics.rollups import RollupStore, refresh_source
from fawkes_analytics.rollups.tables import RawTables, StoreTables, forget, tables_for
from fawkes_analytics.sources.ibis_source import open_duckdb

EVENT_COLUMNS = {
    "event_id": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "user_id": "VARCHAR",
    "event_name": "VARCHAR",
    "page": "VARCHAR",
    "referrer": "VARCHAR",
    "source": "VARCHAR",
    "utm_source": "VARCHAR",
    "utm_medium": "VARCHAR",
    "utm_campaign": "VARCHAR",
    "properties": "VARCHAR",
}
FEEDBACK_COLUMNS = {
    "user_id": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "score": "BIGINT",
    "kind": "VARCHAR",
    "comment": "VARCHAR",
    "category": "VARCHAR",
}
CATALOG_TEXT = """
features:
  - {name: deploy, events: [deploy]}
  - {name: docs, events: [read_docs]}
funnels:
  - name: onboarding
    steps: [sign_up, deploy]
"""


class EventLog:
    """Events and feedback in a DuckDB file that grows between refreshes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        con = duckdb.connect(str(path))
        # event_name NOT NULL, as in the demo file: engines type such columns differently
        columns = ", ".join(f'"{c}" {t}' + (" NOT NULL" if c == "event_name" else "") for c, t in EVENT_COLUMNS.items())
        con.execute(f"CREATE TABLE events ({columns})")
        con.execute("CREATE TABLE feedback (" + ", ".join(f'"{c}" {t}' for c, t in FEEDBACK_COLUMNS.items()) + ")")
        con.close()

    def append(self, events: pd.DataFrame, feedback: pd.DataFrame | None = None) -> None:
        con = duckdb.connect(str(self.path))
        for name, frame, columns in (("events", events, EVENT_COLUMNS), ("feedback", feedback, FEEDBACK_COLUMNS)):
            if frame is None or frame.empty:
                continue
            frame = frame.reindex(columns=list(columns))
            con.register("incoming", frame)
            con.execute(f"INSERT INTO {name} SELECT * FROM incoming")
            con.unregister("incoming")
        con.close()

    def source(self) -> Any:
        """A fresh read-only connection (DuckDB shows a file's later writes only to new ones)."""
        return open_duckdb(self.path)

    @property
    def store(self) -> RollupStore:
        return RollupStore(self.path.with_suffix(".rollups"))

    def refresh(self, **options: Any) -> Any:
        forget()
        return refresh_source(self.source(), **options)


def random_events(seed: int, start: datetime, days: int, users: int = 8, rate: int = 40) -> pd.DataFrame:
    """Events with the mess the rules care about: gaps near 30 minutes, ties, engagement events."""
    rng = np.random.default_rng(seed)
    start = start.replace(tzinfo=None)  # naive UTC, the storage convention
    rows = []
    names = ["pageview"] * 6 + ["engagement"] * 2 + ["deploy", "read_docs", "sign_up"]
    pages = ["/", "/docs", "/apps", None]
    for u in range(users):
        t = start + timedelta(minutes=int(rng.integers(0, 600)))
        end = start + timedelta(days=days)
        while t < end and len(rows) < 100_000:
            gap = rng.choice(
                [0, 5, 60, 29 * 60, 30 * 60, 31 * 60, 3 * 3600, 20 * 3600],
                p=[0.05, 0.3, 0.3, 0.08, 0.07, 0.08, 0.07, 0.05],
            )
            t = t + timedelta(seconds=int(gap), microseconds=int(rng.integers(0, 3)) * 250_000)
            rows.append(
                {
                    "timestamp": t,
                    "user_id": f"u{u}",
                    "event_name": str(rng.choice(names)),
                    "page": pages[int(rng.integers(0, len(pages)))],
                    "referrer": str(rng.choice(["news.example", "search.example"])) if rng.random() < 0.2 else None,
                    "utm_campaign": "spring" if rng.random() < 0.1 else None,
                }
            )
            if rng.random() < 1 / rate:
                break
    frame = pd.DataFrame(rows)
    frame["event_id"] = [f"s{seed}-e{i}" for i in range(len(frame))]
    return frame


def random_feedback(seed: int, start: datetime, days: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1000)
    start = start.replace(tzinfo=None)
    n = 12
    return pd.DataFrame(
        {
            "user_id": [f"u{int(i)}" for i in rng.integers(0, 8, n)],
            "timestamp": [start + timedelta(minutes=int(m)) for m in rng.integers(0, days * 1440, n)],
            "score": rng.integers(0, 11, n).astype("int64"),
            "kind": rng.choice(["nps", "rating"], n),
            "category": rng.choice(["docs", None], n),
        }
    )


def write_catalog(folder: Path) -> Path:
    path = folder / "analytics.yaml"
    path.write_text(CATALOG_TEXT, encoding="utf-8")
    return path


def families(source: Any, ranges: Iterable[timerange.TimeRange]) -> dict[str, Any]:
    """Every metric family the rollups serve, for each range, as plain JSON-ready values."""
    cat = catalog_module.load()
    out: dict[str, Any] = {}
    for tr in ranges:
        key = f"{tr.start:%Y%m%d%H%M}-{tr.end:%Y%m%d%H%M}-{tr.tz}"
        out[key] = {
            "usage": metrics.usage_trends(source, tr).to_dict(),
            "adoption": metrics.feature_adoption(source, cat, tr).to_dict(),
            "segments": metrics.user_segments(source, cat, tr).to_dict(),
            "retention": metrics.retention(source, tr, period="day").to_dict(),
            "lifecycle": metrics.lifecycle(source, tr, period="day").to_dict(),
            "feedback": metrics.feedback_summary(source, tr).to_dict(),
        }
    return out


def assert_same(left: Any, right: Any, where: str = "") -> None:
    """Equal structures; floats equal up to summation order (1e-9 relative)."""
    if isinstance(left, dict) and isinstance(right, dict):
        assert set(left) == set(right), f"{where}: keys {sorted(set(left) ^ set(right))}"
        for key in left:
            assert_same(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, list) and isinstance(right, list):
        assert len(left) == len(right), f"{where}: {len(left)} vs {len(right)} items"
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(left, float) and isinstance(right, float):
        assert math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {left} != {right}"
    else:
        assert left == right, f"{where}: {left!r} != {right!r}"


def raw_families(log: EventLog, ranges: list[timerange.TimeRange], monkeypatch: Any) -> dict[str, Any]:
    """The same families computed from the raw events (no store)."""
    with monkeypatch.context() as patch:
        patch.setenv("FAWKES_ANALYTICS_ROLLUPS", "off")
        forget()
        source = log.source()
        assert isinstance(tables_for(source), RawTables)
        result = families(source, ranges)
    forget()
    return result


def store_families(log: EventLog, ranges: list[timerange.TimeRange]) -> dict[str, Any]:
    """The families read from the rollup store (which must cover every range)."""
    forget()
    source = log.source()
    assert all(isinstance(tables_for(source, tr.end), StoreTables) for tr in ranges)
    return families(source, ranges)


def store_tables(log: EventLog) -> dict[str, pd.DataFrame]:
    """Every derived table of the newest store version, sorted, for exact comparison."""
    from fawkes_analytics.rollups.derive import TABLES

    forget()
    tables = tables_for(log.source())
    assert isinstance(tables, StoreTables)
    out = {}
    for name in TABLES:
        frame = tables.table(name).execute()
        out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
