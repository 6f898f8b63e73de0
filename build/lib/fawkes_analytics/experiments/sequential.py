"""Sequential readout: always-valid confidence sequences and p-values.

The normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon (2021, eq. 14), in the
form GrowthBook's stats engine uses: with N users in the two variants, an estimate with
variance ``v`` (so ``s^2 = v*N`` per user) and mixing parameter

    rho^2 = (-2 log(alpha) + log(1 - 2 log(alpha))) / tuning,

the (1-alpha) confidence sequence is ``estimate +/- sqrt(s^2) * sqrt(2(N rho^2 + 1) /
(N^2 rho^2) * log(sqrt(N rho^2 + 1) / alpha))``. It holds at every sample size at once, so
results can be peeked at daily. ``tuning`` is the sample size (total users) where the
boundary is tightest (GrowthBook default 5000). The always-valid p-value is the smallest
alpha whose sequence excludes 0; in closed form ``min(1, sqrt(N rho^2 + 1) *
exp(-z^2 N rho^2 / (2 (N rho^2 + 1))))`` with ``z = estimate / sqrt(v)`` (``rho`` fixed by
the configured alpha). Over time, report the running minimum of the p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .frequentist import check_inputs, lift_variance
from .moments import Moments


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid intervals for the absolute difference and relative lift, and p-value."""

    abs_ci: tuple[float, float]
    lift_ci: tuple[float, float]
    p_value: float


def rho_squared(alpha: float, tuning: float) -> float:
    """The normal mixture's rho^2 tuned to be tightest at ``tuning`` total users."""
    return (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning


def halfwidth(variance: float, n_total: int, alpha: float, tuning: float) -> float:
    """Half-width of the (1-alpha) confidence sequence for an estimate with this variance."""
    rho2 = rho_squared(alpha, tuning)
    s2 = variance * n_total
    return math.sqrt(s2) * math.sqrt(
        2 * (n_total * rho2 + 1) / (n_total**2 * rho2) * math.log(math.sqrt(n_total * rho2 + 1) / alpha)
    )


def always_valid_p(estimate: float, variance: float, n_total: int, alpha: float, tuning: float) -> float:
    """Always-valid p-value: the smallest alpha' whose sequence (with rho fixed) excludes 0."""
    rho2 = rho_squared(alpha, tuning)
    k = n_total * rho2
    log_p = 0.5 * math.log(k + 1) - (estimate**2 / variance) * k / (2 * (k + 1))
    return float(min(1.0, math.exp(log_p)))


def sequential_test(a: Moments, b: Moments, alpha: float = 0.05, tuning: float = 5000.0) -> SequentialResult:
    """Two-sided always-valid readout of treatment ``b`` against control ``a``."""
    check_inputs(a, b)
    n_total = a.n + b.n
    diff, var_diff = b.mean - a.mean, a.var / a.n + b.var / b.n
    lift, var_lift = b.mean / a.mean - 1.0, lift_variance(a, b)
    h_abs = halfwidth(var_diff, n_total, alpha, tuning)
    h_lift = halfwidth(var_lift, n_total, alpha, tuning)
    return SequentialResult(
        abs_ci=(diff - h_abs, diff + h_abs),
        lift_ci=(lift - h_lift, lift + h_lift),
        p_value=always_valid_p(diff, var_diff, n_total, alpha, tuning),
    )
