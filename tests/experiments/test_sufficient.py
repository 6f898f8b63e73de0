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


# --- the statistics at many instants in one query (the daily readout) ------------------------
def _random_experiment_data(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """300 users over 20 days; a tenth assigned a second variant later (some at the same
    instant), events of two kinds before and after assignment, some amounts missing."""
    import numpy as np

    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-01", tz="UTC")
    rows, events = [], []
    for i in range(300):
        user = f"u{i}"
        at = start + pd.Timedelta(minutes=int(rng.integers(0, 20 * 24 * 60)))
        variant = str(rng.choice(["c", "t"]))
        rows.append(("e", variant, user, at))
        if rng.random() < 0.1:  # a second variant: later, or at the very same instant
            later = at if rng.random() < 0.3 else at + pd.Timedelta(hours=int(rng.integers(1, 200)))
            rows.append(("e", "t" if variant == "c" else "c", user, later))
        if rng.random() < 0.05:  # assigned again to the same variant: still one unit
            rows.append(("e", variant, user, at + pd.Timedelta(hours=5)))
        for _ in range(int(rng.integers(0, 6))):
            when = at + pd.Timedelta(hours=float(rng.uniform(-24 * 5, 24 * 9)))
            amount = None if rng.random() < 0.2 else f'{{"amount": {rng.integers(1, 50)}}}'
            events.append((user, str(rng.choice(["buy", "view"])), when, amount))
    assignments = pd.DataFrame(rows, columns=["experiment_id", "variant", "user_id", "assigned_at"])
    frame = pd.DataFrame(events, columns=["user_id", "event_name", "timestamp", "properties"])
    frame.insert(0, "event_id", [f"ev{i}" for i in range(len(frame))])
    return assignments, frame


DAILY = parse_experiment(
    {
        "id": "e",
        "control": "c",
        "split": {"c": 0.5, "t": 0.5},
        "metrics": [
            {"name": "conv", "kind": "conversion", "event": "buy", "window_days": 3, "covariate": True},
            {"name": "cnt", "kind": "count", "event": "view", "window_days": 1},
            {
                "name": "rev",
                "kind": "sum",
                "event": "buy",
                "property": "amount",
                "window_days": 2,
                "cap_percentile": 90,
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


def _at_cuts_and_one_by_one(make_source, engine: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The statistics at every cut in one query on ``engine``, and one query per cut on DuckDB."""
    assignments, events = _random_experiment_data()
    cuts = list(pd.date_range("2024-03-02", "2024-03-30", freq="1D")) + [pd.Timestamp("2024-03-12 07:30")]
    on_engine = EventsExperimentSource(make_source(engine=engine, assignments=assignments, events=events))
    together = on_engine.stats_at_cuts(DAILY, cuts)
    source = EventsExperimentSource(make_source(engine="duckdb", assignments=assignments, events=events))
    one_by_one = []
    for cut in cuts:
        stats = source.sufficient_stats(DAILY, cut.to_pydatetime()).stats
        one_by_one.append(stats.assign(as_of=cut))
    key = ["as_of", "metric", "variant"]
    expected = pd.concat(one_by_one)[together.columns].sort_values(key).reset_index(drop=True)
    got = together.assign(as_of=pd.to_datetime(together.as_of)).sort_values(key).reset_index(drop=True)
    return got, expected


def test_the_statistics_at_every_cut_in_one_query_equal_one_query_per_cut(make_source):
    # The daily readout asks the statistics at 29 cuts at once: each cut must be exactly the
    # statistics of a readout cut there, for every kind of metric (covariate, 1-day window,
    # capped at each cut's own 90th percentile, ratio), with users who join a second variant
    # later counting until then (and those assigned two variants at once never).
    got, expected = _at_cuts_and_one_by_one(make_source, "duckdb")
    assert len(expected) > 150 and expected.n.sum() > 5000  # every metric has units at most cuts
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, check_dtype=False)


@pytest.mark.spark
@pytest.mark.slow
def test_the_statistics_at_every_cut_in_one_query_on_spark(make_source):
    got, expected = _at_cuts_and_one_by_one(make_source, "spark")
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, check_dtype=False)
