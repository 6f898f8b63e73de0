"""Bayesian readout: a normal posterior on the relative lift (GrowthBook's approach).

The likelihood of the relative lift is normal with the delta-method variance; the prior is
flat by default (the posterior is then the likelihood) or a proper normal prior
``N(prior_mean, prior_sd^2)`` combined by precision weighting. From the posterior:
chance to beat control, expected loss (risk) of choosing each side, and the credible interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from .frequentist import check_inputs, lift_variance
from .moments import Moments


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
    a: Moments,
    b: Moments,
    alpha: float = 0.05,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
    higher_is_better: bool = True,
) -> BayesianResult:
    """Posterior of ``mean_b/mean_a - 1``; chance to beat and risks respect ``higher_is_better``."""
    check_inputs(a, b)
    lift = b.mean / a.mean - 1.0
    mean, sd = posterior(lift, lift_variance(a, b), prior_mean, prior_sd)
    sign = 1.0 if higher_is_better else -1.0
    gain_mean = sign * mean  # improvement in the good direction
    q = stats.norm.ppf(1 - alpha / 2)
    return BayesianResult(
        posterior_mean=mean,
        posterior_sd=sd,
        chance_to_beat=float(stats.norm.sf(0.0, loc=gain_mean, scale=sd)),
        risk_control=expected_shortfall(-gain_mean, sd),
        risk_variant=expected_shortfall(gain_mean, sd),
        credible_interval=(mean - q * sd, mean + q * sd),
    )
