"""Helpers for hand-built metric scenarios: compact event rows and fixed time ranges."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pandas as pd
import pytest

from fawkes_analytics.metrics import clear_cache
from fawkes_analytics.timerange import TimeRange, resolve

_ids = itertools.count()


def event(user: str, at: str, name: str = "pageview", page: str | None = "/", **extra: object) -> dict[str, object]:
    """One canonical event row; ``at`` is UTC ('2026-03-01 10:00:00')."""
    row: dict[str, object] = {
        "event_id": f"e{next(_ids)}",
        "timestamp": pd.Timestamp(at, tz="UTC"),
        "user_id": user,
        "event_name": name,
        "page": page,
    }
    row.update(extra)
    return row


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def span(start: str, end: str, tz: str = "UTC") -> TimeRange:
    """A custom range with start/end read in ``tz``."""
    return resolve(start=start, end=end, tz=tz)


@pytest.fixture(autouse=True)
def _fresh_session_cache() -> None:
    """Materialised sessions are cached per source; start each test clean."""
    clear_cache()


@pytest.fixture
def events_source(make_source: Callable[..., object]) -> Callable[..., object]:
    """``events_source(rows, engine='duckdb', feedback=None)`` builds a source from event rows."""

    def build(rows: list[dict[str, object]], engine: str = "duckdb", **frames: pd.DataFrame) -> object:
        return make_source(engine=engine, events=frame(*rows), **frames)

    return build
