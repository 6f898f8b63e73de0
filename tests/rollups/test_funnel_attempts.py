"""Funnel attempts in the rollup store: reports from stored attempts equal reports from events.

The store keeps the per-person attempt rows of each ordered or strict catalog funnel
(``rollups.derive.funnel_attempts``); ``funnel_report`` reads them when the store covers the
range and holds the funnel under the same definition, and computes from the events
otherwise. The events here are small and messy on purpose: few event names, timestamps on a
coarse grid (many ties, instants of different events), exclusions, a breakdown property,
days across a month end (month partitions) and late arrivals.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from fawkes_analytics import catalog, timerange
from fawkes_analytics.metrics.funnels import funnel_report, people, stored_attempts, stored_funnels
from fawkes_analytics.rollups.derive import funnel_fingerprint, funnel_table
from fawkes_analytics.rollups.tables import forget

from .support import EventLog, utc

START = utc("2026-02-26T00:00:00")  # four days across the end of February
DAYS = 4
CATALOG = """
funnels:
  - name: checkout
    steps: [a, b, c]
    window: 2h
    exclusions:
      - {event: x, from_step: 2, to_step: 3}
  - name: strict_pair
    steps: [a, b]
    order: strict
    window: 30m
  - name: repeated
    steps: [a, a, b]
    window: 90m
    breakdown: plan
  - name: any_order
    steps: [a, b]
    order: unordered
    window: 1h
"""


def _events(seed: int, users: int = 10) -> pd.DataFrame:
    """Funnel events on a 5-minute grid (ties), with a plan property on some of them."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        t = START.replace(tzinfo=None) + timedelta(minutes=5 * int(rng.integers(0, 200)))
        while t < START.replace(tzinfo=None) + timedelta(days=DAYS):
            for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):  # several events at one instant
                plan = rng.choice(["free", "team", None])
                rows.append(
                    {
                        "timestamp": t,
                        "user_id": f"u{u}",
                        "event_name": str(rng.choice(["a", "a", "b", "b", "c", "x", "n", "pageview"])),
                        "properties": None if plan is None else json.dumps({"plan": str(plan)}),
                    }
                )
            t += timedelta(minutes=5 * int(rng.choice([0, 1, 1, 2, 6, 30, 150])))
    frame = pd.DataFrame(rows)
    frame["event_id"] = [f"s{seed}-{i:05d}" for i in range(len(frame))]
    return frame


def _refresh(log: EventLog):  # noqa: ANN202 - a RefreshResult
    """A refresh that keeps the attempts of the catalog's funnels (as ``fawkes-analytics refresh`` does)."""
    return log.refresh(funnels=stored_funnels(catalog.load().funnels.values()))


@pytest.fixture
def funnel_log(log, tmp_path):
    (tmp_path / "analytics.yaml").write_text(CATALOG, encoding="utf-8")  # the log fixture's catalog file
    return log


def _ranges() -> list[timerange.TimeRange]:
    return [
        timerange.resolve(start="2026-02-27", end="2026-03-01", tz="UTC"),
        timerange.resolve(start="2026-02-28T06:00", end="2026-03-02", tz="Europe/Berlin"),
        timerange.resolve("24h", as_of=utc("2026-03-01T13:45:00")),
    ]


def _reports(
    log: EventLog, stored: bool, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...] = (), ranges: int = 3
) -> dict[str, dict]:
    """Catalog funnels (all, or ``names``) over the first ``ranges`` ranges, from the store (asserted) or the events."""
    out = {}
    with monkeypatch.context() as patch:
        if not stored:
            patch.setenv("FAWKES_ANALYTICS_ROLLUPS", "off")
        forget()
        source = log.source()
        for funnel in catalog.load().funnels.values():
            if names and funnel.name not in names:
                continue
            for tr in _ranges()[:ranges]:
                held = stored_attempts(source, funnel, tr, funnel.breakdown)
                from_store = funnel.order != "unordered" and stored
                assert (held is not None) == from_store, (funnel.name, stored)
                out[f"{funnel.name} {tr.start:%m%d%H%M}-{tr.end:%m%d%H%M}"] = funnel_report(
                    source, funnel, tr
                ).to_dict()
    forget()
    return out


def _assert_same_reports(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for key in left:
        assert json.dumps(left[key], sort_keys=True, default=str) == json.dumps(
            right[key], sort_keys=True, default=str
        ), key


@pytest.mark.parametrize("seed", [11])
def test_reports_from_stored_attempts_equal_reports_from_events(funnel_log, monkeypatch, seed):
    funnel_log.append(_events(seed))
    assert _refresh(funnel_log).mode == "full"
    manifest = funnel_log.store.latest()
    names = sorted(entry["name"] for entry in manifest.funnels.values())
    assert names == ["checkout", "repeated", "strict_pair"]  # the unordered funnel is not stored
    stored, raw = _reports(funnel_log, True, monkeypatch), _reports(funnel_log, False, monkeypatch)
    _assert_same_reports(stored, raw)
    # Something to compare: every stored funnel has people in some range, some convert.
    for name in names:
        assert any(r["entered"] > 0 for k, r in stored.items() if k.startswith(name + " "))
    assert sum(r["converted"] for r in stored.values()) > 0
    # people() reads the stored rows too: the same people, steps and times.
    checkout, tr = catalog.load().funnel("checkout"), _ranges()[1]
    forget()
    from_store = people(funnel_log.source(), checkout, tr)
    with monkeypatch.context() as patch:
        patch.setenv("FAWKES_ANALYTICS_ROLLUPS", "off")
        forget()
        pd.testing.assert_frame_equal(from_store, people(funnel_log.source(), checkout, tr))
    assert len(from_store) > 0


def test_a_custom_funnel_or_another_breakdown_is_computed_from_the_events(funnel_log):
    funnel_log.append(_events(13))
    _refresh(funnel_log)
    forget()
    source = funnel_log.source()
    tr = _ranges()[0]
    checkout = catalog.load().funnel("checkout")
    assert stored_attempts(source, checkout, tr, None) is not None
    assert stored_attempts(source, checkout, tr, "plan") is None  # the rows depend on the breakdown
    same = catalog.Funnel.of("a", "b", "c", window="2h", exclude={"x": (2, 3)}, name="mine")
    assert stored_attempts(source, same, tr, None) is not None  # same definition, other name: same rows
    other = catalog.Funnel.of("a", "b", "c", window="3h", exclude={"x": (2, 3)})
    assert stored_attempts(source, other, tr, None) is None
    after = timerange.resolve(start="2026-03-01", end="2026-12-31", tz="UTC")  # past the store's as-of
    assert stored_attempts(source, checkout, after, None) is None


def _arrivals(events: pd.DataFrame, seed: int) -> list[pd.DataFrame]:
    """Three batches by time; a fifth of the second arrives only with the third (late events).

    Plus one person whose attempt crosses midnight and whose later steps arrive late:
    a@02-27 23:30 in the first batch, b@02-28 00:20 and c@02-28 00:50 with the last. A
    refresh must derive that attempt again although its step 1 is before the cut.
    """
    rng = np.random.default_rng(seed)
    ordered = events.sort_values("timestamp", ignore_index=True)
    cuts = [0, len(ordered) // 2, 3 * len(ordered) // 4, len(ordered)]
    parts = [ordered.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    late = parts[1].sample(frac=0.2, random_state=int(rng.integers(0, 1000)))
    crossing = pd.DataFrame(
        {
            "event_id": ["m1", "m2", "m3"],
            "timestamp": pd.to_datetime(["2026-02-27 23:30", "2026-02-28 00:20", "2026-02-28 00:50"]),
            "user_id": "m",
            "event_name": ["a", "b", "c"],
        }
    )
    return [
        pd.concat([parts[0], crossing.head(1)]),
        parts[1].drop(late.index),
        pd.concat([parts[2], late, crossing.tail(2)]),
    ]


def test_incremental_refresh_with_late_events_equals_a_full_rebuild(funnel_log, tmp_path, monkeypatch):
    seed = 21
    events = _events(seed)
    for i, batch in enumerate(_arrivals(events, seed)):
        funnel_log.append(batch)
        assert _refresh(funnel_log).mode == ("full" if i == 0 else "incremental")
    build = funnel_log.store.latest().build
    assert "2026-02-27" <= build["cut"] <= "2026-02-28T00:00:00"  # the late events moved the cut back

    fresh = EventLog(tmp_path / "fresh.duckdb")
    fresh.append(pd.concat(_arrivals(events, seed)))
    assert _refresh(fresh).mode == "full"
    stored = ("checkout", "repeated", "strict_pair")
    _assert_same_reports(
        _reports(funnel_log, True, monkeypatch, stored, ranges=2), _reports(fresh, False, monkeypatch, stored, ranges=2)
    )
    # The rows themselves: identical, but for PostHog's neighbour filter at a refresh's cut
    # (a step-1 event kept as a phantom or as a plain attempt, which count alike).
    for fingerprint in funnel_log.store.latest().funnels:
        left, right = _stored_rows(funnel_log, fingerprint), _stored_rows(fresh, fingerprint)
        assert len(left) > 0
        same = ["user_id", "start", "reached", "marked_at", "excl_next", "next_void_at"]
        pd.testing.assert_frame_equal(left[same], right[same], obj=fingerprint)


def _stored_rows(log: EventLog, fingerprint: str) -> pd.DataFrame:
    forget()
    manifest = log.store.latest()
    steps = manifest.funnels[fingerprint]["steps"]
    from fawkes_analytics.rollups import engines
    from fawkes_analytics.rollups.derive import funnel_schema

    source = log.source()
    files = log.store.absolute(manifest.files(funnel_table(fingerprint)))
    frame = engines.read_files(source.backend, files, funnel_schema(steps)).execute()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_a_changed_funnel_definition_is_rebuilt(funnel_log, tmp_path, monkeypatch):
    funnel_log.append(_events(31))
    _refresh(funnel_log)
    before = funnel_log.store.latest()
    old = funnel_fingerprint(catalog.load().funnel("checkout"))
    assert old in before.funnels and funnel_table(old) in before.tables

    # The catalog's checkout funnel gets a longer window; no event changes.
    (tmp_path / "analytics.yaml").write_text(CATALOG.replace("window: 2h", "window: 3h"), encoding="utf-8")
    result = _refresh(funnel_log)
    assert result.mode == "funnels"
    after = funnel_log.store.latest()
    new = funnel_fingerprint(catalog.load().funnel("checkout"))
    assert new != old and new in after.funnels and old not in after.funnels
    assert funnel_table(old) not in after.tables and funnel_table(new) in after.tables
    assert set(after.funnels) - {new} == set(before.funnels) - {old}  # the other funnels are kept
    assert after.data_version == before.data_version + 1
    _assert_same_reports(
        _reports(funnel_log, True, monkeypatch, ("checkout",)), _reports(funnel_log, False, monkeypatch, ("checkout",))
    )
    # Nothing changed since: nothing to do.
    assert _refresh(funnel_log).mode == "unchanged"
