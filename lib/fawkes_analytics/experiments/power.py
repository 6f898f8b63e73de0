"""Power of the configured decision rule: at a given effect, the MDE now, and the users needed.

Everything here plans for the test that actually decides (see ``readout.decision_test``):

- the estimate is the relative lift with the delta-method standard error at the planned
  sample, using both variants' unit variances: the control's as observed; the treatment's as
  observed for continuous metrics and ``p_b (1 - p_b)`` with ``p_b = p_a (1 + lift)`` for
  conversions;
- the significance level is ``alpha / m`` where ``m`` is the number of tests in the
  multiple-testing family (Bonferroni: the level the smallest Holm or Benjamini-Hochberg
  p-value must clear, so the plan is conservative for both);
- the boundary is the decision test's: Student's t quantile (Welch df) for fixed-horizon
  tests, the always-valid boundary ``c(alpha / m)`` at the planned total sample for
  sequential ones (rho fixed by the configured alpha, exactly as the always-valid p-value),
  ``z_c`` on the posterior for Bayesian decisions (chance to beat >= c);
- the test statistic ``z = lift / se`` is approximately normal with mean ``r / se`` at a true
  lift ``r``, but its spread is below 1: the plug-in standard error grows with the estimated
  lift (a low control mean raises both), which partly cancels. Its standard deviation ``s``
  comes from the delta method on ``z(mean_a, mean_b)`` (central differences; unit variances
  held fixed, except ``p (1 - p)`` for conversions). For a 10% -> 12% conversion it is 0.83:
  planning with 1 (gbstats' ``MidExperimentPower``) overstates the users needed by about 15%;
- power is then ``P(Z > (c - r/se) / s) + P(Z < (-c - r/se) / s)`` for two-sided tests and the
  first term alone for one-sided ones.

A sequential test looked at daily has at least this power at the planned sample (earlier
looks can only add rejections); ``test_simulation.py`` checks it by simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .inference import TWO_SIDED, FixedHorizonTest, SequentialTest
from .moments import Arm, NotEnoughData, welch_df


@dataclass(frozen=True)
class Plan:
    """What a power calculation needs to know about the decision."""

    test: FixedHorizonTest | SequentialTest | None  # None: Bayesian decision
    level: float  # alpha / m for frequentist tests
    power: float
    min_chance: float = 0.95
    prior_mean: float = 0.0
    prior_sd: float | None = None


def _treatment_variance(control: Arm, treatment_var: float, lift: float) -> float:
    if not control.binomial:
        return treatment_var
    rate = control.mean * (1 + lift)
    if not 0 < rate < 1:
        raise NotEnoughData(f"a lift of {lift:+.1%} takes the rate {control.mean:.2%} outside 0-100%")
    return rate * (1 - rate)


def lift_se(control: Arm, treatment_var: float, lift: float, n_a: float, n_b: float) -> float:
    """Delta-method standard error of the relative lift at sample sizes ``n_a``, ``n_b``."""
    mean_a = control.unadjusted_mean
    mean_b = mean_a + lift * abs(mean_a)
    var_b = _treatment_variance(control, treatment_var, lift)
    return math.sqrt(var_b / (n_b * mean_a**2) + mean_b**2 * control.var / (n_a * mean_a**4))


def z_spread(control: Arm, treatment_var: float, lift: float, n_a: float, n_b: float) -> float:
    """Standard deviation of ``lift_hat / se_hat`` by the delta method on the two means."""
    mean_a = control.unadjusted_mean
    mean_b = mean_a + lift * abs(mean_a)
    var_a = control.var
    var_b = _treatment_variance(control, treatment_var, lift)

    def z(ma: float, mb: float) -> float:
        va = ma * (1 - ma) if control.binomial else var_a
        vb = mb * (1 - mb) if control.binomial else var_b
        se = math.sqrt(vb / (n_b * ma**2) + mb**2 * va / (n_a * ma**4))
        return (mb - ma) / abs(ma) / se

    h_a, h_b = 1e-5 * abs(mean_a), 1e-5 * max(abs(mean_b), 1e-12)
    grad_a = (z(mean_a + h_a, mean_b) - z(mean_a - h_a, mean_b)) / (2 * h_a)
    grad_b = (z(mean_a, mean_b + h_b) - z(mean_a, mean_b - h_b)) / (2 * h_b)
    return math.sqrt(grad_a**2 * var_a / n_a + grad_b**2 * var_b / n_b)


def power_at(control: Arm, treatment_var: float, lift: float, n_a: float, n_b: float, plan: Plan) -> float:
    """Probability that the decision rule declares a result when the true relative lift is ``lift``.

    ``lift`` is signed in the direction the test looks for: positive for two-sided tests and
    'greater', negative for 'less' (its size is what matters).
    """
    se = lift_se(control, treatment_var, lift, n_a, n_b)
    shift = abs(lift) / se
    spread = z_spread(control, treatment_var, lift, n_a, n_b)
    if plan.test is None:
        return _bayesian_power(shift, se, spread, lift, plan)
    var_b = _treatment_variance(control, treatment_var, lift)
    df = welch_df(Arm("a", int(max(n_a, 2)), 0, control.var, 0), Arm("b", int(max(n_b, 2)), 0, var_b, 0))
    c = float(plan.test.critical(plan.level, df, n_a + n_b))
    from scipy import stats  # SciPy loads with the first power figure, not with every reader of a result

    power = stats.norm.sf((c - shift) / spread)
    if plan.test.alternative == TWO_SIDED:
        power += stats.norm.cdf((-c - shift) / spread)
    return float(power)


def _bayesian_power(shift: float, se: float, spread: float, lift: float, plan: Plan) -> float:
    """P(chance to beat >= c): the posterior mean must exceed z_c posterior sds."""
    from scipy import stats

    z_c = stats.norm.ppf(plan.min_chance)
    if plan.prior_sd is None:
        return float(stats.norm.sf((z_c - shift) / spread))
    var, prior_var = se**2, plan.prior_sd**2
    precision = 1 / var + 1 / prior_var
    prior_pull = plan.prior_mean / prior_var * (1 if lift >= 0 else -1)
    threshold = var * (z_c * math.sqrt(precision) - prior_pull)  # the estimate must pass this
    return float(stats.norm.sf((threshold - abs(lift)) / se))


def _largest_lift(control: Arm) -> float:
    if control.binomial:
        return (1 - 1e-9) / control.mean - 1
    return 100.0


def mde(control: Arm, treatment_var: float, n_a: float, n_b: float, plan: Plan, sign: float = 1.0) -> float | None:
    """Smallest relative lift (in the tested direction) found with ``plan.power``; None if none is."""

    def gap(size: float) -> float:
        return power_at(control, treatment_var, sign * size, n_a, n_b, plan) - plan.power

    from scipy import optimize

    top = _largest_lift(control) if sign > 0 else 1 - 1e-9
    if gap(top) < 0:
        return None
    return float(optimize.brentq(gap, 1e-9, top, xtol=1e-7))


def total_users_needed(
    control: Arm, treatment_var: float, lift: float, share_a: float, share_b: float, plan: Plan
) -> int:
    """Users in all variants together so that ``power_at(lift)`` reaches ``plan.power``."""

    def gap(total: float) -> float:
        return power_at(control, treatment_var, lift, total * share_a, total * share_b, plan) - plan.power

    low, high = 4.0 / min(share_a, share_b), 1000.0
    while gap(high) < 0:
        low, high = high, high * 2
        if high > 1e12:
            raise NotEnoughData(f"no sample size reaches {plan.power:.0%} power for a lift of {lift:+.1%}")
    if gap(low) >= 0:
        return math.ceil(low)
    from scipy import optimize

    return math.ceil(optimize.brentq(gap, low, high, xtol=0.5))
