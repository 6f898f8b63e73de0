"""Prints the reference numbers of test_gbstats_reference.py with GrowthBook's own gbstats.

Not a test and not part of the library. To reproduce, outside the repository:

    git -C <growthbook clone> archive 8f1db4456915a8e7b7faf23d5632ca7219d2f469 packages/stats/gbstats | tar x -C /tmp/gb
    python -m venv /tmp/gb/venv && /tmp/gb/venv/bin/pip install numpy scipy pandas pydantic packaging
    GBSTATS=/tmp/gb/packages/stats /tmp/gb/venv/bin/python tests/experiments/gbstats_reference.py
"""

# ruff: noqa: E402, E501, E702, I001
import os
import sys

sys.path.insert(0, os.environ.get("GBSTATS", "/tmp/gb/packages/stats"))
from gbstats.frequentist.tests import (
    TwoSidedTTest,
    OneSidedTreatmentGreaterTTest,
    OneSidedTreatmentLesserTTest,
    SequentialTwoSidedTTest,
    SequentialOneSidedTreatmentGreaterTTest,
    SequentialOneSidedTreatmentLesserTTest,
    FrequentistConfig,
    SequentialConfig,
)
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.models.statistics import (
    ProportionStatistic,
    SampleMeanStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
)


def show(name, res):
    print(
        name,
        repr(res.expected),
        repr(tuple(float(c) for c in res.ci)),
        repr(getattr(res, "pValue", None)),
        repr(getattr(res, "chanceToWin", None)),
        repr(getattr(res, "risk", None)),
    )


prop = (ProportionStatistic(n=2100, sum=105), ProportionStatistic(n=2050, sum=78))
show("prop_two", TwoSidedTTest([prop]).compute_result())
show("prop_seq", SequentialTwoSidedTTest([prop], SequentialConfig(sequential_tuning_parameter=5000)).compute_result())
prop2 = (ProportionStatistic(n=1000, sum=120), ProportionStatistic(n=1010, sum=150))
show("prop2_greater", OneSidedTreatmentGreaterTTest([prop2]).compute_result())
show("prop2_less", OneSidedTreatmentLesserTTest([prop2]).compute_result())
show(
    "prop2_seq_greater",
    SequentialOneSidedTreatmentGreaterTTest(
        [prop2], SequentialConfig(sequential_tuning_parameter=1000)
    ).compute_result(),
)
show(
    "prop2_seq_less_harm",
    SequentialOneSidedTreatmentLesserTTest(
        [(prop2[1], prop2[0])], SequentialConfig(sequential_tuning_parameter=1000)
    ).compute_result(),
)
show("prop2_abs", TwoSidedTTest([prop2], FrequentistConfig(difference_type="absolute")).compute_result())
# sample means: a = (n 400, sum 1230.5, ss 9876.25), b = (n 380, sum 1302.0, ss 11020.7)
mean = (
    SampleMeanStatistic(n=400, sum=1230.5, sum_squares=9876.25),
    SampleMeanStatistic(n=380, sum=1302.0, sum_squares=11020.7),
)
show("mean_two", TwoSidedTTest([mean]).compute_result())
show(
    "mean_seq",
    SequentialTwoSidedTTest([mean], SequentialConfig(sequential_tuning_parameter=2000, alpha=0.1)).compute_result(),
)
t = TwoSidedTTest([mean])
print("mean_dof", repr(t.dof))
# ratio: numerator and denominator sums
ratio = (
    RatioStatistic(
        n=500,
        m_statistic=SampleMeanStatistic(n=500, sum=5320.0, sum_squares=98000.0),
        d_statistic=SampleMeanStatistic(n=500, sum=1490.0, sum_squares=5400.0),
        m_d_sum_of_products=20500.0,
    ),
    RatioStatistic(
        n=520,
        m_statistic=SampleMeanStatistic(n=520, sum=6010.0, sum_squares=118000.0),
        d_statistic=SampleMeanStatistic(n=520, sum=1555.0, sum_squares=5650.0),
        m_d_sum_of_products=23100.0,
    ),
)
show("ratio_two", TwoSidedTTest([ratio]).compute_result())


# CUPED on sample means (post y, pre x)
def ra(n, sy, syy, sx, sxx, sxy):
    return RegressionAdjustedStatistic(
        n=n,
        post_statistic=SampleMeanStatistic(n=n, sum=sy, sum_squares=syy),
        pre_statistic=SampleMeanStatistic(n=n, sum=sx, sum_squares=sxx),
        post_pre_sum_of_products=sxy,
        theta=None,
    )


cuped = (ra(300, 912.0, 3650.0, 870.0, 3300.0, 3380.0), ra(310, 1010.0, 4150.0, 905.0, 3420.0, 3640.0))
tt = TwoSidedTTest([cuped])
print("cuped_theta", repr(tt.stat_a.theta))
show("cuped_two", tt.compute_result())


def rap(n, sy, sx, sxy):
    return RegressionAdjustedStatistic(
        n=n,
        post_statistic=ProportionStatistic(n=n, sum=sy),
        pre_statistic=ProportionStatistic(n=n, sum=sx),
        post_pre_sum_of_products=sxy,
        theta=None,
    )


cuped_p = (rap(1000, 210, 190, 120), rap(1000, 250, 200, 140))
tp = TwoSidedTTest([cuped_p])
print("cupedp_theta", repr(tp.stat_a.theta))
show("cupedp_two", tp.compute_result())
show("bayes_flat", EffectBayesianABTest([prop2], EffectBayesianConfig(alpha=0.1)).compute_result())
show(
    "bayes_prior",
    EffectBayesianABTest(
        [prop2], EffectBayesianConfig(alpha=0.1, prior_effect=GaussianPrior(mean=0.0, variance=0.05**2, proper=True))
    ).compute_result(),
)
show("bayes_inverse", EffectBayesianABTest([prop2], EffectBayesianConfig(alpha=0.1, inverse=True)).compute_result())
