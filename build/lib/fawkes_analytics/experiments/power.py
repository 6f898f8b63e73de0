"""Power: the minimum detectable effect now, and the sample and days a target effect needs.

Normal approximation with the control's unit variance in both arms (as statsmodels'
``NormalIndPower``, ignoring the negligible opposite tail): an absolute effect ``delta`` is
detected with probability ``power`` when ``delta = (z_(1-alpha/k) + z_power) * sigma *
sqrt(1/n_a + 1/n_b)``, k = 2 for two-sided tests and 1 for one-sided ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from .moments import Moments, NotEnoughData


@dataclass(frozen=True)
class PowerResult:
    """Relative MDE at the current sample and the users/days needed for ``target_lift``."""

    mde_relative: float
    target_lift: float
    control_needed: int
    treatment_needed: int
    total_needed: int
    days_needed: float | None
    days_remaining: float | None


def _z_sum(alpha: float, power: float, alternative: str) -> float:
    tail = alpha / 2 if alternative == "two-sided" else alpha
    return float(stats.norm.ppf(1 - tail) + stats.norm.ppf(power))


def mde(
    control: Moments, n_a: int, n_b: int, alpha: float = 0.05, power: float = 0.8, alternative: str = "two-sided"
) -> float:
    """Smallest relative lift detectable with ``n_a`` control and ``n_b`` treatment users."""
    if control.mean == 0 or control.var <= 0 or n_a < 1 or n_b < 1:
        raise NotEnoughData("control mean or variance is 0, so no effect size can be computed")
    return _z_sum(alpha, power, alternative) * math.sqrt(control.var * (1 / n_a + 1 / n_b)) / abs(control.mean)


def sample_size(
    control: Moments,
    target_lift: float,
    ratio: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
) -> tuple[int, int]:
    """Control and treatment users needed to detect a relative ``target_lift``; ratio = n_b/n_a."""
    if control.mean == 0 or control.var <= 0:
        raise NotEnoughData("control mean or variance is 0, so no sample size can be computed")
    delta = abs(target_lift * control.mean)
    n_a = _z_sum(alpha, power, alternative) ** 2 * control.var * (1 + 1 / ratio) / delta**2
    return math.ceil(n_a), math.ceil(n_a * ratio)


def power_analysis(
    control: Moments,
    treatment_n: int,
    share_a: float,
    share_b: float,
    target_lift: float,
    alpha: float,
    power: float,
    alternative: str,
    total_users: int,
    days_running: float | None,
) -> PowerResult:
    """MDE now and what reaching ``target_lift`` needs, given the planned split and the daily inflow.

    ``total_users`` (all variants) over ``days_running`` gives the inflow; the experiment
    needs ``max(control_needed / share_a, treatment_needed / share_b)`` users in total.
    """
    n_a, n_b = sample_size(control, target_lift, share_b / share_a, alpha, power, alternative)
    total = math.ceil(max(n_a / share_a, n_b / share_b))
    days = remaining = None
    if days_running and days_running > 0 and total_users > 0:
        per_day = total_users / days_running
        days = total / per_day
        remaining = max(0.0, days - days_running)
    return PowerResult(
        mde(control, control.n, treatment_n, alpha, power, alternative), target_lift, n_a, n_b, total, days, remaining
    )
