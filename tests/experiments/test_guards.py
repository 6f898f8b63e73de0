"""SRM (unknown variants included), multiple-testing corrections, power of the decision rule, degenerate inputs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from fawkes_analytics.experiments import analyze_stats, parse_experiment
from fawkes_analytics.experiments.corrections import adjust
from fawkes_analytics.experiments.inference import FixedHorizonTest, SequentialTest
from fawkes_analytics.experiments.moments import Arm
from fawkes_analytics.experiments.power import Plan, mde, power_at, total_users_needed, z_spread
from fawkes_analytics.experiments.srm import srm_check
from fawkes_analytics.experiments.sufficient import SufficientStats

from .conftest import stat_row


def test_srm_matches_scipy_and_flags_below_threshold():
    # 5000 vs 4600 at 50/50: expected 4800 each, chi2 = 2 * 200^2 / 4800 = 16.67, p = 4.5e-5 < 0.001.
    bad = srm_check({"a": 5000, "b": 4600}, {"a": 0.5, "b": 0.5})
    chi2, p = stats.chisquare([5000, 4600])
    assert bad.chi2 == pytest.approx(16.6667, rel=1e-4) == chi2
    assert bad.p_value == pytest.approx(p, rel=1e-12)
    assert bad.status == "mismatch" and bad.flagged and "do not trust" in bad.message
    # 5000 vs 4700: chi2 = 2 * 150^2 / 4850 = 9.28, p = 0.0023: not flagged at 0.001.
    ok = srm_check({"a": 5000, "b": 4700}, {"a": 0.5, "b": 0.5})
    assert ok.status == "ok" and ok.p_value == pytest.approx(stats.chisquare([5000, 4700]).pvalue)
    three = srm_check({"c": 3400, "g": 3300, "h": 3300}, {"c": 0.34, "g": 0.33, "h": 0.33})
    assert three.chi2 == pytest.approx(0.0, abs=1e-9) and three.status == "ok"
    assert srm_check({}, {"a": 0.5, "b": 0.5}).status == "not enough data"


def test_unknown_variants_are_in_the_srm_check_over_all_observed_variants():
    # 5000 / 5000 exactly as planned, plus 7 users in 'beta' that the plan gives a share of 0:
    # expected users in 'beta' = 0 * 10,007 = 0, so (7 - 0)^2 / 0 is infinite and p = 0.
    result = srm_check({"a": 5000, "b": 5000}, {"a": 0.5, "b": 0.5}, unknown={"beta": 7})
    assert result.flagged and result.p_value == 0.0 and result.chi2 is None
    assert result.observed == {"a": 5000, "b": 5000, "beta": 7} and result.expected["beta"] == 0.0
    assert result.expected["a"] == pytest.approx(10_007 / 2)
    assert "'beta' 7" in result.message and "not in the plan" in result.message


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
@pytest.mark.parametrize("seed", range(3))
def test_corrections_match_statsmodels_multipletests(ours, theirs, seed):
    rng = np.random.default_rng(seed)
    p = np.r_[rng.uniform(0, 0.05, 4), rng.uniform(0, 1, 6), [0.01, 0.01]]  # ties included
    assert adjust(list(p), ours) == pytest.approx(list(multipletests(p, method=theirs)[1]), rel=1e-12)


def test_corrections_by_hand():
    # Holm: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running max -> 0.03, 0.06, 0.06.
    assert adjust([0.01, 0.04, 0.03], "holm") == pytest.approx([0.03, 0.06, 0.06])
    # Benjamini-Hochberg: 0.04 * 3/3 = 0.04, 0.03 * 3/2 = 0.045, 0.01 * 3/1 = 0.03; running min from
    # the largest -> 0.04, 0.04, 0.03.
    assert adjust([0.01, 0.04, 0.03], "bh") == pytest.approx([0.03, 0.04, 0.04])
    assert adjust([0.01, None, 0.04], "holm") == pytest.approx([0.02, None, 0.04])
    assert adjust([0.2, 0.3], "none") == [0.2, 0.3]


CONTROL = Arm("control", 5000, 0.2, 0.2 * 0.8, 0.2, binomial=True)


def test_power_at_an_effect_by_hand():
    # Control 20% with 5,000 users per variant; a +10% lift makes the treatment 22%.
    # z = sqrt(n) (mb - ma) / sqrt(D) with D = mb (1 - mb) + mb^2 (1 - ma) / ma = 0.1716 + 0.1936 = 0.3652,
    # so its mean is sqrt(5000) * 0.02 / 0.60432 = 2.34018. Its spread by the delta method:
    # dD/dma = -mb^2/ma^2 = -1.21, dD/dmb = 1 - 2 mb + 2 mb (1 - ma)/ma = 2.32, (mb - ma)/(2 D^1.5) = 0.045311;
    # dz/dma / sqrt(n) = -1/sqrt(D) + 0.045311 * 1.21 = -1.59992, dz/dmb / sqrt(n) = 1.65475 - 0.045311 * 2.32
    # = 1.54963; var z = 1.59992^2 * 0.16 + 1.54963^2 * 0.1716 = 0.82163, spread s = 0.90644.
    assert z_spread(CONTROL, 0.0, 0.10, 5000, 5000) == pytest.approx(0.90644, abs=1e-5)
    # Fixed horizon: Welch df 9985.8, t_0.975 = 1.96020;
    # power = Phi((2.34018 - 1.96020) / 0.90644) + Phi((-1.96020 - 2.34018) / 0.90644) = 0.66247.
    fixed = Plan(FixedHorizonTest(), 0.05, 0.8)
    assert power_at(CONTROL, 0.0, 0.10, 5000, 5000, fixed) == pytest.approx(0.66247, abs=2e-5)
    # Sequential, tuning 5000: rho^2 = (-2 ln 0.05 + ln(1 - 2 ln 0.05)) / 5000 = 0.00158723, k = 10,000 rho^2
    # = 15.8723, boundary c = sqrt(2 (k+1)/k ln(sqrt(k+1)/0.05)) = 3.06148;
    # power = Phi((2.34018 - 3.06148) / 0.90644) = 0.21309.
    sequential = Plan(SequentialTest(0.05, 5000), 0.05, 0.8)
    assert power_at(CONTROL, 0.0, 0.10, 5000, 5000, sequential) == pytest.approx(0.21309, abs=2e-5)
    # Holm over two tests plans at alpha/2: t_0.9875 = 2.24174, power = Phi((2.34018 - 2.24174) / 0.90644) = 0.54324.
    holm = Plan(FixedHorizonTest(), 0.025, 0.8)
    assert power_at(CONTROL, 0.0, 0.10, 5000, 5000, holm) == pytest.approx(0.54324, abs=2e-5)


@pytest.mark.parametrize("test", [FixedHorizonTest(), SequentialTest(0.05, 5000), FixedHorizonTest("greater")])
def test_mde_and_sample_size_invert_power(test):
    plan = Plan(test, 0.05, 0.8)
    size = mde(CONTROL, 0.0, 5000, 5000, plan)
    assert power_at(CONTROL, 0.0, size, 5000, 5000, plan) == pytest.approx(0.8, abs=1e-5)
    total = total_users_needed(CONTROL, 0.0, 0.10, 0.5, 0.5, plan)
    assert power_at(CONTROL, 0.0, 0.10, total / 2, total / 2, plan) >= 0.8
    assert power_at(CONTROL, 0.0, 0.10, 0.99 * total / 2, 0.99 * total / 2, plan) < 0.8
    if isinstance(test, SequentialTest):
        # The always-valid boundary needs more users than the fixed-horizon test.
        assert total > total_users_needed(CONTROL, 0.0, 0.10, 0.5, 0.5, Plan(FixedHorizonTest(), 0.05, 0.8))


def test_power_uses_the_treatment_variance_of_continuous_metrics():
    control = Arm("control", 2000, 10.0, 25.0, 10.0)
    plan = Plan(FixedHorizonTest(), 0.05, 0.8)
    noisy = power_at(control, 100.0, 0.05, 2000, 2000, plan)  # treatment sd 10 instead of 5
    assert noisy < power_at(control, 25.0, 0.05, 2000, 2000, plan)


def _experiment(kind="conversion", **rules):
    metric = {"name": "m", "kind": kind, "event": "e"}
    if kind == "sum":
        metric["property"] = "v"
    return parse_experiment(
        {
            "id": "x",
            "control": "a",
            "split": {"a": 0.5, "b": 0.5},
            "metrics": [metric],
            "rules": {"min_sample_per_variant": 1, **rules},
        }
    )


def _suff(rows: dict[str, pd.Series]) -> SufficientStats:
    frame = pd.DataFrame([{**r.to_dict(), "variant": v, "metric": "m"} for v, r in rows.items()])
    return SufficientStats(stats=frame, users={v: int(r["n"]) for v, r in rows.items()}, multi_variant_users=0)


@pytest.mark.parametrize(
    ("kind", "rows", "status", "reason"),
    [
        ("conversion", {"a": stat_row([0, 1, 1])}, "not enough data", "variant 'b' has no users"),
        ("conversion", {"a": stat_row([1]), "b": stat_row([0, 1])}, "not enough data", "variant 'a' has 1 user"),
        ("conversion", {"a": stat_row([0, 0, 0]), "b": stat_row([1, 0])}, "not enough data", "0 of 3 users converted"),
        ("conversion", {"a": stat_row([1, 0, 1]), "b": stat_row([1, 1])}, "not enough data", "2 of 2 users converted"),
        ("sum", {"a": stat_row([2, 2, 2]), "b": stat_row([3, 1])}, "not enough data", "same value (2)"),
        ("sum", {"a": stat_row([0, 0, 0]), "b": stat_row([3, 1])}, "not enough data", "same value (0)"),
        ("sum", {"a": stat_row([-1, 1, 0]), "b": stat_row([3, 1])}, "not enough data", "control mean is 0"),
        # sum_y = 6 over 3 users needs sum_y2 >= 6^2/3 = 12; 10 implies a negative variance.
        ("sum", {"a": stat_row([1, 2, 3]).replace(14.0, 10.0), "b": stat_row([3, 1])}, "invalid data", "negative variance"),
        # 5 conversions among 4 users is impossible.
        ("conversion", {"a": pd.Series({**stat_row([1, 1, 1, 1]).to_dict(), "sum_y": 5.0}), "b": stat_row([1, 0])}, "invalid data", "impossible"),
    ],
)  # fmt: skip
def test_degenerate_inputs_get_a_status_and_a_reason(kind, rows, status, reason):
    result = analyze_stats(_experiment(kind), _suff(rows))
    row = result.results.iloc[0]
    assert row.status == status and reason in row.reason, row.reason
    assert row.verdict == "no readout"
    assert result.recommendation.decision == "keep running"
    text = json.dumps(result.to_dict(), allow_nan=False)  # no NaN or inf anywhere in the JSON
    assert f'"status": "{status}"' in text


def test_power_table_follows_the_decision_rule_and_correction():
    # Two treatments x one goal metric: Holm family of 2, planned at 0.05 / 2 = 0.025.
    experiment = parse_experiment(
        {
            "id": "x",
            "control": "a",
            "split": {"a": 0.34, "b": 0.33, "c": 0.33},
            "metrics": [{"name": "m", "kind": "conversion", "event": "e"}],
            "rules": {"decision": "sequential", "sequential": {"tuning": 2000}, "target_lift": 0.1},
        }
    )
    rows = {v: stat_row([1] * k + [0] * (1000 - k)) for v, k in {"a": 200, "b": 205, "c": 198}.items()}
    suff = dataclasses.replace(
        _suff(rows), first_assigned=pd.Timestamp("2024-01-01"), data_end=pd.Timestamp("2024-01-21")
    )
    result = analyze_stats(experiment, suff)
    power = result.power.set_index("variant")
    assert (power.tests_in_family == 2).all() and power.level.tolist() == pytest.approx([0.025, 0.025])
    control = Arm("a", 1000, 0.2, 0.16, 0.2, binomial=True)
    plan = Plan(SequentialTest(0.05, 2000), 0.025, 0.8)
    assert power.loc["b", "power_at_target_now"] == pytest.approx(power_at(control, 0, 0.1, 1000, 1000, plan))
    total = total_users_needed(control, 0, 0.1, 0.34, 0.33, plan)
    assert power.loc["b", "total_needed"] == total
    # 3,000 users in 20 days = 150 a day; the total plus the 14-day window, minus the 20 days run.
    assert power.loc["b", "days_remaining"] == pytest.approx(total / 150 + 14 - 20)
    assert result.recommendation.decision == "keep running"
    assert f"{total:,} users" in result.recommendation.reason
