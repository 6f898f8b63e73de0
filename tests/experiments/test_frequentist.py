"""Frequentist readout against statsmodels and SciPy on the same inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from fawkes_analytics.experiments.frequentist import frequentist_test
from fawkes_analytics.experiments.moments import pair_moments

from .conftest import metric, stat_row

ALTS = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(("ca", "na", "cb", "nb"), [(120, 1000, 150, 1000), (44, 400, 39, 380), (9, 50, 3, 61)])
def test_two_proportion_z_matches_statsmodels(ca, na, cb, nb, alternative):
    a, b = pair_moments(
        metric("conversion"), stat_row([1] * ca + [0] * (na - ca)), stat_row([1] * cb + [0] * (nb - cb)), "a", "b"
    )
    r = frequentist_test(a, b, alpha=0.05, alternative=alternative)
    # statsmodels compares proportion 1 minus proportion 2: pass treatment first.
    sm_test = sm_proportion.test_proportions_2indep(
        cb, nb, ca, na, method="wald", compare="diff", alternative=ALTS[alternative]
    )
    assert r.df is None
    assert r.abs_diff == pytest.approx(cb / nb - ca / na, rel=1e-12)
    assert r.statistic == pytest.approx(sm_test.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(sm_test.pvalue, rel=1e-9)
    if alternative == "two-sided":
        low, high = sm_proportion.confint_proportions_2indep(cb, nb, ca, na, method="wald", compare="diff", alpha=0.05)
        assert r.abs_ci == pytest.approx((low, high), rel=1e-9)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_matches_statsmodels_and_scipy(seed, alternative):
    rng = np.random.default_rng(seed)
    xa = rng.lognormal(1.0, 1.0, size=300)
    xb = rng.lognormal(1.1, 1.3, size=260)
    a, b = pair_moments(metric("sum"), stat_row(xa), stat_row(xb), "a", "b")
    r = frequentist_test(a, b, alpha=0.1, alternative=alternative)
    t, p, df = ttest_ind(xb, xa, usevar="unequal", alternative=ALTS[alternative])
    assert r.statistic == pytest.approx(t, rel=1e-9)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert r.df == pytest.approx(df, rel=1e-9)
    scipy_res = stats.ttest_ind(xb, xa, equal_var=False, alternative=alternative)
    assert r.p_value == pytest.approx(scipy_res.pvalue, rel=1e-9)
    low, high = CompareMeans(DescrStatsW(xb), DescrStatsW(xa)).tconfint_diff(
        alpha=0.1, alternative=ALTS[alternative], usevar="unequal"
    )
    assert r.abs_ci[0] == pytest.approx(low, rel=1e-9) if np.isfinite(low) else r.abs_ci[0] == -math.inf
    assert r.abs_ci[1] == pytest.approx(high, rel=1e-9) if np.isfinite(high) else r.abs_ci[1] == math.inf


def test_relative_lift_delta_method_by_numerical_gradient():
    rng = np.random.default_rng(7)
    xa, xb = rng.poisson(3.0, 500).astype(float), rng.poisson(3.3, 450).astype(float)
    a, b = pair_moments(metric("count"), stat_row(xa), stat_row(xb), "a", "b")
    r = frequentist_test(a, b)
    ma, mb = xa.mean(), xb.mean()
    cov = np.diag([xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)])
    h = 1e-6
    f = lambda u, v: v / u - 1  # noqa: E731
    grad = np.array([(f(ma + h, mb) - f(ma - h, mb)) / (2 * h), (f(ma, mb + h) - f(ma, mb - h)) / (2 * h)])
    se = math.sqrt(grad @ cov @ grad)
    _, _, df = ttest_ind(xb, xa, usevar="unequal")
    q = stats.t.ppf(0.975, df)
    assert r.lift == pytest.approx(mb / ma - 1, rel=1e-12)
    assert r.lift_se == pytest.approx(se, rel=1e-6)
    assert r.lift_ci == pytest.approx((mb / ma - 1 - q * se, mb / ma - 1 + q * se), rel=1e-6)


def test_ratio_metric_variance_equals_linearised_per_user_variance():
    rng = np.random.default_rng(11)
    den = rng.integers(1, 6, 400).astype(float)
    num = den * rng.gamma(2.0, 10.0, 400)
    m = metric("ratio")
    a, _ = pair_moments(m, stat_row(num, den), stat_row(num[:200], den[:200]), "a", "b")
    ratio = num.sum() / den.sum()
    linearised = (num - ratio * den) / den.mean()  # influence function of sum(num)/sum(den)
    assert a.mean == pytest.approx(ratio, rel=1e-12)
    assert a.var == pytest.approx(linearised.var(ddof=1), rel=1e-9)


def test_cuped_difference_equals_ols_treatment_coefficient():
    rng = np.random.default_rng(5)
    xa, xb = rng.normal(10, 3, 400), rng.normal(10, 3, 380)
    ya, yb = 2 + 0.8 * xa + rng.normal(0, 1, 400), 2.3 + 0.8 * xb + rng.normal(0, 1, 380)
    a, b = pair_moments(metric("count", covariate=True), stat_row(ya, x=xa), stat_row(yb, x=xb), "a", "b")
    # OLS y ~ 1 + treatment + x fits the pooled within-group slope: its treatment coefficient
    # is the CUPED-adjusted difference.
    design = sm.add_constant(np.column_stack([np.r_[np.zeros(400), np.ones(380)], np.r_[xa, xb]]))
    fit = sm.OLS(np.r_[ya, yb], design).fit()
    assert b.mean - a.mean == pytest.approx(fit.params[1], rel=1e-9)
    # and the variance shrinks by about the squared correlation
    plain = np.var(ya, ddof=1)
    assert a.var < 0.3 * plain
