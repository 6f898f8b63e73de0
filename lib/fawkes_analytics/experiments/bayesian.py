"""Bayesian readout: a normal posterior on the relative lift (gbstats ``EffectBayesianABTest``).

The likelihood of the lift is normal with the delta-method variance ``v``; the prior is flat
by default (the posterior is then the likelihood) or a proper ``N(prior_mean, prior_sd^2)``,
combined by precision: ``precision = 1/v + 1/prior_sd^2``, ``mean = (lift/v + prior_mean/prior_sd^2)
/ precision``. From the posterior: the chance to beat control (``P(lift > 0)``, or ``P(lift < 0)``
for metrics where lower is better), the risk (expected loss) of keeping control and of
shipping the variant (gbstats ``get_risk``: ``E[max(0, gain)]`` and ``E[max(0, -gain)]``),
and the credible interval.

The credible interval is shown at level ``2 c - 1`` for a decision threshold ``c`` on the
chance to beat (90% for c = 95%): the chance reaches ``c`` exactly when the interval lies
above 0 (or below 0 for lower-is-better metrics), so the interval and the decision agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .moments import Effect


@dataclass(frozen=True)
class BayesianResult:
    """Posterior on the relative lift and the decision quantities derived from it."""

    posterior_mean: float
    posterior_sd: float
    chance_to_beat: float
    risk_control: float  # expected relative loss if control is kept and the variant was better
    risk_variant: float  # expected relative loss if the variant ships and it was worse
    credible_interval: tuple[float, float]


def expected_shortfall(mean: float, sd: float) -> float:
    """E[max(0, -X)] for X ~ N(mean, sd^2): the expected loss below zero."""
    from scipy import stats  # SciPy loads with the first test, not with every reader of a result

    z = mean / sd
    return float(sd * stats.norm.pdf(z) - mean * stats.norm.cdf(-z))


def posterior(lift: float, var: float, prior_mean: float = 0.0, prior_sd: float | None = None) -> tuple[float, float]:
    """Normal posterior mean and sd of the lift (flat prior when ``prior_sd`` is None)."""
    if prior_sd is None:
        return lift, math.sqrt(var)
    precision = 1.0 / var + 1.0 / prior_sd**2
    mean = (lift / var + prior_mean / prior_sd**2) / precision
    return mean, math.sqrt(1.0 / precision)


def bayesian_test(
    lift: Effect,
    min_chance: float = 0.95,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
    higher_is_better: bool = True,
) -> BayesianResult:
    """Posterior of the relative lift; chance to beat and risks respect ``higher_is_better``."""
    mean, sd = posterior(lift.point, lift.se**2, prior_mean, prior_sd)
    gain = mean if higher_is_better else -mean  # improvement in the good direction
    level = 2 * min_chance - 1
    from scipy import stats

    low, high = stats.norm.interval(level, mean, sd)
    return BayesianResult(
        posterior_mean=mean,
        posterior_sd=sd,
        chance_to_beat=float(stats.norm.sf(0.0, loc=gain, scale=sd)),
        risk_control=expected_shortfall(-gain, sd),
        risk_variant=expected_shortfall(gain, sd),
        credible_interval=(float(low), float(high)),
    )
