"""Per-variant statistics and the effect of a treatment, as GrowthBook's gbstats computes them.

Every readout works on a few numbers per variant, computed from the sums of ``sufficient.py``
(gbstats ``models/statistics.py``):

- conversion (0/1 per user), gbstats' ``ProportionStatistic``: mean ``p = sum_y / n`` and
  unit variance ``p (1 - p)``;
- count and sum, ``SampleMeanStatistic``: mean ``sum_y / n`` and unit variance
  ``(sum_y2 - sum_y^2 / n) / (n - 1)``;
- ratio, ``RatioStatistic``: mean ``sum_y / sum_d`` and the delta-method unit variance
  ``var_y / mu_d^2 + var_d mu_y^2 / mu_d^4 - 2 cov_yd mu_y / mu_d^3``;
- CUPED, ``RegressionAdjustedStatistic``: ``theta = cov(y, x) / var(x)`` over both variants
  pooled into one sample (gbstats ``compute_theta``; 0 falls back to the plain statistics),
  adjusted mean ``mean_y - theta mean_x`` and unit variance ``var_y + theta^2 var_x - 2 theta cov_xy``
  (covariances of 0/1 values divide by ``n``, others by ``n - 1``, as gbstats).

The effect of treatment ``b`` against control ``a`` (gbstats ``EffectMoments``): the relative
lift ``(mean_b - mean_a) / |unadjusted mean_a|`` with the delta-method variance
``var_b / (n_b mu_a^2) + mu_b^2 var_a / (n_a mu_a^4)`` (gbstats' own formula with CUPED), and the
Welch-Satterthwaite degrees of freedom from the two unit variances.

Inputs that give no meaningful answer raise ``NotEnoughData`` (no users, one user, zero
variance, control mean 0) or ``InvalidData`` (sums that imply a negative variance), each
with a sentence naming the variant and the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .config import Metric

NOT_ENOUGH_DATA, INVALID_DATA = "not enough data", "invalid data"


class NotEnoughData(Exception):
    """The input cannot give a meaningful readout; ``status`` says which kind of problem."""

    status = NOT_ENOUGH_DATA


class InvalidData(NotEnoughData):
    """The sums contradict each other (they imply a negative variance)."""

    status = INVALID_DATA


@dataclass(frozen=True)
class Cuped:
    """The parts of a CUPED-adjusted variant that gbstats' relative variance needs."""

    theta: float
    post_mean: float
    post_var: float
    pre_var: float
    cov: float


@dataclass(frozen=True)
class Arm:
    """One variant: users, mean, the variance of one user's value, and the unadjusted mean."""

    name: str
    n: int
    mean: float
    var: float
    unadjusted_mean: float
    binomial: bool = False
    cuped: Cuped | None = None


@dataclass(frozen=True)
class Effect:
    """An estimate of treatment minus control with its standard error and Welch df."""

    point: float
    se: float
    df: float


def _tolerance(*magnitudes: float) -> float:
    """Rounding slack for a difference of sums of this size (float64)."""
    return 1e-9 * max(1.0, *(abs(m) for m in magnitudes))


def _proportion(name: str, n: int, total: float) -> tuple[float, float]:
    if total < 0 or total > n:
        raise InvalidData(
            f"variant '{name}': {total:g} conversions among {n:,} users is impossible (a rate outside 0-1 "
            "implies a negative variance)"
        )
    p = total / n
    return p, p * (1.0 - p)


def _sample_mean(name: str, n: int, total: float, squares: float, what: str = "sum_y2") -> tuple[float, float]:
    centred = squares - total * total / n
    if centred < -_tolerance(squares, total * total / n):
        raise InvalidData(
            f"variant '{name}': {what} = {squares:g} is smaller than sum^2 / n = {total * total / n:g}, "
            "so the sums imply a negative variance"
        )
    return total / n, max(centred, 0.0) / (n - 1)


def _covariance(n: int, sum_a: float, sum_b: float, products: float, proportions: bool) -> float:
    if proportions:
        return products / n - sum_a * sum_b / n**2
    return (products - sum_a * sum_b / n) / (n - 1)


def variance_of_ratio(mean_m: float, var_m: float, mean_d: float, var_d: float, cov_md: float) -> float:
    """Delta-method variance of M / D (gbstats ``variance_of_ratios``)."""
    return var_m / mean_d**2 + var_d * mean_m**2 / mean_d**4 - 2 * cov_md * mean_m / mean_d**3


def _count(row: Any, name: str) -> int:
    n = int(row["n"]) if row is not None else 0
    if n == 0:
        raise NotEnoughData(f"variant '{name}' has no users")
    if n < 2:
        raise NotEnoughData(f"variant '{name}' has 1 user (a variance needs at least 2)")
    return n


def variant_arm(metric: Metric, row: Any, name: str) -> Arm:
    """The statistics of one variant from its sufficient-statistics row (without CUPED)."""
    n = _count(row, name)
    sum_y, sum_y2 = float(row["sum_y"]), float(row["sum_y2"])
    if metric.kind == "conversion":
        mean, var = _proportion(name, n, sum_y)
        return Arm(name, n, mean, var, mean, binomial=True)
    if metric.kind != "ratio":
        mean, var = _sample_mean(name, n, sum_y, sum_y2)
        return Arm(name, n, mean, var, mean)
    sum_d, sum_d2, sum_yd = float(row["sum_d"]), float(row["sum_d2"]), float(row["sum_yd"])
    if sum_d == 0:
        raise NotEnoughData(f"variant '{name}': the ratio's denominator adds up to 0")
    mean_m, var_m = _sample_mean(name, n, sum_y, sum_y2)
    mean_d, var_d = _sample_mean(name, n, sum_d, sum_d2, "sum_d2")
    cov = _covariance(n, sum_y, sum_d, sum_yd, proportions=False)
    var = variance_of_ratio(mean_m, var_m, mean_d, var_d, cov)
    if var < -_tolerance(var_m / mean_d**2, var_d * mean_m**2 / mean_d**4):
        raise InvalidData(f"variant '{name}': sum_yd = {sum_yd:g} implies a negative variance of the ratio")
    ratio = sum_y / sum_d
    return Arm(name, n, ratio, max(var, 0.0), ratio)


def _theta(metric: Metric, control: Any, treatment: Any) -> float:
    """gbstats ``compute_theta``: cov(y, x) / var(x) over both variants as one sample."""
    proportions = metric.kind == "conversion"
    n = int(control["n"]) + int(treatment["n"])
    sy = float(control["sum_y"]) + float(treatment["sum_y"])
    sx = float(control["sum_x"]) + float(treatment["sum_x"])
    if proportions:
        var_y, var_x = (sy / n) * (1 - sy / n), (sx / n) * (1 - sx / n)
    else:
        var_y = _sample_mean("both", n, sy, float(control["sum_y2"]) + float(treatment["sum_y2"]))[1]
        var_x = _sample_mean("both", n, sx, float(control["sum_x2"]) + float(treatment["sum_x2"]), "sum_x2")[1]
    if var_x == 0 or var_y == 0:
        return 0.0
    products = float(control["sum_yx"]) + float(treatment["sum_yx"])
    return _covariance(n, sy, sx, products, proportions) / var_x


def _cuped_arm(metric: Metric, row: Any, plain: Arm, theta: float) -> Arm:
    n = plain.n
    sum_x, sum_x2 = float(row["sum_x"]), float(row["sum_x2"])
    proportions = metric.kind == "conversion"
    if proportions:
        mean_x, var_x = _proportion(plain.name, n, sum_x)
    else:
        mean_x, var_x = _sample_mean(plain.name, n, sum_x, sum_x2, "sum_x2")
    cov = _covariance(n, float(row["sum_y"]), sum_x, float(row["sum_yx"]), proportions)
    var = plain.var + theta**2 * var_x - 2 * theta * cov
    if var < -_tolerance(plain.var, theta**2 * var_x):
        raise InvalidData(f"variant '{plain.name}': sum_yx = {float(row['sum_yx']):g} implies a negative variance")
    return Arm(
        plain.name,
        n,
        plain.mean - theta * mean_x,
        max(var, 0.0),
        plain.mean,
        binomial=False,
        cuped=Cuped(theta, plain.mean, plain.var, var_x, cov),
    )


def pair_arms(metric: Metric, control: Any, treatment: Any, control_name: str, treatment_name: str) -> tuple[Arm, Arm]:
    """Control and treatment statistics, CUPED-adjusted when the metric has a covariate."""
    a = variant_arm(metric, control, control_name)
    b = variant_arm(metric, treatment, treatment_name)
    if metric.covariate is None:
        return a, b
    theta = _theta(metric, control, treatment)
    if theta == 0:
        return a, b  # no variance in a period: gbstats falls back to the plain statistics
    return _cuped_arm(metric, control, a, theta), _cuped_arm(metric, treatment, b, theta)


def welch_df(a: Arm, b: Arm) -> float:
    """Welch-Satterthwaite degrees of freedom (gbstats ``TTest.dof``)."""
    va, vb = a.var / a.n, b.var / b.n
    return (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))


def _zero_variance_reason(arm: Arm) -> str:
    if arm.binomial:
        converted = round(arm.mean * arm.n)
        return f"variant '{arm.name}': {converted:,} of {arm.n:,} users converted, so its rate has zero variance"
    adjusted = " after the CUPED adjustment" if arm.cuped else ""
    return f"variant '{arm.name}': every user has the same value ({arm.mean:g}){adjusted}, so it has zero variance"


def _relative_cuped_variance(a: Arm, b: Arm) -> float:
    """gbstats ``frequentist_variance_relative_cuped``."""
    ca, cb = a.cuped, b.cuped
    if ca is None or cb is None:
        raise ValueError("the CUPED variance needs the covariate moments of both arms")
    theta = ca.theta
    mean_a = a.unadjusted_mean
    v_treatment = (cb.post_var + theta**2 * cb.pre_var - 2 * theta * cb.cov) / (b.n * mean_a**2)
    const = -cb.post_mean
    v_control = (
        ca.post_var * const**2 / ca.post_mean**2 + 2 * theta * ca.cov * const / ca.post_mean + theta**2 * ca.pre_var
    ) / (a.n * mean_a**2)
    return v_treatment + v_control


def effect(a: Arm, b: Arm, relative: bool = True) -> Effect:
    """Treatment ``b`` minus control ``a``: relative ``(b - a) / |a|`` or absolute ``b - a``."""
    for arm in (a, b):
        if arm.var <= 0:
            raise NotEnoughData(_zero_variance_reason(arm))
    if a.mean == 0 or a.unadjusted_mean == 0:
        raise NotEnoughData(f"the control mean is 0 ({a.name}), so the relative lift is undefined")
    if relative:
        point = (b.mean - a.mean) / abs(a.unadjusted_mean)
        if a.cuped is not None and b.cuped is not None:
            var = _relative_cuped_variance(a, b)
        else:
            var = variance_of_ratio(b.unadjusted_mean, b.var / b.n, a.unadjusted_mean, a.var / a.n, 0.0)
    else:
        point = b.mean - a.mean
        var = b.var / b.n + a.var / a.n
    if not var > 0:
        raise NotEnoughData("the estimate has zero variance")
    return Effect(point, math.sqrt(var), welch_df(a, b))
