"""Where a daily KPI is heading: a 14-day forecast with an 80% prediction interval.

Method: exponential smoothing with a damped additive trend and an additive weekly cycle,
ETS(A,Ad,A) in Hyndman's taxonomy, with statsmodels' ``ETSModel`` (already a dependency):
the smoothing parameters by maximum likelihood, the initial level, trend and cycle by
Hyndman's heuristic (four parameters to fit instead of thirteen: as accurate here, and
several times faster); the interval is the model's exact prediction interval.
Counts and durations are modelled on the log scale (so the weekly cycle is a share of the
level and the interval cannot go below 0), rates as they are, clipped to 0-100%. Why this
model and not STL forecasting or statsforecast: docs/anomalies.md (it had the lowest MASE and
intervals nearest their nominal coverage on the demo data, bench/bench_anomalies.py).

The model is fitted on the last ``history_days`` final days; missing days inside them (no
entrants) are filled by linear interpolation; a funnel's days still inside the conversion
window are not used, so its forecast starts after its last final day. Exponential smoothing
is not robust: one outage day would pull the level and the weekly cycle down for weeks. So,
as R's ``forecast::tsclean`` does, isolated outlying days (a robust STL remainder beyond 5
robust standard deviations; runs of at most ``max_outlier_run`` days) are replaced by their
trend plus weekly cycle before fitting. The last ``keep_recent_days`` days are never
replaced, nor are longer runs: they may be a new level, which the forecast must follow.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from .detect import MAD_TO_SD, Method
from .kpis import RATE, KpiSpec
from .results import FORECAST_COLUMNS, KpiForecast
from .series import DailySeries

METHOD = "ETS(A,Ad,A), weekly cycle, statsmodels ETSModel"
OK, NOT_ENOUGH_HISTORY = "ok", "not_enough_history"


@dataclass(frozen=True)
class ForecastSettings:
    horizon: int = 14
    level: float = 0.8
    history_days: int = 168
    min_history_days: int = 28
    max_missing_share: float = 0.2
    max_outlier_run: int = 2
    keep_recent_days: int = 3
    outlier_mads: float = 5.0


def _empty(kpi: KpiSpec, settings: ForecastSettings, message: str, last_day=None) -> KpiForecast:  # noqa: ANN001
    points = pd.DataFrame({c: pd.Series(dtype="float64") for c in FORECAST_COLUMNS})
    points["day"] = pd.Series(dtype="object")
    return KpiForecast(kpi, NOT_ENOUGH_HISTORY, METHOD, settings.level, last_day, points, message)


def training_values(series: DailySeries, settings: ForecastSettings) -> tuple[pd.Series, str]:
    """The final values the model learns from (indexed by day), or an empty series and why."""
    frame = series.frame[series.frame["final"]]
    if frame["value"].notna().sum() == 0:
        return pd.Series(dtype="float64"), "no final values yet"
    last = frame.index[frame["value"].notna()][-1]
    frame = frame.loc[:last].tail(settings.history_days)
    first = frame.index[frame["value"].notna()][0]
    frame = frame.loc[first:]
    values = pd.Series(frame["value"].to_numpy(float), index=pd.DatetimeIndex(pd.to_datetime(frame["day"]), freq="D"))
    if len(values) < settings.min_history_days:
        return pd.Series(dtype="float64"), f"{len(values)} days of history, {settings.min_history_days} needed"
    missing = values.isna().mean()
    if missing > settings.max_missing_share:
        return pd.Series(dtype="float64"), f"{missing:.0%} of the history days have no value"
    return values.interpolate(limit_area="inside"), ""


def without_outliers(y: pd.Series, settings: ForecastSettings) -> pd.Series:
    """``y`` with isolated outlying days replaced by their robust STL trend + weekly cycle.

    Outlying: a remainder beyond ``outlier_mads`` robust standard deviations (1.4826 x MAD)
    of the remainders, with the detector's smooth STL settings (so ordinary days are not
    fitted away and their remainders measure the noise).
    """
    from statsmodels.tsa.seasonal import STL

    method = Method()
    fit = STL(
        y.to_numpy(float), period=7, seasonal=method.seasonal, seasonal_deg=0, trend=method.trend, robust=True
    ).fit()
    scale = MAD_TO_SD * float(np.median(np.abs(fit.resid - np.median(fit.resid))))
    outlying = np.abs(fit.resid) > settings.outlier_mads * scale if scale > 0 else np.zeros(len(y), bool)
    cleaned = y.to_numpy(float).copy()
    last_allowed = len(y) - settings.keep_recent_days
    i = 0
    while i < len(y):
        if not outlying[i]:
            i += 1
            continue
        j = i
        while j < len(y) and outlying[j]:
            j += 1
        if j - i <= settings.max_outlier_run and j <= last_allowed:
            cleaned[i:j] = fit.trend[i:j] + fit.seasonal[i:j]
        i = j
    return pd.Series(cleaned, index=y.index)


def forecast_series(series: DailySeries, settings: ForecastSettings = ForecastSettings()) -> KpiForecast:  # noqa: B008
    """Forecast ``settings.horizon`` days after the last final day of ``series``."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    kpi = series.kpi
    values, why = training_values(series, settings)
    if values.empty:
        return _empty(kpi, settings, f"not enough history: {why}")
    y = without_outliers(np.log(np.maximum(values, 0.5)) if kpi.log_scale else values, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short or flat series
        model = ETSModel(
            y,
            error="add",
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=7,
            initialization_method="heuristic",
        )
        fitted = model.fit(disp=False)
        n = len(y)
        frame = fitted.get_prediction(start=n, end=n + settings.horizon - 1).summary_frame(alpha=1 - settings.level)
    mean = frame["mean"].to_numpy(float)
    lower, upper = frame["pi_lower"].to_numpy(float), frame["pi_upper"].to_numpy(float)
    if kpi.log_scale:
        mean, lower, upper = np.exp(mean), np.exp(lower), np.exp(upper)
    elif kpi.kind == RATE:
        mean, lower, upper = (np.clip(v, 0.0, 100.0) for v in (mean, lower, upper))
    last_day = values.index[-1].date()
    days = [last_day + timedelta(days=i + 1) for i in range(settings.horizon)]
    points = pd.DataFrame({"day": days, "forecast": mean, "lower": lower, "upper": upper})
    return KpiForecast(kpi, OK, METHOD, settings.level, last_day, points)


def seasonal_naive(values: np.ndarray, horizon: int, period: int = 7) -> np.ndarray:
    """The benchmark forecast: each day repeats the same weekday of the last observed week."""
    return np.array([values[len(values) - period + (i % period)] for i in range(horizon)])
