"""Our readouts against GrowthBook's gbstats on the same sums ("as GrowthBook" in docs/experiments.md).

Every expected number below was printed by GrowthBook's own code (gbstats at commit
8f1db4456915a8e7b7faf23d5632ca7219d2f469) with ``tests/experiments/gbstats_reference.py``,
whose docstring says how to run it. Each case names the gbstats class and its inputs.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fawkes_analytics.experiments.bayesian import bayesian_test
from fawkes_analytics.experiments.config import parse_metric
from fawkes_analytics.experiments.inference import FixedHorizonTest, SequentialTest, interval
from fawkes_analytics.experiments.moments import effect, pair_arms


def _metric(kind: str, **extra):
    if kind == "ratio":
        raw = {"name": "m", "kind": "ratio", "numerator": {"event": "e", "property": "v"}, "denominator": "f"}
    else:
        raw = {"name": "m", "kind": kind, "event": "e", **({"property": "v"} if kind == "sum" else {}), **extra}
    return parse_metric(raw, "test.yaml", "m")


def _row(n, sy, syy=None, sd=0.0, sdd=0.0, syd=0.0, sx=0.0, sxx=None, syx=0.0) -> pd.Series:
    """Sums as gbstats takes them (0/1 values: the sum of squares is the sum)."""
    return pd.Series(
        dict(
            n=n,
            sum_y=sy,
            sum_y2=sy if syy is None else syy,
            sum_d=sd,
            sum_d2=sdd,
            sum_yd=syd,
            sum_x=sx,
            sum_x2=sx if sxx is None else sxx,
            sum_yx=syx,
        )
    )


def _readout(metric, control, treatment, test, alpha=0.05):
    a, b = pair_arms(metric, control, treatment, "a", "b")
    lift = effect(a, b)
    n = a.n + b.n
    z = lift.point / lift.se
    low, high = interval(test, lift.point, lift.se, alpha, lift.df, n)
    return lift, (float(low), float(high)), float(test.p_value(z, lift.df, n))


CONVERSION = (_row(2100, 105), _row(2050, 78))  # the example: 105/2100 vs 78/2050
CONVERSION_2 = (_row(1000, 120), _row(1010, 150))
MEANS = (_row(400, 1230.5, 9876.25), _row(380, 1302.0, 11020.7))

CASES = [
    # name, metric, control, treatment, test, alpha, gbstats (expected, ci, p)
    (
        "TwoSidedTTest proportions",
        _metric("conversion"),
        *CONVERSION,
        FixedHorizonTest(),
        0.05,
        (-0.2390243902439025, (-0.45717385829239954, -0.020874922195405488), 0.03176034176203024),
    ),
    (
        "SequentialTwoSidedTTest proportions, tuning 5000",
        _metric("conversion"),
        *CONVERSION,
        SequentialTest(0.05, 5000),
        0.05,
        (-0.2390243902439025, (-0.5771666511354069, 0.09911787064760183), 0.3715974027976782),
    ),
    (
        "OneSidedTreatmentGreaterTTest",
        _metric("conversion"),
        *CONVERSION_2,
        FixedHorizonTest("greater"),
        0.05,
        (0.2376237623762376, (0.005320889315245575, math.inf), 0.04623571815795435),
    ),
    (
        "OneSidedTreatmentLesserTTest",
        _metric("conversion"),
        *CONVERSION_2,
        FixedHorizonTest("less"),
        0.05,
        (0.2376237623762376, (-math.inf, 0.4699266354372297), 0.9537642818420456),
    ),
    (
        "SequentialOneSidedTreatmentLesserTTest (bisection p), tuning 1000",
        _metric("conversion"),
        CONVERSION_2[1],
        CONVERSION_2[0],
        SequentialTest(0.05, 1000, "less"),
        0.05,
        (-0.192, (-math.inf, 0.06620698545005732), 0.2859158673858642),
    ),
    (
        "TwoSidedTTest sample means (Welch df 768.03)",
        _metric("sum"),
        *MEANS,
        FixedHorizonTest(),
        0.05,
        (0.1137962745139974, (-0.08069348990261874, 0.30828603893061357), 0.25108344580388176),
    ),
    (
        "SequentialTwoSidedTTest sample means, alpha 0.1, tuning 2000",
        _metric("sum"),
        *MEANS,
        SequentialTest(0.1, 2000),
        0.1,
        (0.1137962745139974, (-0.17022992692263397, 0.3978224759506288), 1.0),
    ),
    (
        "TwoSidedTTest RatioStatistic",
        _metric("ratio"),
        _row(500, 5320.0, 98000.0, 1490.0, 5400.0, 20500.0),
        _row(520, 6010.0, 118000.0, 1555.0, 5650.0, 23100.0),
        FixedHorizonTest(),
        0.05,
        (0.0824770930541788, (0.0034176998351774096, 0.16153648627318018), 0.040902000885829404),
    ),
    (
        "TwoSidedTTest RegressionAdjustedStatistic, sample means (theta 0.91785)",
        _metric("count", covariate=True),
        _row(300, 912.0, 3650.0, sx=870.0, sxx=3300.0, syx=3380.0),
        _row(310, 1010.0, 4150.0, sx=905.0, sxx=3420.0, syx=3640.0),
        FixedHorizonTest(),
        0.05,
        (0.06588804885462406, (0.020337028158469113, 0.11143906955077901), 0.00465319731513647),
    ),
    (
        "TwoSidedTTest RegressionAdjustedStatistic, proportions (theta 0.54244)",
        _metric("conversion", covariate=True),
        _row(1000, 210, sx=190, syx=120),
        _row(1000, 250, sx=200, syx=140),
        FixedHorizonTest(),
        0.05,
        (0.1646455683722764, (-0.0008102372723267082, 0.3301013740168795), 0.05113141370623686),
    ),
]


@pytest.mark.parametrize(
    ("name", "metric", "control", "treatment", "test", "alpha", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_frequentist_readout_matches_gbstats(name, metric, control, treatment, test, alpha, expected):
    lift, ci, p = _readout(metric, control, treatment, test, alpha)
    point, (low, high), p_expected = expected
    assert lift.point == pytest.approx(point, rel=1e-12)
    assert ci == pytest.approx((low, high), rel=1e-9)
    # gbstats finds the one-sided sequential p-value by bisection (tolerance 1e-6 on the bound).
    assert p == pytest.approx(p_expected, rel=1e-4 if "bisection" in name else 1e-9)


def test_welch_df_and_cuped_theta_match_gbstats():
    a, b = pair_arms(_metric("sum"), *MEANS, "a", "b")
    assert effect(a, b).df == pytest.approx(768.0288886888644, rel=1e-12)  # gbstats TTest.dof
    a, _ = pair_arms(
        _metric("count", covariate=True),
        _row(300, 912.0, 3650.0, sx=870.0, sxx=3300.0, syx=3380.0),
        _row(310, 1010.0, 4150.0, sx=905.0, sxx=3420.0, syx=3640.0),
        "a",
        "b",
    )
    assert a.cuped.theta == pytest.approx(0.917850459900377, rel=1e-12)  # gbstats compute_theta
    a, _ = pair_arms(
        _metric("conversion", covariate=True),
        _row(1000, 210, sx=190, syx=120),
        _row(1000, 250, sx=200, syx=140),
        "a",
        "b",
    )
    assert a.cuped.theta == pytest.approx(0.5424430641821947, rel=1e-12)


def test_one_sided_sequential_p_beyond_gbstats_search_range():
    # gbstats caps its bisection at 0.4999 and reports that; our closed form gives the exact
    # value above it. Both say "not significant", and the interval agrees (gbstats: lower
    # bound -0.15787512475807713 for SequentialOneSidedTreatmentGreaterTTest, tuning 1000).
    lift, ci, p = _readout(_metric("conversion"), *CONVERSION_2, SequentialTest(0.05, 1000, "greater"))
    assert ci[0] == pytest.approx(-0.15787512475807713, rel=1e-9) and ci[1] == math.inf
    assert p >= 0.4999


@pytest.mark.parametrize(
    ("prior_sd", "higher_is_better", "expected"),
    [
        # EffectBayesianABTest(alpha=0.1): chanceToWin, ci, risk [control, treatment]
        (None, True, (0.2376237623762376, 0.9538425007956773, (0.005428747315002785, 0.46981877743747236), (0.2403122112958715, 0.002688448919633849))),
        (0.05, True, (0.02648807434023518, 0.7129455950806768, (-0.05103538625387139, 0.10401153493434173), (0.03494023668140217, 0.008452162341166986))),
        (None, False, (0.2376237623762376, 0.04615749920432266, (0.005428747315002785, 0.46981877743747236), (0.002688448919633849, 0.2403122112958715))),
    ],
)  # fmt: skip
def test_bayesian_readout_matches_gbstats(prior_sd, higher_is_better, expected):
    a, b = pair_arms(_metric("conversion"), *CONVERSION_2, "a", "b")
    # min chance 0.95 -> a 90% credible interval, gbstats' alpha = 0.1 (prior N(0, 0.05^2), proper).
    result = bayesian_test(effect(a, b), 0.95, 0.0, prior_sd, higher_is_better)
    mean, chance, ci, (risk_control, risk_variant) = expected
    assert result.posterior_mean == pytest.approx(mean, rel=1e-12)
    assert result.chance_to_beat == pytest.approx(chance, rel=1e-9)
    assert result.credible_interval == pytest.approx(ci, rel=1e-9)
    assert result.risk_control == pytest.approx(risk_control, rel=1e-7)
    assert result.risk_variant == pytest.approx(risk_variant, rel=1e-7)
