"""How good the flags and forecasts are, measured the way bench/bench_anomalies.py reports them.

Forecasts: rolling origin. From each origin (the last one ``horizon`` days before the end of
the final values, then every ``step`` days earlier) the model sees only the days before the
origin and forecasts ``horizon`` days, which are compared with what happened:

- MASE (Hyndman & Koehler 2006): mean absolute error divided by the in-sample mean absolute
  error of the one-week seasonal-naive forecast on the training days; the seasonal-naive
  forecast itself (each day repeats the same weekday of the last week) is scored the same
  way, so "MASE below the seasonal-naive forecast" compares the two numbers;
- coverage: the share of actual values inside the prediction interval.

Flags: precision is the share of flags that fall on a (KPI, day) the injection really
changed (by at least ``moved_share`` of the clean value, or ``moved_points`` for NPS); recall
the share of injected anomalies flagged on their (first) day for their KPI. The sampling
floor (``sampling_floor``) bounds what any one-day method could do: the smallest change a
day's binomial (rates), Poisson (counts) or per-response (NPS) noise lets through at the
z that the false-alarm target allows; ``oracle_detection`` the chance that a detector knowing
the day's true value flags an anomaly of a given size there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

from .forecast import ForecastSettings, forecast_series, seasonal_naive
from .series import DailySeries


@dataclass(frozen=True)
class ForecastScore:
    """Rolling-origin scores of one KPI (``points``: forecast days compared)."""

    kpi: str
    origins: int
    points: int
    mase: float
    mase_seasonal_naive: float
    coverage: float


def _final_values(series: DailySeries) -> pd.DataFrame:
    frame = series.frame[series.frame["final"]]
    known = frame.index[frame["value"].notna()]
    return frame.loc[known[0] : known[-1]].reset_index(drop=True) if len(known) else frame.iloc[0:0]


def backtest_forecast(
    series: DailySeries,
    origins: int = 10,
    step: int = 7,
    settings: ForecastSettings = ForecastSettings(),  # noqa: B008 - a frozen value object
) -> ForecastScore:
    """Score ``forecast_series`` on ``series`` from up to ``origins`` rolling origins."""
    frame = _final_values(series)
    values = frame["value"].to_numpy(float)
    h = settings.horizon
    errors, naive_errors, inside = [], [], []
    used = 0
    for k in range(origins):
        origin = len(values) - h - k * step
        train = values[:origin]
        train_known = train[~np.isnan(train)]
        if origin < settings.min_history_days + 7 or len(train_known) < settings.min_history_days:
            break
        past = DailySeries(series.kpi, frame.iloc[:origin].reset_index(drop=True))
        result = forecast_series(past, settings)
        if result.status != "ok":
            break
        actual = values[origin : origin + h]
        seasonal_diffs = np.abs(train[7:] - train[:-7])
        scale = float(np.nanmean(seasonal_diffs))
        if not scale > 0:
            break
        recent = pd.Series(train).interpolate(limit_direction="both").to_numpy()
        naive = seasonal_naive(recent, h)
        known = ~np.isnan(actual)
        errors.extend(np.abs(actual - result.points["forecast"].to_numpy())[known] / scale)
        naive_errors.extend(np.abs(actual - naive)[known] / scale)
        lower, upper = result.points["lower"].to_numpy(), result.points["upper"].to_numpy()
        inside.extend(((actual >= lower) & (actual <= upper))[known])
        used += 1
    if not errors:
        return ForecastScore(series.kpi.name, 0, 0, float("nan"), float("nan"), float("nan"))
    return ForecastScore(
        series.kpi.name,
        used,
        len(errors),
        float(np.mean(errors)),
        float(np.mean(naive_errors)),
        float(np.mean(inside)),
    )


@dataclass(frozen=True)
class InjectedChange:
    """One injected anomaly as the scoring sees it: its KPI and the days it covers."""

    kpi: str
    kind: str
    size: float
    days: tuple[date, ...]

    @property
    def first_day(self) -> date:
        return self.days[0]


@dataclass(frozen=True)
class DetectionScore:
    flags: int
    true_flags: int
    injected: int
    detected: int

    @property
    def precision(self) -> float:
        return self.true_flags / self.flags if self.flags else float("nan")

    @property
    def recall(self) -> float:
        return self.detected / self.injected if self.injected else float("nan")


def moved_days(
    clean: dict[str, DailySeries],
    injected: dict[str, DailySeries],
    moved_share: float = 0.10,
    moved_points: float = 10.0,
) -> set[tuple[str, date]]:
    """(KPI, day) pairs whose value differs between the clean and the injected data.

    Counts, durations and rates: by at least ``moved_share`` of the clean value; NPS (whose
    relative change means nothing around 0) by at least ``moved_points``. A day with a value
    in one series only counts as moved.
    """
    out = set()
    for name, series in injected.items():
        a = clean[name].frame.set_index("day")["value"]
        b = series.frame.set_index("day")["value"]
        a, b = a.align(b)
        for day, (x, y) in pd.DataFrame({"a": a, "b": b}).iterrows():  # one row per day: small
            if np.isnan(x) and np.isnan(y):
                continue
            if np.isnan(x) or np.isnan(y):
                out.add((name, day))
            elif series.kpi.kind == "score":
                if abs(y - x) >= moved_points:
                    out.add((name, day))
            elif abs(y - x) >= moved_share * abs(x):
                out.add((name, day))
    return out


def score_detection(
    flags: Iterable[tuple[str, date]],
    injected: Iterable[InjectedChange],
    moved: set[tuple[str, date]],
) -> DetectionScore:
    """Precision of ``flags`` against the days the injection changed, recall on the injections."""
    flagged = set(flags)
    changes = list(injected)
    targets = {(c.kpi, d) for c in changes for d in c.days}
    true_flags = sum(1 for f in flagged if f in moved or f in targets)
    detected = sum(1 for c in changes if (c.kpi, c.first_day) in flagged)
    return DetectionScore(len(flagged), true_flags, len(changes), detected)


# One false alarm per 90 judged days, two-sided, under normal noise: |z| >= 2.54. A detector
# may not flag on less evidence than this and still meet the false-alarm target.
BUDGET_Z = float(norm.isf(1 / 180))


def sampling_floor(
    kind: str, value: float, base: float, z: float = BUDGET_Z, response_sd: float | None = None
) -> float:
    """The smallest one-day change that sampling noise alone lets any detector flag at ``z``.

    A method-independent detection limit: even a detector that knew the day's true value
    exactly sees the day's sampling noise. ``value`` is the KPI's true value (a rate in
    percent, or an NPS), ``base`` the day's people (trials, responses). Returned relative to
    ``value`` for rates (binomial: ``z * sqrt(p (1 - p) / n) / p``) and counts (Poisson:
    ``z / sqrt(n)``), in points for NPS (``z * response_sd / sqrt(n)``, where ``response_sd``
    is the standard deviation of one response scored +100 / 0 / -100). Durations: NaN (no
    sampling model). Infinite when the day has no base.
    """
    if not base > 0:
        return float("inf")
    if kind == "rate":
        p = value / 100.0
        return z * math.sqrt(p * (1 - p) / base) / p if 0 < p < 1 else float("inf")
    if kind == "count":
        return z / math.sqrt(base)
    if kind == "score" and response_sd is not None:
        return z * response_sd / math.sqrt(base)
    return float("nan")


def oracle_detection(size: float, floor: float, z: float = BUDGET_Z) -> float:
    """The chance that an oracle detector flags an anomaly of ``size`` on a day whose sampling
    floor (at ``z``) is ``floor`` (both in the same unit).

    The oracle knows the day's true value and its noise exactly (normal, SD ``floor / z``) and
    flags at ``z`` in the anomaly's direction: it sees ``size`` plus noise and flags when that
    reaches ``floor``, with probability Phi(z * size / floor - z). No one-day detector that
    keeps to the false-alarm target can expect to do better; a real one estimates the expected
    value from noisy history and needs a higher threshold (noise tails heavier than normal).
    """
    if math.isnan(floor):
        return 1.0  # no sampling model (durations): counted as seen
    if math.isinf(floor):
        return 0.0
    return float(norm.cdf(z * abs(size) / floor - z))


def nps_response_sd(promoters: int, detractors: int, responses: int) -> float:
    """Standard deviation of one NPS response scored +100 (promoter), 0, -100 (detractor)."""
    if not responses:
        return float("nan")
    up, down = promoters / responses, detractors / responses
    return 100.0 * math.sqrt(up + down - (up - down) ** 2)
