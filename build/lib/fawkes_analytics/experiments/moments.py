"""From sufficient statistics to per-variant moments (n, mean, unit variance).

Every readout works on three numbers per variant: the number of users ``n``, the metric's
mean and the variance of one user's contribution. Binomial metrics use the unpooled
``p(1-p)``; continuous metrics the sample variance (``n-1``); ratio metrics the
delta-method variance of ``sum(num)/sum(den)`` (as GrowthBook's ratio metrics); CUPED
adjusts a treatment/control pair with one pooled within-group ``theta`` (Deng et al. 2013).
Degenerate inputs give ``NotEnoughData`` with the reason instead of NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import Metric


@dataclass(frozen=True)
class Moments:
    """n users, the metric mean and the variance of one user's contribution."""

    n: int
    mean: float
    var: float
    binomial: bool = False


class NotEnoughData(Exception):
    """Raised inside the statistics when an input cannot give a meaningful answer."""


def _central(n: float, s1: float, s2: float, t1: float, cross: float) -> float:
    """Centred co-moment sum  sum((a-mean_a)(b-mean_b))  from raw sums."""
    return cross - s1 * t1 / n


def variant_moments(metric: Metric, row: Any, variant: str) -> Moments:
    """Moments of one variant from its sufficient-statistics row (without CUPED)."""
    n = int(row["n"])
    if n < 2:
        raise NotEnoughData(f"variant '{variant}' has {n} user{'s' if n != 1 else ''}")
    sum_y, sum_y2 = float(row["sum_y"]), float(row["sum_y2"])
    mean_y = sum_y / n
    var_y = max(_central(n, sum_y, sum_y2, sum_y, sum_y2) / (n - 1), 0.0)
    if metric.kind == "conversion" and metric.covariate is None:
        return Moments(n, mean_y, mean_y * (1.0 - mean_y), binomial=True)
    if metric.kind != "ratio":
        return Moments(n, mean_y, var_y)
    sum_d, sum_d2, sum_yd = float(row["sum_d"]), float(row["sum_d2"]), float(row["sum_yd"])
    mean_d = sum_d / n
    if mean_d == 0:
        raise NotEnoughData(f"variant '{variant}': the ratio's denominator is 0")
    var_d = max(_central(n, sum_d, sum_d2, sum_d, sum_d2) / (n - 1), 0.0)
    cov_yd = _central(n, sum_y, sum_y2, sum_d, sum_yd) / (n - 1)
    ratio = mean_y / mean_d
    var = (var_y - 2 * ratio * cov_yd + ratio**2 * var_d) / mean_d**2
    return Moments(n, ratio, max(var, 0.0))


def pair_moments(
    metric: Metric, control: Any, treatment: Any, control_name: str, treatment_name: str
) -> tuple[Moments, Moments]:
    """Moments of control and treatment, CUPED-adjusted when the metric has a covariate."""
    a = variant_moments(metric, control, control_name)
    b = variant_moments(metric, treatment, treatment_name)
    if metric.covariate is None:
        return a, b
    rows = [(control, a), (treatment, b)]
    sxx = sxy = 0.0
    mean_x, var_x, cov_xy = [], [], []
    for row, m in rows:
        n, sx, sx2, sxy_raw = m.n, float(row["sum_x"]), float(row["sum_x2"]), float(row["sum_yx"])
        cxx = _central(n, sx, sx2, sx, sx2)
        cxy = _central(n, float(row["sum_y"]), float(row["sum_y2"]), sx, sxy_raw)
        sxx += cxx
        sxy += cxy
        mean_x.append(sx / n)
        var_x.append(max(cxx / (n - 1), 0.0))
        cov_xy.append(cxy / (n - 1))
    if sxx <= 0:  # covariate constant: CUPED cannot help, fall back to the plain moments
        return a, b
    theta = sxy / sxx
    pooled_x = (mean_x[0] * a.n + mean_x[1] * b.n) / (a.n + b.n)
    adjusted = []
    for (_, m), mx, vx, cxy in zip(rows, mean_x, var_x, cov_xy, strict=True):
        var = m.var - 2 * theta * cxy + theta**2 * vx
        adjusted.append(Moments(m.n, m.mean - theta * (mx - pooled_x), max(var, 0.0)))
    return adjusted[0], adjusted[1]
