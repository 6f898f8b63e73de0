"""Bayesian and sequential readouts against independent closed-form computations in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from fawkes_analytics.experiments.bayesian import bayesian_test
from fawkes_analytics.experiments.moments import Moments
from fawkes_analytics.experiments.sequential import sequential_test

A = Moments(n=2000, mean=0.10, var=0.10 * 0.90, binomial=True)
B = Moments(n=2100, mean=0.115, var=0.115 * 0.885, binomial=True)


def _lift_and_var(a: Moments, b: Moments) -> tuple[float, float]:
    # Delta method written out from the gradient (-mb/ma^2, 1/ma) of mb/ma - 1.
    g = np.array([-b.mean / a.mean**2, 1 / a.mean])
    return b.mean / a.mean - 1, float(g @ np.diag([a.var / a.n, b.var / b.n]) @ g)


def _loss_below_zero(mean: float, sd: float) -> float:
    # E[max(0, -X)] by numerical integration, not the closed form the library uses.
    value, _ = integrate.quad(lambda x: -x * stats.norm.pdf(x, mean, sd), mean - 12 * sd, 0.0, limit=200)
    return value if mean - 12 * sd < 0 else 0.0


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_flat_prior_posterior_chance_and_risk(higher_is_better):
    r = bayesian_test(A, B, alpha=0.05, higher_is_better=higher_is_better)
    lift, var = _lift_and_var(A, B)
    sd = math.sqrt(var)
    assert r.posterior_mean == pytest.approx(lift, rel=1e-12)
    assert r.posterior_sd == pytest.approx(sd, rel=1e-12)
    p_up = 1 - stats.norm.cdf(0, lift, sd)
    assert r.chance_to_beat == pytest.approx(p_up if higher_is_better else 1 - p_up, rel=1e-9)
    gain = lift if higher_is_better else -lift
    assert r.risk_variant == pytest.approx(_loss_below_zero(gain, sd), rel=1e-6, abs=1e-12)
    assert r.risk_control == pytest.approx(_loss_below_zero(-gain, sd), rel=1e-6, abs=1e-12)
    assert r.credible_interval == pytest.approx(stats.norm.interval(0.95, lift, sd), rel=1e-9)


def test_proper_prior_shrinks_towards_prior_mean():
    r = bayesian_test(A, B, prior_mean=0.0, prior_sd=0.05)
    lift, var = _lift_and_var(A, B)
    # Conjugate normal update written as a weighted average: weight of the data = s0^2/(s0^2+v).
    w = 0.05**2 / (0.05**2 + var)
    post_mean, post_var = w * lift, var * 0.05**2 / (var + 0.05**2)
    assert r.posterior_mean == pytest.approx(post_mean, rel=1e-9)
    assert r.posterior_sd == pytest.approx(math.sqrt(post_var), rel=1e-9)
    assert 0 < r.posterior_mean < lift
    assert r.chance_to_beat == pytest.approx(stats.norm.sf(0, post_mean, math.sqrt(post_var)), rel=1e-9)


def _howard_bound(v_sum: float, rho_h: float, alpha: float) -> float:
    # Two-sided normal-mixture boundary on a sum (Howard et al. 2021, eq. 14):
    # |S_t| <= sqrt((V_t + rho) * log((V_t + rho) / (rho * alpha^2))).
    return math.sqrt((v_sum + rho_h) * math.log((v_sum + rho_h) / (rho_h * alpha**2)))


@pytest.mark.parametrize(("alpha", "tuning"), [(0.05, 5000.0), (0.1, 1000.0), (0.01, 20000.0)])
def test_confidence_sequence_is_howards_normal_mixture(alpha, tuning):
    r = sequential_test(A, B, alpha=alpha, tuning=tuning)
    n = A.n + B.n
    # Tuning picks the mixture so the boundary is tightest near n = tuning (GrowthBook).
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    for estimate, var, ci in (
        (B.mean - A.mean, A.var / A.n + B.var / B.n, r.abs_ci),
        (*_lift_and_var(A, B), r.lift_ci),
    ):
        s2 = var * n  # per-user variance of the estimate
        half = _howard_bound(n * s2, s2 / rho2, alpha) / n  # bound on the sum, back to the mean
        assert ci == pytest.approx((estimate - half, estimate + half), rel=1e-9)
    # Always-valid p: the alpha' at which the sequence (same rho) just touches 0, by root finding.
    diff, var = B.mean - A.mean, A.var / A.n + B.var / B.n
    s2 = var * n

    def gap(a: float) -> float:
        return _howard_bound(n * s2, s2 / rho2, a) / n - abs(diff)

    expected = optimize.brentq(gap, 1e-12, 1.0) if gap(1.0) < 0 else 1.0
    assert r.p_value == pytest.approx(expected, rel=1e-7)


def test_sequential_interval_is_wider_than_fixed_and_contains_it():
    from fawkes_analytics.experiments.frequentist import frequentist_test

    fixed, seq = frequentist_test(A, B), sequential_test(A, B)
    assert seq.abs_ci[0] < fixed.abs_ci[0] and seq.abs_ci[1] > fixed.abs_ci[1]
    assert seq.p_value > fixed.p_value
