"""Which days of a daily KPI series are unusual, given its weekly cycle and its trend.

The rule, for every day ``t`` that is judged (docs/anomalies.md gives the reasons):

1. Expected value. A robust STL decomposition (statsmodels, period 7) of the
   ``history_days`` days before ``t`` (never ``t`` itself, nor any later day) splits them
   into trend, weekly cycle and remainder; robust (bisquare) weights keep earlier anomalies
   out of the fit. The expected value of ``t`` is the last trend value plus the cycle's
   value on the same weekday one week earlier: a one-step-ahead forecast, so what a day is
   compared with never depends on that day, and a verdict never changes later.
   Counts and durations are modelled on the log scale (their cycle and noise grow with the
   level), rates and NPS as they are.
2. Error. ``e_t`` = value - expected (log scale: the log of observed / expected), weighed
   by ``sqrt(base_t / median base)`` (``base``: the visits, users, entrants or responses
   behind the value): a day with half the usual people is twice as noisy, so weekend days
   and quiet days are not flagged just for being small.
3. Scale. The robust residual scale at ``t`` is 1.4826 * the median absolute weighed error
   of the ``scale_days`` judged days before ``t`` (MAD about 0; 1.4826 makes it a standard
   deviation for normal errors). It is estimated from one-step-ahead errors, not from STL's
   in-sample remainder, which is three times smaller and would flag ordinary days.
4. Verdict. ``z_t`` = weighed error / scale. The day is flagged when ``|z_t|`` reaches the
   KPI's threshold (its sensitivity, ``SENSITIVITY``). ``z_t`` is the flag's strength.

A day is not judged, and says why, when its value is missing (``no_data``), not final yet
(``not_final``: a funnel day whose conversion window is still open), or when fewer than
``min_history_days`` days of history, or fewer than ``min_scale_days`` earlier errors, exist
(``not_enough_history``): never a flag on too little evidence. Missing days inside the
history (no responses, no entrants) are filled by linear interpolation for the fit, up to
``max_missing_share`` of the history.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .kpis import KpiSpec
from .series import DailySeries

OK, FLAGGED, NOT_ENOUGH_HISTORY, NO_DATA, NOT_FINAL = "ok", "flagged", "not_enough_history", "no_data", "not_final"
SENSITIVITY = {"low": 5.0, "medium": 4.0, "high": 3.5}  # robust z a day must reach to be flagged
MAD_TO_SD = 1.4826
LOG_FLOOR = 0.5  # a count of 0 is read as 0.5 on the log scale


@dataclass(frozen=True)
class Method:
    """The detector's settings (defaults measured in bench/bench_anomalies.py)."""

    period: int = 7
    history_days: int = 84
    min_history_days: int = 28
    scale_days: int = 56
    min_scale_days: int = 14
    seasonal: int = 21  # STL seasonal smoother (odd): the weekly cycle changes slowly
    trend: int = 43  # STL trend smoother (odd): about six weeks
    robust_iterations: int = 5
    max_missing_share: float = 0.2

    @property
    def warm_up_days(self) -> int:
        """Days of series needed before the first day that can be judged."""
        return self.min_history_days + self.min_scale_days

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def threshold_of(sensitivity: str | float) -> float:
    """The robust z threshold of a sensitivity level ("low", "medium", "high") or number."""
    if isinstance(sensitivity, str):
        return SENSITIVITY[sensitivity]
    return float(sensitivity)


def _transform(kpi: KpiSpec, values: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(values, LOG_FLOOR)) if kpi.log_scale else values.astype(float)


def _untransform(kpi: KpiSpec, values: np.ndarray | float) -> np.ndarray | float:
    return np.exp(values) if kpi.log_scale else values


def _expected(history: np.ndarray, method: Method) -> float | None:
    """One-step-ahead expected value (transformed scale) from the days before, or None.

    Memoised on the history's values: a long-lived process (dashboards, the API server, the
    scheduler) judging the same days again refits nothing,
    and a day's expectation depends on nothing but those values and the method.
    """
    return _expected_of(np.ascontiguousarray(history, dtype=float).tobytes(), method)


@lru_cache(maxsize=16_384)  # about 11 MB of 84-day histories
def _expected_of(raw: bytes, method: Method) -> float | None:
    history = np.frombuffer(raw, dtype=float)
    known = np.flatnonzero(~np.isnan(history))
    if len(known) == 0:
        return None
    history = history[known[0] :]  # the days before the data began are no history
    usable = ~np.isnan(history)
    if usable.sum() < method.min_history_days or 1 - usable.mean() > method.max_missing_share:
        return None
    if not usable.all():
        index = np.arange(len(history))
        history = np.interp(index, index[usable], history[usable])
    from statsmodels.tsa.seasonal import STL  # loaded with the first fit: a kept answer needs none

    fit = STL(
        history, period=method.period, seasonal=method.seasonal, seasonal_deg=0, trend=method.trend, robust=True
    ).fit(outer_iter=method.robust_iterations)
    return float(fit.trend[-1] + fit.seasonal[-method.period])


def judge(
    series: DailySeries,
    threshold: float,
    first_day: date | None = None,
    method: Method = Method(),  # noqa: B008 - a frozen value object
) -> pd.DataFrame:
    """Judge every final day of ``series`` from ``first_day`` on (default: all).

    Returns one row per day of the series: ``day, observed, expected, lower, upper, z,
    status`` where ``lower``/``upper`` bound the values that would not have been flagged
    (NaN where the day is not judged) and ``status`` is one of ``ok``, ``flagged``,
    ``not_enough_history``, ``no_data``, ``not_final``. Days before ``first_day`` are only
    computed as far as the scale needs them (``scale_days`` earlier errors) and reported
    with their status.
    """
    frame = series.frame
    days = list(frame["day"])
    kpi = series.kpi
    observed = frame["value"].to_numpy(float)
    final = frame["final"].to_numpy(bool)
    base = frame["base"].to_numpy(float)
    x = _transform(kpi, observed)
    x[~final] = np.nan  # a value that may still change is never history either
    n = len(days)
    start = 0 if first_day is None else next((i for i, d in enumerate(days) if d >= first_day), n)
    compute_from = max(0, start - method.scale_days)

    expected = np.full(n, np.nan)
    error = np.full(n, np.nan)  # weighed one-step-ahead errors
    weight = np.full(n, np.nan)
    for t in range(compute_from, n):
        if np.isnan(x[t]):
            continue
        lo = max(0, t - method.history_days)
        guess = _expected(x[lo:t], method)
        if guess is None:
            continue
        bases = base[lo:t][~np.isnan(x[lo:t])]
        typical = float(np.median(bases)) if len(bases) else 0.0
        weight[t] = math.sqrt(min(max(base[t] / typical, 1 / 16), 16)) if typical > 0 and base[t] > 0 else 1.0
        expected[t] = guess
        error[t] = (x[t] - guess) * weight[t]

    z = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    upper = np.full(n, np.nan)
    status = []
    for t in range(n):
        if not final[t]:
            status.append(NOT_FINAL)
            continue
        if np.isnan(observed[t]):
            status.append(NO_DATA)
            continue
        past = error[max(0, t - method.scale_days) : t]
        past = past[~np.isnan(past)]
        if np.isnan(error[t]) or len(past) < method.min_scale_days:
            status.append(NOT_ENOUGH_HISTORY)
            continue
        scale = MAD_TO_SD * float(np.median(np.abs(past)))
        if scale <= 0:
            status.append(NOT_ENOUGH_HISTORY)  # a constant series: nothing to measure noise by
            continue
        z[t] = error[t] / scale
        half = threshold * scale / weight[t]
        lower[t] = _untransform(kpi, expected[t] - half)
        upper[t] = _untransform(kpi, expected[t] + half)
        status.append(FLAGGED if abs(z[t]) >= threshold else OK)
    return pd.DataFrame(
        {
            "day": days,
            "observed": observed,
            "expected": np.where(np.isnan(expected), np.nan, _untransform(kpi, expected)),
            "lower": lower,
            "upper": upper,
            "z": z,
            "status": status,
        }
    )


def change_of(kpi: KpiSpec, observed: float, expected: float) -> float:
    """The change from expected to observed: percent for counts and durations, points otherwise."""
    if kpi.change_unit == "percent":
        return 100.0 * (observed - expected) / expected if expected else math.inf
    return observed - expected
