"""Fixed-horizon tests: unpooled two-proportion z-test and Welch's t-test.

Matches statsmodels (``test_proportions_2indep(method='wald')``,
``confint_proportions_2indep(method='wald')``, ``ttest_ind(usevar='unequal')``) and SciPy
(``ttest_ind(equal_var=False)``). The relative lift ``(B-A)/A`` gets a delta-method interval
(GrowthBook's frequentist engine) using the same quantile as the absolute difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from .moments import Moments, NotEnoughData


@dataclass(frozen=True)
class FrequentistResult:
    """Difference of treatment minus control, relative lift, test statistic and p-value."""

    abs_diff: float
    abs_ci: tuple[float, float]
    lift: float
    lift_ci: tuple[float, float]
    statistic: float
    df: float | None  # None for the z-test (normal reference)
    p_value: float
    se: float
    lift_se: float


def lift_variance(a: Moments, b: Moments) -> float:
    """Delta-method variance of ``mean_b/mean_a - 1``."""
    return b.var / (b.n * a.mean**2) + b.mean**2 * a.var / (a.n * a.mean**4)


def welch_df(a: Moments, b: Moments) -> float:
    """Welch-Satterthwaite degrees of freedom."""
    va, vb = a.var / a.n, b.var / b.n
    return (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))


def check_inputs(a: Moments, b: Moments) -> None:
    """Raise ``NotEnoughData`` for inputs that give no meaningful test."""
    if a.n < 2 or b.n < 2:
        raise NotEnoughData(f"fewer than 2 users in a variant (control {a.n}, treatment {b.n})")
    if a.var / a.n + b.var / b.n <= 0:
        raise NotEnoughData("zero variance in both variants")
    if a.mean == 0:
        raise NotEnoughData("control mean is 0, so the relative lift is undefined")
    if lift_variance(a, b) <= 0:
        raise NotEnoughData(f"variant mean {b.mean:g} without any spread, so the relative lift has zero variance")


def _interval(center: float, se: float, alpha: float, alternative: str, df: float | None) -> tuple[float, float]:
    if alternative == "two-sided":
        q = _ppf(1 - alpha / 2, df)
        return center - q * se, center + q * se
    q = _ppf(1 - alpha, df)
    if alternative == "greater":
        return center - q * se, math.inf
    return -math.inf, center + q * se


def _ppf(q: float, df: float | None) -> float:
    return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))


def _sf(x: float, df: float | None) -> float:
    return float(stats.norm.sf(x) if df is None else stats.t.sf(x, df))


def p_value_from_stat(statistic: float, alternative: str, df: float | None = None) -> float:
    """p-value of a z (``df`` None) or t statistic for the alternative about treatment minus control."""
    if alternative == "two-sided":
        return 2 * _sf(abs(statistic), df)
    if alternative == "greater":
        return _sf(statistic, df)
    return _sf(-statistic, df)


def frequentist_test(a: Moments, b: Moments, alpha: float = 0.05, alternative: str = "two-sided") -> FrequentistResult:
    """Compare treatment ``b`` with control ``a``.

    Binomial moments use the normal reference (unpooled z-test); continuous ones Student's t
    with Welch-Satterthwaite degrees of freedom. ``alternative`` is about ``b - a``:
    'greater' tests whether the treatment is higher.
    """
    check_inputs(a, b)
    se = math.sqrt(a.var / a.n + b.var / b.n)
    diff = b.mean - a.mean
    df = None if (a.binomial and b.binomial) else welch_df(a, b)
    statistic = diff / se
    lift = b.mean / a.mean - 1.0
    lift_se = math.sqrt(lift_variance(a, b))
    return FrequentistResult(
        abs_diff=diff,
        abs_ci=_interval(diff, se, alpha, alternative, df),
        lift=lift,
        lift_ci=_interval(lift, lift_se, alpha, alternative, df),
        statistic=statistic,
        df=df,
        p_value=p_value_from_stat(statistic, alternative, df),
        se=se,
        lift_se=lift_se,
    )
