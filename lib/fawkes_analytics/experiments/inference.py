"""The two frequentist decision tests and how their p-values, intervals and boundaries agree.

Both tests work on one estimate (the relative lift, see ``moments.effect``) with standard
error ``se``; ``z = point / se``. ``alternative`` is about treatment minus control:
'greater' tests whether the treatment is higher, 'less' whether it is lower.

Fixed horizon (gbstats ``TwoSidedTTest`` / ``OneSidedTreatment{Greater,Lesser}TTest``):
Student's t with the Welch-Satterthwaite df. p = 2 sf_t(|z|) two-sided, sf_t(z) greater,
cdf_t(z) less; interval ``point -/+ t_(1-level/2) se`` (one-sided: ``t_(1-level)``, the other
end infinite).

Sequential (gbstats ``SequentialTwoSidedTTest`` / ``SequentialOneSided...``; Howard et al.
2021 and Waudby-Smith et al. 2023, arXiv 2103.06476 eq. 9, 134, 155, 161): with N users in
the two variants, ``rho^2 = (-2 ln a + ln(1 - 2 ln a)) / tuning`` where ``a = alpha`` for
two-sided tests and ``2 alpha`` for one-sided ones (``alpha`` is the configured level, fixed
for the experiment), and ``k = N rho^2``, the always-valid boundary in z units at level ``x`` is

    two-sided:  c(x) = sqrt(2 (k + 1) / k * ln(sqrt(k + 1) / x))
    one-sided:  c(x) = sqrt(2 (k + 1) / k * ln(1 + sqrt(k + 1) / (2 x)))

and the interval is ``point -/+ c(level) se``. The always-valid p-value is the level whose
boundary equals |z|: two-sided ``min(1, sqrt(k + 1) exp(-z^2 k / (2 (k + 1))))`` (gbstats'
e-value form), one-sided ``min(1, sqrt(k + 1) / (2 (exp(z^2 k / (2 (k + 1))) - 1)))`` in the
tested direction and 1 against it (gbstats finds the same value by bisection in [1e-5, 0.4999]).

So for every test ``p < level`` exactly when the level's interval excludes 0. An adjusted
p-value (Holm, Benjamini-Hochberg) gets the interval that agrees with it by inverting the
boundary (GrowthBook's ``adjustedCI``): half-width ``|point| c(alpha) / c(p_adjusted)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TWO_SIDED, GREATER, LESS = "two-sided", "greater", "less"


def _one_sided(alternative: str) -> bool:
    return alternative != TWO_SIDED


def _directional(z, alternative: str):
    return -z if alternative == LESS else z


@dataclass(frozen=True)
class FixedHorizonTest:
    """Welch t-test, read once at the planned end."""

    alternative: str = TWO_SIDED
    name: str = "fixed-horizon"

    def critical(self, level, df, n=None):
        """The |z| a result must exceed to be significant at ``level``."""
        from scipy import stats  # SciPy loads with the first test, not with every reader of a result

        tail = level if _one_sided(self.alternative) else np.asarray(level) / 2
        return stats.t.isf(tail, df)

    def p_value(self, z, df, n=None):
        from scipy import stats

        if self.alternative == TWO_SIDED:
            return 2 * stats.t.sf(np.abs(z), df)
        return stats.t.sf(_directional(z, self.alternative), df)

    def describe(self) -> str:
        return f"Welch t, {self.alternative}"


@dataclass(frozen=True)
class SequentialTest:
    """Always-valid confidence sequence: valid however often the results are looked at."""

    alpha: float
    tuning: float
    alternative: str = TWO_SIDED
    name: str = "sequential"

    @property
    def rho_squared(self) -> float:
        a = 2 * self.alpha if _one_sided(self.alternative) else self.alpha
        return (-2 * math.log(a) + math.log(1 - 2 * math.log(a))) / self.tuning

    def critical(self, level, df=None, n=None):
        k = np.asarray(n, dtype=float) * self.rho_squared
        if _one_sided(self.alternative):
            log_term = np.log1p(np.sqrt(k + 1) / (2 * np.asarray(level)))
        else:
            log_term = np.log(np.sqrt(k + 1) / np.asarray(level))
        return np.sqrt(2 * (k + 1) / k * log_term)

    def p_value(self, z, df=None, n=None):
        k = np.asarray(n, dtype=float) * self.rho_squared
        exponent = np.asarray(z, dtype=float) ** 2 * k / (2 * (k + 1))
        if not _one_sided(self.alternative):
            return np.minimum(1.0, np.sqrt(k + 1) * np.exp(-exponent))
        with np.errstate(divide="ignore", over="ignore"):
            p = np.sqrt(k + 1) / (2 * np.expm1(exponent))
        return np.where(_directional(z, self.alternative) > 0, np.minimum(1.0, p), 1.0)

    def describe(self) -> str:
        return f"always-valid (sequential, tuning {self.tuning:g}), {self.alternative}"


def interval(test, point, se, level, df=None, n=None) -> tuple:
    """The interval at ``level`` (one-sided tests leave one end infinite)."""
    half = test.critical(level, df, n) * se
    low, high = point - half, point + half
    if test.alternative == GREATER:
        high = np.inf * np.ones_like(high)
    elif test.alternative == LESS:
        low = -np.inf * np.ones_like(low)
    return low, high


def adjusted_interval(test, point: float, se: float, alpha: float, p: float, p_adjusted: float, df=None, n=None):
    """The interval that agrees with ``p_adjusted``: it excludes 0 exactly when p_adjusted < alpha.

    Unadjusted (``p_adjusted == p``) it is the ordinary interval. Otherwise the half-width is
    ``|point| c(alpha) / c(p_adjusted)`` (wider than the ordinary one); a p-value at the top of
    its range (1, or 0.5 for one-sided fixed-horizon tests) gives an unbounded interval.
    """
    low, high = (float(v) for v in interval(test, point, se, alpha, df, n))
    if p_adjusted <= p:
        return low, high
    c_adjusted = float(test.critical(p_adjusted, df, n)) if p_adjusted < 0.999999 else 0.0
    if not c_adjusted > 0 or point == 0:
        return -math.inf, math.inf
    half = abs(point) * float(test.critical(alpha, df, n)) / c_adjusted
    wide_low = -math.inf if test.alternative == LESS else min(low, point - half)
    wide_high = math.inf if test.alternative == GREATER else max(high, point + half)
    return wide_low, wide_high
