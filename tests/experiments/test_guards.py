"""SRM, multiple-testing corrections, power and degenerate inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

from fawkes_analytics.experiments import analyze_stats, parse_experiment
from fawkes_analytics.experiments.corrections import adjust
from fawkes_analytics.experiments.moments import Moments
from fawkes_analytics.experiments.power import mde, power_analysis, sample_size
from fawkes_analytics.experiments.srm import srm_check

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
    # Uneven planned split is the reference, not equality.
    three = srm_check({"c": 3400, "g": 3300, "h": 3300}, {"c": 0.34, "g": 0.33, "h": 0.33})
    assert three.chi2 == pytest.approx(0.0, abs=1e-9) and three.status == "ok"
    assert srm_check({}, {"a": 0.5, "b": 0.5}).status == "not enough data"


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
@pytest.mark.parametrize("seed", range(5))
def test_corrections_match_statsmodels_multipletests(ours, theirs, seed):
    rng = np.random.default_rng(seed)
    p = np.r_[rng.uniform(0, 0.05, 4), rng.uniform(0, 1, 6), [0.01, 0.01]]  # ties included
    expected = multipletests(p, method=theirs)[1]
    assert adjust(list(p), ours) == pytest.approx(list(expected), rel=1e-12)


def test_corrections_keep_missing_tests_out_of_the_family():
    adjusted = adjust([0.01, None, 0.04], "holm")
    assert adjusted[1] is None
    assert adjusted[0] == pytest.approx(multipletests([0.01, 0.04], method="holm")[1][0])
    assert adjust([0.2, 0.3], "none") == [0.2, 0.3]


def test_power_matches_statsmodels_normal_ind_power():
    control = Moments(n=5000, mean=0.2, var=0.2 * 0.8, binomial=True)
    sd = math.sqrt(control.var)
    # MDE at the current sample (5000 vs 4000): statsmodels solves for the standardised effect.
    effect = NormalIndPower().solve_power(effect_size=None, nobs1=5000, alpha=0.05, power=0.8, ratio=4000 / 5000)
    assert mde(control, 5000, 4000) == pytest.approx(effect * sd / 0.2, rel=1e-4)
    # Sample size for a +10 % relative lift (0.02 absolute), equal split.
    n1 = NormalIndPower().solve_power(effect_size=0.02 / sd, nobs1=None, alpha=0.05, power=0.8, ratio=1.0)
    n_a, n_b = sample_size(control, 0.10)
    assert n_a == math.ceil(n1) or abs(n_a - n1) < 2
    assert n_b == n_a
    one_sided = NormalIndPower().solve_power(
        effect_size=0.02 / sd, nobs1=None, alpha=0.05, power=0.8, alternative="larger"
    )
    assert sample_size(control, 0.10, alternative="greater")[0] == pytest.approx(one_sided, abs=1.5)


def test_days_needed_from_inflow():
    control = Moments(n=1000, mean=0.2, var=0.16, binomial=True)
    pw = power_analysis(control, 1000, 0.5, 0.5, 0.10, 0.05, 0.8, "two-sided", total_users=2000, days_running=10)
    # 200 users a day; total needed = 2 * n_a; days = total / 200; remaining = days - 10.
    assert pw.total_needed == 2 * pw.control_needed
    assert pw.days_needed == pytest.approx(pw.total_needed / 200)
    assert pw.days_remaining == pytest.approx(pw.days_needed - 10)


def _experiment(kind="conversion"):
    metric = {"name": "m", "kind": kind, "event": "e"}
    if kind == "sum":
        metric["property"] = "v"
    return parse_experiment(
        {
            "id": "x",
            "control": "a",
            "split": {"a": 0.5, "b": 0.5},
            "metrics": [metric],
            "rules": {"min_sample_per_variant": 1},
        }
    )


def _suff(rows: dict[str, pd.Series]) -> dict:
    frame = pd.DataFrame([{**r.to_dict(), "variant": v, "metric": "m"} for v, r in rows.items()])
    return {
        "stats": frame,
        "users": {v: int(r["n"]) for v, r in rows.items()},
        "multi_variant_users": 0,
        "caps": {},
        "first_assigned": None,
        "data_end": None,
    }


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ({"a": stat_row([0, 1, 1])}, "variant 'b' has no users"),
        ({"a": stat_row([1]), "b": stat_row([0, 1])}, "variant 'a' has 1 user"),
        ({"a": stat_row([0, 0, 0]), "b": stat_row([0, 0])}, "zero variance"),
        ({"a": stat_row([0, 0, 0]), "b": stat_row([1, 0, 1])}, "control mean is 0"),
    ],
)
def test_degenerate_inputs_give_not_enough_data(rows, reason):
    result = analyze_stats(_experiment(), _suff(rows))
    row = result.results.iloc[0]
    assert row.status == "not enough data" and reason in row.reason
    assert result.recommendation.decision == "keep running"
    text = json.dumps(result.to_dict(), allow_nan=False)  # no NaN or inf anywhere in the JSON
    assert '"status": "not enough data"' in text


def test_zero_variance_continuous_in_both_but_different_means_is_not_a_crash():
    result = analyze_stats(_experiment("sum"), _suff({"a": stat_row([2, 2, 2]), "b": stat_row([3, 3])}))
    assert result.results.iloc[0].status == "not enough data"
    assert result.power.empty
