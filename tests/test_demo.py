"""The demo generator: deterministic, realistic in shape, and marked as demo data."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from fawkes_analytics import demo, sources
from fawkes_analytics.errors import ParameterError

END = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)


def fingerprint(path: Path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as con:
        return (
            con.sql(
                "select count(*), count(distinct user_id), sum(epoch_us(timestamp)), string_agg(distinct event_name, ',' order by event_name) from events"
            ).fetchone(),
            con.sql(
                "select count(*), string_agg(user_id || variant, ',' order by user_id, experiment_id) from assignments"
            ).fetchone(),
            con.sql("select count(*), sum(score) from feedback").fetchone(),
        )


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    a = demo.generate(tmp_path / "a.duckdb", events=20_000, seed=11, days=30, end=END, progress=False)
    b = demo.generate(tmp_path / "b.duckdb", events=20_000, seed=11, days=30, end=END, progress=False)
    c = demo.generate(tmp_path / "c.duckdb", events=20_000, seed=12, days=30, end=END, progress=False)
    assert fingerprint(a.path) == fingerprint(b.path)
    assert fingerprint(a.path) != fingerprint(c.path)
    # The count is calibrated on a pilot population; with a few hundred users one seed can be
    # 15% off (a handful of power users), so check the calibration over several seeds.
    counts = [a.events, c.events] + [
        demo.generate(tmp_path / f"s{seed}.duckdb", events=20_000, seed=seed, days=30, end=END, progress=False).events
        for seed in (3, 5, 13)
    ]
    assert abs(sum(counts) / len(counts) - 20_000) / 20_000 < 0.08, f"mean event count off: {counts}"
    assert all(abs(n - 20_000) / 20_000 < 0.2 for n in counts), f"an event count far off: {counts}"


def test_demo_data_has_the_product_shape(demo_db) -> None:
    source = sources.connect(f"duckdb://{demo_db.path}")
    assert source.is_demo
    assert source.default_as_of() == datetime(2026, 11, 15, 12, tzinfo=timezone.utc)
    assert source.data_as_of() <= source.default_as_of()
    with duckdb.connect(str(demo_db.path), read_only=True) as con:
        names = {r[0] for r in con.sql("select distinct event_name from events").fetchall()}
        assert {
            "pageview",
            "sign_up",
            "first_deployment",
            "deploy_start",
            "deploy_success",
            "select_template",
            "service_active",
            "view_documentation",
            "run_pipeline",
            "configure_monitoring",
        } <= names
        # Funnels drop off: each onboarding step has fewer users than the one before.
        steps = [
            con.sql(f"select count(distinct user_id) from events where event_name = '{s}'").fetchone()[0]
            for s in demo.ONBOARDING
        ]
        assert steps == sorted(steps, reverse=True) and steps[-1] > 0
        # Weekly rhythm: weekdays busier than weekends.
        weekday, weekend = con.sql(
            "select avg(n) filter (where dow between 1 and 5), avg(n) filter (where dow in (0, 6)) from "
            "(select date_trunc('day', timestamp) d, dayofweek(min(timestamp)) dow, count(*) n from events group by 1)"
        ).fetchone()
        assert weekday > 1.5 * weekend
        variants = dict(
            con.sql(
                "select variant, count(*) from assignments where experiment_id = 'pipeline_templates' group by 1"
            ).fetchall()
        )
        assert set(variants) == {"control", "gallery", "gallery_compact"}
        assert (
            con.sql(
                "select count(*) from events where timestamp >= ?", params=[demo_db.end.replace(tzinfo=None)]
            ).fetchone()[0]
            == 0
        )
        assert con.sql("select count(*) - count(distinct event_id) from events").fetchone()[0] == 0
        assert con.sql("select min(score) >= 0 and max(score) <= 10 from feedback").fetchone()[0]


def test_refuses_too_few_events(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="'events'"):
        demo.generate(tmp_path / "x.duckdb", events=10, progress=False)


def test_failed_generation_leaves_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "_feedback", explode)
    with pytest.raises(RuntimeError):
        demo.generate(tmp_path / "x.duckdb", events=5_000, days=20, end=END, progress=False)
    assert not (tmp_path / "x.duckdb").exists() and not (tmp_path / "x.duckdb.partial").exists()
