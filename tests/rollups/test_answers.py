"""Answers kept beside the store: computed once per store version, read by later readers."""

from __future__ import annotations

import gc
import shutil
from datetime import timedelta

import pytest

from fawkes_analytics import catalog, metrics, timerange
from fawkes_analytics.anomalies import outlook
from fawkes_analytics.rollups.answers import FOLDER, remembered
from fawkes_analytics.rollups.tables import RawTables, StoreTables, forget, tables_for

from .support import assert_same, random_events, random_feedback, store_families, utc

START = utc("2026-03-01T00:00:00")


class Counter:
    """A question whose answer counts how often it was computed."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        return {"answer": 42, "call": self.calls}


def _ask(tables, question, compute, cat=None):  # noqa: ANN001, ANN202
    return remembered(tables, question, cat, compute, dict, dict)


def test_an_answer_is_computed_once_per_data_version(log):
    log.append(random_events(11, START, days=2))
    log.refresh()
    tables = tables_for(log.source(), log.store.latest().as_of)
    assert isinstance(tables, StoreTables)
    compute = Counter()
    first = _ask(tables, {"q": "a"}, compute)
    assert _ask(tables, {"q": "a"}, compute) == first == {"answer": 42, "call": 1}
    assert compute.calls == 1
    _ask(tables, {"q": "b"}, compute)  # another question: its own answer
    assert compute.calls == 2
    cat = catalog.load()
    _ask(tables, {"q": "a"}, compute, cat)  # the same question about other definitions
    assert compute.calls == 3
    # A refresh that finds nothing new keeps the data version, and the answers.
    first_version = tables.manifest.data_version
    del tables
    assert log.refresh().mode == "unchanged"
    forget()
    same = tables_for(log.source(), log.store.latest().as_of)
    assert same.manifest.data_version == first_version
    assert _ask(same, {"q": "a"}, compute) == first and compute.calls == 3
    # New data: a new data version, whose readers compute again; the old answers go.
    del same
    forget()
    gc.collect()  # DuckDB lets the log be written once the readers' connections are gone
    log.append(random_events(12, START + timedelta(days=2), days=1))
    log.refresh()
    forget()
    newer = tables_for(log.source(), log.store.latest().as_of)
    assert newer.manifest.data_version > first_version
    assert _ask(newer, {"q": "a"}, compute) == {"answer": 42, "call": 4}
    kept = {p.name for p in (log.store.path / FOLDER).iterdir()}
    assert kept <= {f"d{m.data_version:08d}" for m in log.store.manifests()}
    assert f"d{newer.manifest.data_version:08d}" in kept


def test_answers_from_raw_events_and_read_only_stores_are_computed(log, tmp_path):
    log.append(random_events(13, START, days=2))
    log.refresh()
    source = log.source()
    raw = tables_for(source, log.store.latest().as_of + timedelta(hours=1))
    assert isinstance(raw, RawTables)
    compute = Counter()
    _ask(raw, {"q": "a"}, compute)
    _ask(raw, {"q": "a"}, compute)
    assert compute.calls == 2 and not (log.store.path / FOLDER).exists()
    stored = tables_for(source, log.store.latest().as_of)
    (log.store.path / FOLDER).write_text("not a folder")  # nothing can be kept there
    assert _ask(stored, {"q": "a"}, compute)["answer"] == 42
    assert compute.calls == 3


def test_the_kept_unusual_changes_equal_a_fresh_computation(log):
    """The report's section read back from the store is the one computed (JSON round trip)."""
    log.append(random_events(14, START, days=3, rate=80))
    log.refresh()
    source, cat = log.source(), catalog.load()
    day = timerange.resolve(start="2026-03-02", end="2026-03-04", tz="UTC")
    assert outlook.if_kept(source, cat, day) is None  # nobody asked yet: nothing is computed
    assert not (log.store.path / FOLDER).exists()
    computed = outlook(source, cat, day)
    assert outlook.if_kept(source, cat, day).to_dict() == computed.to_dict()  # a report narrows this one
    kept = sorted((log.store.path / FOLDER).rglob("*.json"))
    assert kept  # the outlook (and the family answers it read)
    read = outlook(source, cat, day)
    assert sorted((log.store.path / FOLDER).rglob("*.json")) == kept
    assert read is not computed
    assert read.to_dict() == computed.to_dict()
    assert [c.kpi.name for c in read.checks] == [c.kpi.name for c in computed.checks]


def test_every_family_is_kept_and_read_back_equal(log, monkeypatch):
    """The second reader of a store version gets each family's answer from the store, equal to
    the computed one; a changed catalog definition computes again."""
    log.append(random_events(15, START, days=3, rate=80), random_feedback(15, START, days=3))
    log.refresh()
    ranges = [
        timerange.resolve(start="2026-03-02", end="2026-03-04", tz="UTC"),
        timerange.resolve(start="2026-03-02", end="2026-03-03", tz="Europe/Berlin"),
    ]
    computed = store_families(log, ranges)
    kept_files = sorted((log.store.path / FOLDER).rglob("*.json"))
    assert len(kept_files) == 6 * len(ranges)  # six families per range
    calls = []
    monkeypatch.setattr(metrics.usage, "_timeseries", lambda *a: calls.append(a))  # would break a computation
    assert_same(store_families(log, ranges), computed)
    assert calls == []  # nothing was computed again
    monkeypatch.undo()
    other = catalog.load()
    other.funnels = {}
    metrics.feature_adoption(log.source(), other, ranges[0])
    assert len(list((log.store.path / FOLDER).rglob("*.json"))) == len(kept_files) + 1


def test_experiment_readouts_are_kept_until_assignments_or_events_change(demo_db, tmp_path, monkeypatch):
    """Experiments read raw assignments and events: a new assignment is a new question."""
    import duckdb

    from fawkes_analytics.experiments import analysis, analyze_experiment
    from fawkes_analytics.rollups import refresh_source
    from fawkes_analytics.sources.ibis_source import open_duckdb

    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db.path, path)
    monkeypatch.delenv("FAWKES_ANALYTICS_ROLLUPS", raising=False)
    forget()
    refresh_source(open_duckdb(path))
    cat = catalog.load()
    experiment = cat.experiment_ids[0]

    def readout() -> object:
        forget()
        source = open_duckdb(path)
        return analyze_experiment(source, cat, experiment, as_of=source.default_as_of())

    computed = readout()
    real = analysis.analyze_stats
    monkeypatch.setattr(analysis, "analyze_stats", lambda *a, **k: pytest.fail("computed again"))
    assert readout() == computed
    monkeypatch.setattr(analysis, "analyze_stats", real)
    gc.collect()
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO assignments SELECT experiment_id, variant, user_id || '-late', assigned_at FROM assignments LIMIT 1"
    )
    con.close()
    recomputed = readout()
    assert sum(recomputed.srm.observed.values()) == sum(computed.srm.observed.values()) + 1
