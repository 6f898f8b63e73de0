"""The Cookie Cats A/B test (real data, gate_30 = control), checked independently with pandas/SciPy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fawkes_analytics.experiments import UserTableSource, analyze_experiment, user_table_experiment

CSV = Path(__file__).resolve().parents[1] / "data" / "cookie_cats.csv"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    # Independent read: the file has CRLF line endings and TRUE/FALSE booleans.
    text = CSV.read_bytes().decode()
    assert "\r\n" in text
    return pd.read_csv(CSV)


@pytest.fixture(scope="module")
def result():
    experiment = user_table_experiment(
        "cookie_cats",
        "gate_30",
        ["gate_30", "gate_40"],
        {"retention_1": "conversion", "retention_7": "conversion", "sum_gamerounds": "sum"},
        rules={"primary_metric": "retention_7", "alpha": 0.05, "correction": "holm"},
    )
    return analyze_experiment(UserTableSource.from_csv(CSV), experiment)


def test_sample_sizes_and_srm(result, raw):
    assert result.users.set_index("variant").users.to_dict() == {"gate_30": 44700, "gate_40": 45489}
    assert (raw.version == "gate_30").sum() == 44700
    assert result.excluded_multi_variant_users == 0
    # 44700 vs 45489 against 50/50: chi2 = 2 * 394.5^2 / 45094.5 = 6.90, p = 0.0086 -> not flagged (< 0.001 needed).
    assert result.srm.p_value == pytest.approx(stats.chisquare([44700, 45489]).pvalue, rel=1e-9)
    assert result.srm.p_value == pytest.approx(0.0086, abs=1e-4)
    assert result.srm_status == "ok"


def _relative_readout(a: pd.Series, b: pd.Series, binomial: bool) -> tuple[float, float, float]:
    """Lift, its delta-method se and the Welch df, written out from the raw columns."""
    ma, mb = a.mean(), b.mean()
    va, vb = (ma * (1 - ma), mb * (1 - mb)) if binomial else (a.var(ddof=1), b.var(ddof=1))
    se = np.sqrt(vb / (len(b) * ma**2) + mb**2 * va / (len(a) * ma**4))
    ua, ub = va / len(a), vb / len(b)
    df = (ua + ub) ** 2 / (ua**2 / (len(a) - 1) + ub**2 / (len(b) - 1))
    return mb / ma - 1, se, df


@pytest.mark.parametrize(
    ("metric", "rate_a", "rate_b"), [("retention_1", 0.4482, 0.4423), ("retention_7", 0.1902, 0.1820)]
)
def test_retention_rates_intervals_and_p_values(result, raw, metric, rate_a, rate_b):
    row = result.row(metric)
    a = raw.loc[raw.version == "gate_30", metric].astype(bool)
    b = raw.loc[raw.version == "gate_40", metric].astype(bool)
    assert row.mean_control == pytest.approx(a.mean(), rel=1e-12) == pytest.approx(rate_a, abs=1e-4)
    assert row.mean_variant == pytest.approx(b.mean(), rel=1e-12) == pytest.approx(rate_b, abs=1e-4)
    lift, se, df = _relative_readout(a, b, binomial=True)
    assert row.lift == pytest.approx(lift, rel=1e-12)
    assert row.p_value == pytest.approx(2 * stats.t.sf(abs(lift / se), df), rel=1e-9)


def test_sum_gamerounds_welch(result, raw):
    row = result.row("sum_gamerounds")
    a = raw.loc[raw.version == "gate_30", "sum_gamerounds"]
    b = raw.loc[raw.version == "gate_40", "sum_gamerounds"]
    assert row.mean_control == pytest.approx(52.4563, abs=1e-4) and row.mean_variant == pytest.approx(51.2988, abs=1e-4)
    assert row.df == pytest.approx(stats.ttest_ind(b, a, equal_var=False).df, rel=1e-9)  # Welch-Satterthwaite
    lift, se, _ = _relative_readout(a, b, binomial=False)
    assert row.statistic == pytest.approx(lift / se, rel=1e-9)


def test_conclusions(result):
    r1, r7, games = result.row("retention_1"), result.row("retention_7"), result.row("sum_gamerounds")
    # The known result: moving the gate to level 40 lowers 7-day retention (-4.3%, p = 0.0012 on the
    # relative lift), while 1-day retention (p = 0.072) and game rounds (p = 0.37) show no change.
    assert r7.p_value == pytest.approx(0.001218, abs=2e-6) and r7.lift == pytest.approx(-0.0431, abs=1e-4)
    assert r7.p_value_adjusted == pytest.approx(3 * r7.p_value)  # Holm: the smallest of three is tripled
    assert r7.lift_ci_high < 0 and r7.significant and r7.verdict == "worse"
    assert not r1.significant and not games.significant and r1.lift_ci_low < 0 < r1.lift_ci_high
    assert r1.p_value == pytest.approx(0.0725, abs=1e-4) and r1.p_value_adjusted == pytest.approx(2 * r1.p_value)
    assert pd.isna(r7.chance_to_beat)  # one measure of evidence: the frequentist rule has no chance to beat
    assert result.recommendation.decision == "stop for harm" and result.recommendation.variant == "gate_40"
    assert "retention_7" in result.recommendation.reason and "-7.2% to -1.4%" in result.recommendation.reason
    json.dumps(result.to_dict(), allow_nan=False)
