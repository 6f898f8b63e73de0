"""The decision rules of issue 16, each pinned with hand-worked numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fawkes_analytics.experiments import analyze_stats, parse_experiment
from fawkes_analytics.experiments.readout import interval_agrees
from fawkes_analytics.experiments.sufficient import SufficientStats

START, END = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-29")


def conversions(converted: int, users: int) -> dict:
    """Sums of ``users`` 0/1 values with ``converted`` ones."""
    return {"n": users, "sum_y": converted, "sum_y2": converted} | dict.fromkeys(
        ("sum_d", "sum_d2", "sum_yd", "sum_x", "sum_x2", "sum_yx"), 0.0
    )


def experiment(guardrails=(), alternative="two-sided", decision="frequentist", split=None, **rules):
    split = split or {"control": 0.5, "new": 0.5}
    return parse_experiment(
        {
            "id": "x",
            "control": "control",
            "split": split,
            "metrics": [
                {"name": "signup", "kind": "conversion", "event": "signup"},
                {"name": "retained", "kind": "conversion", "event": "visit"},
                {"name": "errors", "kind": "conversion", "event": "error", "higher_is_better": False},
            ],
            "rules": {
                "primary_metric": "signup",
                "guardrail_metrics": list(guardrails),
                "alternative": alternative,
                "decision": decision,
                "min_sample_per_variant": 100,
                **rules,
            },
        }
    )


def suff(cells: dict[tuple[str, str], dict], users: dict[str, int] | None = None) -> SufficientStats:
    frame = pd.DataFrame([{"metric": m, "variant": v, **c} for (m, v), c in cells.items()])
    counts = users or {v: int(c["n"]) for (m, v), c in cells.items() if m == "signup"}
    return SufficientStats(stats=frame, users=counts, multi_variant_users=0, first_assigned=START, data_end=END)


BETTER_SIGNUP = {("signup", "control"): conversions(500, 5000), ("signup", "new"): conversions(600, 5000)}
FLAT = {
    ("retained", "control"): conversions(2000, 5000),
    ("retained", "new"): conversions(2010, 5000),
    ("errors", "control"): conversions(250, 5000),
    ("errors", "new"): conversions(240, 5000),
}


def test_the_issue_example_p_and_interval_come_from_the_same_test():
    # 105/2100 = 5.000% vs 78/2050 = 3.805%: lift = -23.90%. se of the lift by the delta method
    # = sqrt(0.03805*0.96195/(2050*0.05^2) + 0.03805^2*0.05*0.95/(2100*0.05^4)) = 0.11127, z = -2.148,
    # Welch df 4102: p = 0.0318 and the 95% interval -23.9% -/+ 1.9606*11.13% = (-45.7%, -2.1%):
    # both say "significant" (GrowthBook gives the same numbers, see test_gbstats_reference.py).
    cells = {("signup", "control"): conversions(105, 2100), ("signup", "new"): conversions(78, 2050)} | FLAT
    result = analyze_stats(experiment(), suff(cells))
    alone = analyze_stats(experiment(correction="none"), suff(cells)).row("signup")
    assert alone.lift == pytest.approx(-0.239024, abs=1e-6)
    assert (alone.lift_ci_low, alone.lift_ci_high) == pytest.approx((-0.457174, -0.020875), abs=1e-6)
    assert alone.p_value == alone.p_value_adjusted == pytest.approx(0.031760, abs=1e-6)
    assert alone.verdict == "worse"
    # The absolute interval is the same interval in percentage points of the control's 5%.
    assert (alone.abs_ci_low, alone.abs_ci_high) == pytest.approx((0.05 * -0.457174, 0.05 * -0.020875), abs=1e-7)
    # With Holm over the three goal tests (signup and the two other metrics): 0.0318 * 3 = 0.0953
    # is not significant, and the interval that agrees with the adjusted p contains 0.
    row = result.row("signup")
    assert row.p_value == pytest.approx(0.031760, abs=1e-6)
    assert row.p_value_adjusted == pytest.approx(3 * 0.031760342, abs=1e-6)
    assert row.lift_ci_low < alone.lift_ci_low and row.lift_ci_low < 0 < row.lift_ci_high
    assert row.verdict == "inconclusive" and interval_agrees(row, experiment().rules)


def test_a_guardrail_that_collapses_to_zero_means_investigate_never_ship():
    # Signup: 10% -> 12% (+20%, p = 0.0036 two-sided, significant). Errors guardrail 250/5000 -> 0/5000:
    # the new variant's rate has zero variance, no test is possible: investigate.
    cells = BETTER_SIGNUP | FLAT | {("errors", "new"): conversions(0, 5000)}
    result = analyze_stats(experiment(guardrails=["errors"]), suff(cells))
    assert result.row("signup").verdict == "better"
    errors = result.row("errors")
    assert errors.status == "not enough data" and "0 of 5,000 users converted" in errors.reason
    assert result.recommendation.decision == "investigate"
    assert "Guardrail 'errors'" in result.recommendation.reason
    assert (result.power.status == "investigate first").all() and result.power.days_remaining.isna().all()


def test_a_guardrail_missing_in_a_variant_means_investigate():
    cells = BETTER_SIGNUP | {k: v for k, v in FLAT.items() if k != ("retained", "new")}
    result = analyze_stats(experiment(guardrails=["retained"]), suff(cells))
    assert result.row("retained").reason == "variant 'new' has no users"
    assert result.recommendation.decision == "investigate"


def test_one_sided_primary_and_a_harmed_guardrail_stops_for_harm():
    # alternative 'greater' applies to the primary only. Signup 10% -> 12%: lift +20%, se
    # sqrt(0.12*0.88/(5000*0.01) + 0.0144*0.09/(5000*0.0001)) = 0.068586, z = 2.916, p = 0.0018 (one-sided).
    # Retention, a guardrail where higher is better, falls 40% -> 20%: lift -50%, se
    # sqrt(0.2*0.8/(5000*0.16) + 0.04*0.24/(5000*0.0256)) = 0.016583, z = -30.15. Tested for harm
    # ('less'), p ~ 0 -> worse. Tested in the raw 'greater' direction it would have had p = 1.
    cells = BETTER_SIGNUP | FLAT | {("retained", "new"): conversions(1000, 5000)}
    result = analyze_stats(experiment(guardrails=["retained"], alternative="greater"), suff(cells))
    signup, retained = result.row("signup"), result.row("retained")
    assert signup.alternative == "greater" and signup.statistic == pytest.approx(2.916, abs=1e-3)
    assert signup.p_value == pytest.approx(0.00178, abs=2e-5) and signup.lift_ci_high == math.inf
    assert retained.alternative == "less" and retained.statistic == pytest.approx(-30.15, abs=0.01)
    assert retained.p_value < 1e-100 and retained.lift_ci_low == -math.inf and retained.lift_ci_high < 0
    assert retained.verdict == "worse"
    assert result.recommendation.decision == "stop for harm" and result.recommendation.metric == "retained"
    assert "lift -50.0%" in result.recommendation.reason
    # The secondary metric (errors) stays two-sided and, being no guardrail, is in the Holm family.
    assert result.row("errors").alternative == "two-sided"
    assert retained.p_value_adjusted == retained.p_value  # guardrails are not adjusted


def test_lower_is_better_guardrail_is_tested_upwards():
    # Errors 5% -> 6% (300/5000): harm for a lower-is-better metric, lift +20%, tested 'greater'.
    cells = BETTER_SIGNUP | FLAT | {("errors", "new"): conversions(300, 5000)}
    result = analyze_stats(experiment(guardrails=["errors"]), suff(cells))
    errors = result.row("errors")
    assert errors.alternative == "greater" and errors.lift == pytest.approx(0.2)
    assert errors.verdict == "worse" and result.recommendation.decision == "stop for harm"


def test_unknown_variants_are_counted_shown_and_block_ship():
    cells = BETTER_SIGNUP | FLAT
    result = analyze_stats(experiment(), suff(cells, users={"control": 5000, "new": 5000, "beta": 12}))
    assert result.row("signup").verdict == "better"  # would ship without the unknown variant
    assert result.excluded_unknown_variant_users == 12 and result.unknown_variants == {"beta": 12}
    users = result.users.set_index("variant")
    assert users.loc["beta", "users"] == 12 and not users.loc["beta", "planned"]
    assert users.loc["beta", "share"] == pytest.approx(12 / 10_012)
    assert result.srm.flagged and result.srm.p_value == 0.0
    assert result.recommendation.decision == "investigate" and "'beta' 12" in result.recommendation.reason


def test_ship_says_decision_reached_instead_of_days():
    result = analyze_stats(experiment(correction="none"), suff(BETTER_SIGNUP | FLAT))
    assert result.recommendation.decision == "ship" and result.recommendation.variant == "new"
    row = result.row("signup")
    # The reason quotes the row's own numbers: the lift, the interval and the p-value.
    assert f"lift {row.lift:+.1%}" in result.recommendation.reason
    assert f"{row.lift_ci_low:+.1%} to {row.lift_ci_high:+.1%}" in result.recommendation.reason
    assert (result.power.status == "decision reached").all() and result.power.days_remaining.isna().all()


def test_bayesian_decision_uses_only_the_chance_to_beat():
    result = analyze_stats(experiment(decision="bayesian"), suff(BETTER_SIGNUP | FLAT))
    row = result.row("signup")
    assert row.p_value is None or pd.isna(row.p_value)
    assert row.chance_to_beat > 0.95 and row.lift_ci_low > 0 and row.interval_level == pytest.approx(0.90)
    assert result.recommendation.decision == "ship" and "chance to beat control" in result.recommendation.reason
    assert "p =" not in result.recommendation.reason


def test_sequential_decision_shows_the_always_valid_interval_everywhere():
    # Same data, sequential (tuning 5000): the always-valid interval is wider than the fixed one and
    # the table, the recommendation and the interval agree.
    fixed = analyze_stats(experiment(correction="none"), suff(BETTER_SIGNUP | FLAT)).row("signup")
    result = analyze_stats(experiment(correction="none", decision="sequential"), suff(BETTER_SIGNUP | FLAT))
    row = result.row("signup")
    assert row.readout == "sequential" and row.lift_ci_low < fixed.lift_ci_low
    assert row.lift == fixed.lift
    assert interval_agrees(row, experiment(decision="sequential").rules)
    if result.recommendation.decision == "ship":
        assert row.lift_ci_low > 0
    else:
        assert row.lift_ci_low <= 0 and "always-valid" in result.recommendation.reason
