"""Synthetic daily series with a known weekly cycle, for the detector and forecast tests."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pandas as pd

from fawkes_analytics.anomalies.kpis import KpiSpec
from fawkes_analytics.anomalies.series import DailySeries

_ids = itertools.count()
START = date(2026, 6, 1)  # a Monday
WEEKLY = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.4])  # Monday..Sunday, the demo's cycle
PAGEVIEWS = KpiSpec("pageviews", "Pageviews", "count", "", forecast=True)
BOUNCE = KpiSpec("bounce_rate", "Bounce rate", "rate", "%", higher_is_better=False, forecast=True)


def daily(kpi: KpiSpec, values: np.ndarray, base: np.ndarray | None = None, start: date = START) -> DailySeries:
    """A series of ``values`` from ``start``, one per day, all final."""
    days = [start + timedelta(days=i) for i in range(len(values))]
    base = np.full(len(values), 1000.0) if base is None else base
    return DailySeries(kpi, pd.DataFrame({"day": days, "value": values, "base": base, "final": True}))


def event(user: str, at: str, name: str) -> dict[str, object]:
    """One canonical event row at ``at`` (UTC); ids in creation order."""
    return {
        "event_id": f"e{next(_ids):06d}",
        "timestamp": pd.Timestamp(at, tz="UTC"),
        "user_id": user,
        "event_name": name,
    }


def weekly_counts(days: int, level: float = 40_000.0, noise: float = 0.02, seed: int = 1) -> np.ndarray:
    """``level`` times the weekly cycle, times lognormal noise of ``noise`` (a fixed seed)."""
    rng = np.random.default_rng(seed)
    cycle = WEEKLY[np.arange(days) % 7]
    return level * cycle * np.exp(rng.normal(0.0, noise, days))
