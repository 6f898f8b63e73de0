"""End to end on the events store (DuckDB): readouts, recommendation rules, timeline, plots."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats import proportion as sm_proportion

from fawkes_analytics.experiments import analyze_experiment, parse_experiment

matplotlib.use("Agg")

START = pd.Timestamp("2024-03-01", tz="UTC")


def _data(rates: dict[str, float], shares: dict[str, float], users: int = 1500, seed: int = 3, days: int = 10):
    """Users assigned over ``days``; a converting user buys 1-5 days after assignment."""
    rng = np.random.default_rng(seed)
    variant = rng.choice(list(shares), size=users, p=list(shares.values()))
    assigned = START + pd.to_timedelta(rng.uniform(0, days * 86400, users), unit="s")
    converts = rng.uniform(size=users) < np.vectorize(rates.get)(variant)
    ids = np.array([f"u{i}" for i in range(users)])
    buy_at = assigned[converts] + pd.to_timedelta(rng.uniform(1, 5, converts.sum()), unit="D")
    assignments = pd.DataFrame(
        {
            "experiment_id": "exp",
            "variant": variant,
            "user_id": ids,
            "assigned_at": assigned.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(converts.sum())],
            "user_id": ids[converts],
            "event_name": "buy",
            "timestamp": buy_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": '{"amount": 20}',
        }
    )
    return assignments, events


def _experiment(split, **rules):
    return parse_experiment(
        {
            "id": "exp",
            "name": "Checkout",
            "control": "control",
            "split": split,
            "metrics": [
                {"name": "buy_7d", "kind": "conversion", "event": "buy", "window_days": 7},
                {"name": "revenue_7d", "kind": "sum", "event": "buy", "property": "amount", "window_days": 7},
            ],
            "rules": {"primary_metric": "buy_7d", "min_sample_per_variant": 100, **rules},
        }
    )


def test_winner_is_shipped_and_numbers_match_statsmodels(make_source):
    assignments, events = _data({"control": 0.20, "new": 0.30}, {"control": 0.5, "new": 0.5})
    result = analyze_experiment(
        make_source(assignments=assignments, events=events), _experiment({"control": 0.5, "new": 0.5})
    )
    assert result.srm_status == "ok"
    # Independent count from the generated frames (all buys fall inside the 7-day window).
    buyers = set(events.user_id)
    counts = assignments.assign(buy=assignments.user_id.isin(buyers)).groupby("variant").buy.agg(["sum", "count"])
    row = result.row("buy_7d", "new")
    assert (row.n_control, row.n_variant) == (counts.loc["control", "count"], counts.loc["new", "count"])
    sm = sm_proportion.test_proportions_2indep(
        counts.loc["new", "sum"],
        counts.loc["new", "count"],
        counts.loc["control", "sum"],
        counts.loc["control", "count"],
        method="wald",
    )
    assert row.p_value == pytest.approx(sm.pvalue, rel=1e-9)
    assert row.significant and row.verdict == "better"
    assert result.recommendation.decision == "ship" and result.recommendation.variant == "new"
    assert any("Ship" in rule for rule in result.recommendation.rules)
    # revenue = 20 per buyer: the same lift as conversion
    assert result.row("revenue_7d").lift == pytest.approx(row.lift, rel=1e-9)
    payload = json.dumps(result.to_dict(), allow_nan=False)
    assert '"srm_status": "ok"' in payload
    assert {"users", "results", "power"} <= set(result.to_frames())


def test_sample_ratio_mismatch_comes_first(make_source):
    # Planned 50/50 but assigned 65/35: chi-square p is astronomically small.
    assignments, events = _data({"control": 0.2, "new": 0.3}, {"control": 0.65, "new": 0.35})
    result = analyze_experiment(
        make_source(assignments=assignments, events=events), _experiment({"control": 0.5, "new": 0.5})
    )
    assert result.srm_status == "mismatch" and result.srm.p_value < 1e-6
    assert result.recommendation.decision == "investigate"
    assert list(result.to_dict())[:5] == ["experiment_id", "name", "hypothesis", "control", "srm_status"]


def test_harm_on_a_guardrail_stops_and_holm_spans_variants_and_metrics(make_source):
    split = {"control": 0.34, "a": 0.33, "b": 0.33}
    assignments, events = _data({"control": 0.30, "a": 0.30, "b": 0.15}, split, users=2400)
    result = analyze_experiment(
        make_source(assignments=assignments, events=events), _experiment(split, guardrail_metrics=["revenue_7d"])
    )
    assert len(result.results) == 4  # 2 metrics x 2 treatments in one Holm family
    from statsmodels.stats.multitest import multipletests

    assert list(result.results.p_value_adjusted) == pytest.approx(
        list(multipletests(result.results.p_value, method="holm")[1])
    )
    assert result.recommendation.decision == "stop for harm" and result.recommendation.variant == "b"


def test_keep_running_when_too_small_and_timeline(make_source):
    assignments, events = _data({"control": 0.2, "new": 0.2}, {"control": 0.5, "new": 0.5}, users=150)
    source = make_source(assignments=assignments, events=events)
    result = analyze_experiment(source, _experiment({"control": 0.5, "new": 0.5}), timeline=True)
    assert result.recommendation.decision == "keep running" and "Not enough users" in result.recommendation.reason
    timeline = result.timeline
    primary = timeline[timeline.metric == "buy_7d"]
    assert primary.as_of.is_monotonic_increasing and primary.n_control.is_monotonic_increasing
    assert primary.n_control.iloc[-1] == result.row("buy_7d").n_control
    ok = primary[primary.status == "ok"]
    assert (ok.seq_lift_ci_low <= ok.lift_ci_low).all() and (ok.seq_lift_ci_high >= ok.lift_ci_high).all()
    assert (np.diff(ok.seq_p_value_running_min) <= 0).all()
    # as_of in the middle: fewer users than at the end
    mid = analyze_experiment(source, _experiment({"control": 0.5, "new": 0.5}), as_of="2024-03-05T00:00:00Z")
    assert mid.users.users.sum() < result.users.users.sum()
    assert mid.as_of == "2024-03-05T00:00:00Z"


def test_plots_draw(make_source):
    from matplotlib.figure import Figure

    from fawkes_analytics.experiments import plots

    assignments, events = _data({"control": 0.2, "new": 0.26}, {"control": 0.5, "new": 0.5}, users=600)
    result = analyze_experiment(
        make_source(assignments=assignments, events=events), _experiment({"control": 0.5, "new": 0.5}), timeline=True
    )
    forest = plots.lift_intervals(result)
    cumulative = plots.cumulative_lift(result, "buy_7d")
    posterior = plots.posterior_density(result, "buy_7d")
    for fig in (forest, cumulative, posterior):
        assert isinstance(fig, Figure) and fig.axes
    assert len(forest.axes[0].get_yticklabels()) == 2
    assert len(cumulative.axes[0].lines) >= 1 and len(posterior.axes[0].lines) >= 2  # density + zero line
