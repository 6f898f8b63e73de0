"""Sufficient statistics computed in the engine (DuckDB; one parity test on Spark)."""

from __future__ import annotations

import pandas as pd
import pytest

from fawkes_analytics.experiments import EventsExperimentSource, parse_experiment

ASSIGNMENTS = pd.DataFrame(
    [
        ("e", "c", "u1", "2024-01-01T00:00:00Z"),
        ("e", "t", "u2", "2024-01-01T12:00:00Z"),
        ("e", "c", "u3", "2024-01-02T00:00:00Z"),
        ("e", "t", "u4", "2024-01-02T00:00:00Z"),
        ("e", "c", "u4", "2024-01-03T00:00:00Z"),  # u4 in two variants: excluded and counted
        ("e", "t", "u5", "2024-01-05T00:00:00Z"),
        ("other", "x", "u1", "2024-01-01T00:00:00Z"),  # another experiment: ignored
    ],
    columns=["experiment_id", "variant", "user_id", "assigned_at"],
)
EVENTS = pd.DataFrame(
    [
        ("u1", "buy", "2024-01-01T00:00:00Z", '{"amount": 5}'),  # at assignment: inside the window
        ("u1", "buy", "2024-01-02T00:00:00Z", '{"amount": 2.5, "sku": "a"}'),
        ("u1", "buy", "2023-12-31T00:00:00Z", '{"amount": 1}'),  # before assignment: covariate only
        ("u1", "buy", "2024-01-08T00:00:00Z", '{"amount": 7}'),  # exactly 7 days later: outside
        ("u3", "buy", "2024-01-02T01:00:00Z", None),  # no amount: counts, adds 0
        ("u2", "buy", "2024-01-01T13:00:00Z", '{"sku": "b", "amount": 4}'),
        ("u2", "view", "2024-01-01T14:00:00Z", '{"amount": 50}'),  # other event: ignored
        ("u5", "buy", "2024-01-01T00:00:00Z", '{"amount": 3}'),  # 4 days before assignment
        ("u4", "buy", "2024-01-02T05:00:00Z", '{"amount": 100}'),  # excluded user
    ],
    columns=["user_id", "event_name", "timestamp", "properties"],
)
EVENTS.insert(0, "event_id", [f"ev{i}" for i in range(len(EVENTS))])

EXPERIMENT = parse_experiment(
    {
        "id": "e",
        "control": "c",
        "split": {"c": 0.5, "t": 0.5},
        "metrics": [
            {"name": "conv", "kind": "conversion", "event": "buy", "window_days": 7, "covariate": True},
            {"name": "cnt", "kind": "count", "event": "buy", "window_days": 7},
            {"name": "rev", "kind": "sum", "event": "buy", "property": "amount", "window_days": 7},
            {
                "name": "rev_capped",
                "kind": "sum",
                "event": "buy",
                "property": "amount",
                "window_days": 7,
                "cap_percentile": 50,
            },
            {
                "name": "aov",
                "kind": "ratio",
                "numerator": {"event": "buy", "property": "amount"},
                "denominator": {"event": "buy"},
                "window_days": 7,
            },
        ],
    }
)

# Worked out by hand (window [assigned_at, assigned_at + 7d)):
#   conv: c = u1 1, u3 1; t = u2 1, u5 0.  Covariate (buy in the 7 days before): u1 1, u3 0, u2 0, u5 1.
#   cnt:  c = u1 2 (01-01, 01-02), u3 1;  t = u2 1, u5 0.
#   rev:  c = u1 7.5, u3 0;  t = u2 4, u5 0.
#   rev_capped: median of (7.5, 0, 4, 0) = 2.0 -> c = 2, 0;  t = 2, 0.
#   aov:  numerators as rev, denominators as cnt.
EXPECTED = {
    ("conv", "c"): dict(n=2, sum_y=2, sum_y2=2, sum_x=1, sum_x2=1, sum_yx=1),
    ("conv", "t"): dict(n=2, sum_y=1, sum_y2=1, sum_x=1, sum_x2=1, sum_yx=0),
    ("cnt", "c"): dict(n=2, sum_y=3, sum_y2=5),
    ("cnt", "t"): dict(n=2, sum_y=1, sum_y2=1),
    ("rev", "c"): dict(n=2, sum_y=7.5, sum_y2=56.25),
    ("rev", "t"): dict(n=2, sum_y=4, sum_y2=16),
    ("rev_capped", "c"): dict(n=2, sum_y=2, sum_y2=4),
    ("rev_capped", "t"): dict(n=2, sum_y=2, sum_y2=4),
    ("aov", "c"): dict(n=2, sum_y=7.5, sum_y2=56.25, sum_d=3, sum_d2=5, sum_yd=15),
    ("aov", "t"): dict(n=2, sum_y=4, sum_y2=16, sum_d=1, sum_d2=1, sum_yd=4),
}


def _stats(make_source, engine="duckdb", as_of="2024-02-01T00:00:00Z"):
    """Read on 2024-02-01 by default, when every 7-day window has ended."""
    source = make_source(engine=engine, assignments=ASSIGNMENTS, events=EVENTS)
    return EventsExperimentSource(source).sufficient_stats(EXPERIMENT, as_of)


def test_sufficient_statistics_by_hand(make_source):
    suff = _stats(make_source)
    frame = suff.stats.set_index(["metric", "variant"])
    for key, values in EXPECTED.items():
        for column, value in values.items():
            assert frame.loc[key, column] == pytest.approx(value), (key, column)
    assert frame.loc[("cnt", "c"), "sum_x"] == 0  # no covariate declared: zero-filled
    assert suff.multi_variant_users == 1
    assert suff.users == {"c": 2, "t": 2}
    assert suff.caps == {"rev_capped": pytest.approx(2.0)}
    assert suff.first_assigned == pd.Timestamp("2024-01-01") and suff.last_assigned == pd.Timestamp("2024-01-05")


def test_as_of_cuts_assignments_and_leaves_open_windows_out(make_source):
    # Before 2024-01-02 00:00: u1 (c) and u2 (t) are assigned; u4's double assignment is not
    # visible yet. Their 7-day windows are still open, so no metric counts them yet.
    suff = _stats(make_source, as_of="2024-01-02T00:00:00Z")
    assert suff.users == {"c": 1, "t": 1} and suff.multi_variant_users == 0
    assert suff.stats.empty
    # Cut on 2024-01-03 00:00 exactly: u4's second assignment is not yet in, so u4 counts in t.
    later = _stats(make_source, as_of="2024-01-03T00:00:00Z")
    assert later.users == {"c": 2, "t": 2} and later.multi_variant_users == 0
    # Read on 2024-01-09 12:00: only users assigned by 2024-01-02 12:00 have an ended window:
    # u1, u3 (c) and u2 (t); u5 (t, assigned 01-05) is assigned but not counted yet, and u4 is in
    # two variants by then. rev: c = u1 7.5 (01-08 is outside its window) + u3 0; t = u2 4.
    reading = _stats(make_source, as_of="2024-01-09T12:00:00Z")
    frame = reading.stats.set_index(["metric", "variant"])
    assert reading.users == {"c": 2, "t": 2} and reading.multi_variant_users == 1
    assert frame.loc[("rev", "c"), "n"] == 2 and frame.loc[("rev", "c"), "sum_y"] == 7.5
    assert frame.loc[("rev", "t"), "n"] == 1 and frame.loc[("rev", "t"), "sum_y"] == 4
    assert reading.data_end == pd.Timestamp("2024-01-09T12:00:00")


@pytest.mark.spark
@pytest.mark.slow
def test_spark_parity(make_source):
    duck = _stats(make_source, "duckdb")
    spark = _stats(make_source, "spark")
    key = ["metric", "variant"]
    pd.testing.assert_frame_equal(
        duck.stats.sort_values(key).reset_index(drop=True),
        spark.stats.sort_values(key).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )
    for field in ("users", "multi_variant_users", "caps", "first_assigned", "last_assigned"):
        assert getattr(duck, field) == getattr(spark, field), field
