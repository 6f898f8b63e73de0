"""The tests and the effect estimate against independent computations (statsmodels, SciPy, by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.weightstats import ttest_ind

from fawkes_analytics.experiments.inference import FixedHorizonTest, SequentialTest, adjusted_interval, interval
from fawkes_analytics.experiments.moments import effect, pair_arms, variant_arm

from .conftest import metric, stat_row

ALTS = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("seed", [1, 2])
def test_absolute_welch_matches_statsmodels(seed, alternative):
    rng = np.random.default_rng(seed)
    xa, xb = rng.lognormal(1.0, 1.0, size=300), rng.lognormal(1.1, 1.3, size=260)
    a, b = pair_arms(metric("sum"), stat_row(xa), stat_row(xb), "a", "b")
    diff = effect(a, b, relative=False)
    test = FixedHorizonTest(alternative)
    t, p, df = ttest_ind(xb, xa, usevar="unequal", alternative=ALTS[alternative])
    assert diff.point / diff.se == pytest.approx(t, rel=1e-9)
    assert diff.df == pytest.approx(df, rel=1e-9)
    assert float(test.p_value(diff.point / diff.se, diff.df)) == pytest.approx(p, rel=1e-9)


def test_relative_lift_delta_method_by_numerical_gradient():
    rng = np.random.default_rng(7)
    xa, xb = rng.poisson(3.0, 500).astype(float), rng.poisson(3.3, 450).astype(float)
    a, b = pair_arms(metric("count"), stat_row(xa), stat_row(xb), "a", "b")
    lift = effect(a, b)
    ma, mb = xa.mean(), xb.mean()
    cov = np.diag([xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)])
    h = 1e-6
    f = lambda u, v: (v - u) / u  # noqa: E731
    grad = np.array([(f(ma + h, mb) - f(ma - h, mb)) / (2 * h), (f(ma, mb + h) - f(ma, mb - h)) / (2 * h)])
    assert lift.point == pytest.approx(mb / ma - 1, rel=1e-12)
    assert lift.se == pytest.approx(math.sqrt(grad @ cov @ grad), rel=1e-6)
    # The p-value and the interval come from the same t with the same df.
    q = stats.t.ppf(0.975, lift.df)
    low, high = interval(FixedHorizonTest(), lift.point, lift.se, 0.05, lift.df)
    assert (low, high) == pytest.approx((lift.point - q * lift.se, lift.point + q * lift.se), rel=1e-9)
    z = lift.point / lift.se
    assert float(FixedHorizonTest().p_value(z, lift.df)) == pytest.approx(2 * stats.t.sf(abs(z), lift.df), rel=1e-12)


def test_ratio_metric_variance_equals_linearised_per_user_variance():
    rng = np.random.default_rng(11)
    den = rng.integers(1, 6, 400).astype(float)
    num = den * rng.gamma(2.0, 10.0, 400)
    arm = variant_arm(metric("ratio"), stat_row(num, den), "a")
    ratio = num.sum() / den.sum()
    linearised = (num - ratio * den) / den.mean()  # influence function of sum(num)/sum(den)
    assert arm.mean == pytest.approx(ratio, rel=1e-12)
    assert arm.var == pytest.approx(linearised.var(ddof=1), rel=1e-9)


def test_cuped_theta_is_the_pooled_regression_slope():
    rng = np.random.default_rng(5)
    xa, xb = rng.normal(10, 3, 400), rng.normal(10, 3, 380)
    ya, yb = 2 + 0.8 * xa + rng.normal(0, 1, 400), 2.3 + 0.8 * xb + rng.normal(0, 1, 380)
    a, b = pair_arms(metric("count", covariate=True), stat_row(ya, x=xa), stat_row(yb, x=xb), "a", "b")
    # gbstats pools both variants into one sample: theta is the slope of y on x over all users.
    slope = np.polyfit(np.r_[xa, xb], np.r_[ya, yb], 1)[0]
    assert a.cuped.theta == pytest.approx(slope, rel=1e-9)
    assert b.mean - a.mean == pytest.approx((yb.mean() - slope * xb.mean()) - (ya.mean() - slope * xa.mean()), rel=1e-9)
    assert a.var == pytest.approx(np.var(ya - slope * xa, ddof=1), rel=1e-9)  # variance of y - theta x
    assert a.var < 0.3 * np.var(ya, ddof=1)


def _howard_bound(v_sum: float, rho_h: float, alpha: float) -> float:
    # Two-sided normal-mixture boundary on a sum (Howard et al. 2021, eq. 14):
    # |S_t| <= sqrt((V_t + rho) * log((V_t + rho) / (rho * alpha^2))).
    return math.sqrt((v_sum + rho_h) * math.log((v_sum + rho_h) / (rho_h * alpha**2)))


@pytest.mark.parametrize(("alpha", "tuning"), [(0.05, 5000.0), (0.1, 1000.0), (0.01, 20000.0)])
def test_confidence_sequence_is_howards_normal_mixture_and_p_inverts_it(alpha, tuning):
    point, se, n = 0.12, 0.05, 4100
    test = SequentialTest(alpha, tuning)
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    s2 = se**2 * n  # per-user variance of the estimate
    half = _howard_bound(n * s2, s2 / rho2, alpha) / n  # bound on the sum, back to the mean
    assert interval(test, point, se, alpha, n=n) == pytest.approx((point - half, point + half), rel=1e-9)

    def gap(level: float) -> float:  # the level at which the sequence just touches 0
        return _howard_bound(n * s2, s2 / rho2, level) / n - point

    expected = optimize.brentq(gap, 1e-12, 1.0) if gap(1.0) < 0 else 1.0
    assert float(test.p_value(point / se, n=n)) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_one_sided_sequential_p_is_the_level_where_the_bound_touches_zero(alternative):
    test = SequentialTest(0.05, 1000, alternative)
    point = 0.1 if alternative == "greater" else -0.1
    se, n = 0.045, 2000

    def gap(level: float) -> float:
        low, high = interval(test, point, se, level, n=n)
        return float(low if alternative == "greater" else -high)

    expected = optimize.brentq(gap, 1e-9, 0.4999)
    assert float(test.p_value(point / se, n=n)) == pytest.approx(expected, rel=1e-9)
    assert float(test.p_value(-point / se, n=n)) == 1.0  # the other direction is never evidence


@pytest.mark.parametrize(
    "test",
    [FixedHorizonTest(), FixedHorizonTest("greater"), SequentialTest(0.05, 2000), SequentialTest(0.05, 2000, "less")],
)
def test_adjusted_interval_excludes_zero_exactly_when_adjusted_p_is_below_alpha(test):
    rng = np.random.default_rng(3)
    for _ in range(300):
        point, se, df, n = rng.normal(0, 0.1), rng.uniform(0.02, 0.08), 900.0, 1800
        p = float(test.p_value(point / se, df, n))
        p_adjusted = min(1.0, p * rng.choice([1, 2, 3, 5]))
        low, high = adjusted_interval(test, point, se, 0.05, p, p_adjusted, df, n)
        assert (low > 0 or high < 0) == (p_adjusted < 0.05), (point, se, p, p_adjusted, low, high)
        raw = interval(test, point, se, 0.05, df, n)
        assert low <= float(raw[0]) and high >= float(raw[1])  # never narrower than the raw interval
