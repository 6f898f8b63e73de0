"""End to end on the events store (DuckDB): readouts, recommendation rules, timeline, plots."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

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


LATER = "2024-04-01T00:00:00Z"  # every 7-day window has ended by then


def test_winner_is_shipped_and_numbers_match_an_independent_computation(make_source):
    assignments, events = _data({"control": 0.20, "new": 0.30}, {"control": 0.5, "new": 0.5})
    result = analyze_experiment(
        make_source(assignments=assignments, events=events), _experiment({"control": 0.5, "new": 0.5}), as_of=LATER
    )
    assert result.srm_status == "ok"
    # Independent count from the generated frames (all buys fall inside the 7-day window).
    buyers = set(events.user_id)
    counts = assignments.assign(buy=assignments.user_id.isin(buyers)).groupby("variant").buy.agg(["sum", "count"])
    row = result.row("buy_7d", "new")
    assert (row.n_control, row.n_variant) == (counts.loc["control", "count"], counts.loc["new", "count"])
    assert (row.n_open_control, row.n_open_variant) == (0, 0)
    pa = counts.loc["control", "sum"] / counts.loc["control", "count"]
    pb = counts.loc["new", "sum"] / counts.loc["new", "count"]
    na, nb = counts.loc["control", "count"], counts.loc["new", "count"]
    # Relative lift, delta-method se and Welch df written out from the counts.
    se = np.sqrt(pb * (1 - pb) / (nb * pa**2) + pb**2 * pa * (1 - pa) / (na * pa**4))
    va, vb = pa * (1 - pa) / na, pb * (1 - pb) / nb
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    assert row.lift == pytest.approx(pb / pa - 1, rel=1e-12)
    assert row.p_value == pytest.approx(2 * stats.t.sf(abs((pb / pa - 1) / se), df), rel=1e-9)
    assert row.significant and row.verdict == "better"
    assert result.recommendation.decision == "ship" and result.recommendation.variant == "new"
    assert any("Ship" in rule for rule in result.recommendation.rules)
    # revenue = 20 per buyer: the same lift as conversion
    assert result.row("revenue_7d").lift == pytest.approx(row.lift, rel=1e-9)
    payload = json.dumps(result.to_dict(), allow_nan=False)
    assert '"srm_status": "ok"' in payload
    assert {"users", "results", "power", "windows"} <= set(result.to_frames())


def test_sample_ratio_mismatch_comes_first(make_source):
    # Planned 50/50 but assigned 65/35: chi-square p is astronomically small.
    assignments, events = _data({"control": 0.2, "new": 0.3}, {"control": 0.65, "new": 0.35})
    result = analyze_experiment(
        make_source(assignments=assignments, events=events), _experiment({"control": 0.5, "new": 0.5})
    )
    assert result.srm_status == "mismatch" and result.srm.p_value < 1e-6
    assert result.recommendation.decision == "investigate"
    assert list(result.to_dict())[:5] == ["experiment_id", "name", "hypothesis", "control", "srm_status"]


def test_harm_on_a_guardrail_stops_and_holm_spans_the_goal_metric_only(make_source):
    split = {"control": 0.34, "a": 0.33, "b": 0.33}
    assignments, events = _data({"control": 0.30, "a": 0.30, "b": 0.15}, split, users=2400)
    result = analyze_experiment(
        make_source(assignments=assignments, events=events),
        _experiment(split, guardrail_metrics=["revenue_7d"]),
        as_of=LATER,
    )
    assert len(result.results) == 4  # 2 metrics x 2 treatments
    goal = result.results[result.results.role == "primary"]
    assert list(goal.p_value_adjusted) == pytest.approx(list(multipletests(goal.p_value, method="holm")[1]))
    guard = result.results[result.results.role == "guardrail"]
    assert list(guard.p_value_adjusted) == list(guard.p_value) and set(guard.alternative) == {"less"}
    assert result.recommendation.decision == "stop for harm" and result.recommendation.variant == "b"


def test_windows_still_open_are_left_out_and_counted(make_source):
    # Read on 2024-03-10 00:00 with a 7-day window: only users assigned by 2024-03-03 00:00 count.
    #   control: u1 (03-01, buys 03-02), u2 (03-02, no buy), u3 (03-08, buys 03-08 12:00: window open)
    #   new:     u4 (03-01, buys 03-03), u5 (03-02 12:00, buys 03-04), u6 (03-09: window open)
    # Counted: control 1 of 2 converted (50%), new 2 of 2; left out: u3 and u6. Counting u3 would
    # have made control 2 of 3.
    assignments = pd.DataFrame(
        [
            ("exp", "control", "u1", "2024-03-01T00:00:00Z"),
            ("exp", "control", "u2", "2024-03-02T00:00:00Z"),
            ("exp", "control", "u3", "2024-03-08T00:00:00Z"),
            ("exp", "new", "u4", "2024-03-01T00:00:00Z"),
            ("exp", "new", "u5", "2024-03-02T12:00:00Z"),
            ("exp", "new", "u6", "2024-03-09T00:00:00Z"),
        ],
        columns=["experiment_id", "variant", "user_id", "assigned_at"],
    )
    events = pd.DataFrame(
        [
            ("e1", "u1", "buy", "2024-03-02T00:00:00Z", '{"amount": 20}'),
            ("e2", "u3", "buy", "2024-03-08T12:00:00Z", '{"amount": 20}'),
            ("e3", "u4", "buy", "2024-03-03T00:00:00Z", '{"amount": 20}'),
            ("e4", "u5", "buy", "2024-03-04T00:00:00Z", '{"amount": 20}'),
        ],
        columns=["event_id", "user_id", "event_name", "timestamp", "properties"],
    )
    source = make_source(assignments=assignments, events=events)
    result = analyze_experiment(source, _experiment({"control": 0.5, "new": 0.5}), as_of="2024-03-10T00:00:00Z")
    row = result.row("buy_7d")
    assert (row.n_control, row.n_variant, row.n_open_control, row.n_open_variant) == (2, 2, 1, 1)
    assert row.mean_control == pytest.approx(0.5) and row.mean_variant == pytest.approx(1.0)
    windows = result.windows.set_index("metric").loc["buy_7d"]
    assert (windows.users_assigned, windows.users_included, windows.users_window_open) == (6, 4, 2)
    assert windows.assigned_until == "2024-03-03T00:00:00Z"
    assert result.users.users.sum() == 6  # the sample-ratio check sees every assigned user
    # A day later u3's window has still not ended (it ends 03-15): nothing changes for control.
    later = analyze_experiment(source, _experiment({"control": 0.5, "new": 0.5}), as_of="2024-03-11T00:00:00Z")
    assert later.row("buy_7d").n_control == 2


def test_keep_running_when_too_small_and_timeline(make_source):
    assignments, events = _data({"control": 0.2, "new": 0.2}, {"control": 0.5, "new": 0.5}, users=150)
    source = make_source(assignments=assignments, events=events)
    result = analyze_experiment(source, _experiment({"control": 0.5, "new": 0.5}), timeline=True, as_of=LATER)
    assert result.recommendation.decision == "keep running" and "Not enough users" in result.recommendation.reason
    timeline = result.timeline
    primary = timeline[timeline.metric == "buy_7d"]
    assert primary.as_of.is_monotonic_increasing and primary.n_control.is_monotonic_increasing
    # The first week has no ended window yet; the last day is the readout itself.
    assert primary.status.iloc[0] == "not enough data" and primary.n_control.iloc[0] == 0
    last, row = primary.iloc[-1], result.row("buy_7d")
    assert (last.n_control, last.lift, last.lift_ci_low, last.p_value_adjusted) == pytest.approx(
        (row.n_control, row.lift, row.lift_ci_low, row.p_value_adjusted)
    )
    # Every day is the readout as it stood then (the days before the end read the experiment's
    # rows held apart): the middle day equals an analysis cut at that instant, every metric.
    middle_day = primary.as_of.iloc[len(primary) // 2]
    then = analyze_experiment(source, _experiment({"control": 0.5, "new": 0.5}), as_of=middle_day)
    for metric_name in timeline.metric.unique():
        day = timeline[(timeline.metric == metric_name) & (timeline.as_of == middle_day)].iloc[0]
        cut = then.row(metric_name)
        assert day.n_control > 0 and (day.n_control, day.n_variant) == (cut.n_control, cut.n_variant)
        assert (day.lift, day.lift_ci_low, day.p_value_adjusted) == pytest.approx(
            (cut.lift, cut.lift_ci_low, cut.p_value_adjusted), nan_ok=True
        )
    # as_of in the middle: fewer users than at the end
    mid = analyze_experiment(source, _experiment({"control": 0.5, "new": 0.5}), as_of="2024-03-05T00:00:00Z")
    assert mid.users.users.sum() < result.users.users.sum()
    assert mid.as_of == "2024-03-05T00:00:00Z"


def test_plots_draw(make_source):
    from matplotlib.figure import Figure

    from fawkes_analytics.experiments import plots

    assignments, events = _data({"control": 0.2, "new": 0.26}, {"control": 0.5, "new": 0.5}, users=600)
    result = analyze_experiment(
        make_source(assignments=assignments, events=events),
        _experiment({"control": 0.5, "new": 0.5}, decision="sequential", guardrail_metrics=["revenue_7d"]),
        timeline=True,
        as_of="2024-03-20T00:00:00Z",
    )
    forest = plots.lift_intervals(result)
    cumulative = plots.cumulative_lift(result)
    for fig in (forest, cumulative):
        assert isinstance(fig, Figure) and fig.axes
    assert len(forest.axes[0].get_yticklabels()) == 2
    assert "95% always-valid interval" in forest.axes[0].get_xlabel()
    # The guardrail's one-sided interval is drawn to the left edge with an arrow marker.
    assert any(line.get_marker() == "<" for line in forest.axes[0].lines)
    assert len(cumulative.axes[0].lines) >= 1
    # The posterior is the evidence of Bayesian decisions only.
    assert "not Bayesian" in plots.posterior_density(result, "buy_7d").axes[0].texts[0].get_text()
