"""A refresh killed at any point leaves the previous version readable; the next one completes.

The refresh runs as the real command in a child process and is SIGKILLed at several moments
after it starts deriving. After every kill the store must read exactly as one of the two
consistent versions (before or after the new events), and a final refresh must bring it to
the new one and leave no stray files behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from fawkes_analytics.rollups.derive import TABLES

from .support import EventLog, random_events, store_tables, utc

pytestmark = pytest.mark.slow


def _equal(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> bool:
    return all(left[name].equals(right[name]) for name in TABLES)


def _kill_after(log: EventLog, delay: float) -> None:
    """Start ``fawkes-analytics refresh``, SIGKILL it ``delay`` seconds after it starts deriving."""
    command = [sys.executable, "-m", "fawkes_analytics.cli", "refresh", "--source", f"duckdb://{log.path}"]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert child.stderr is not None
    for line in child.stderr:
        if "deriving" in line or "no new or late events" in line:
            break
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


def test_killed_refreshes_leave_a_consistent_version(log, tmp_path):
    events = random_events(21, utc("2026-03-01T00:00:00"), days=6, users=60, rate=400)
    cut = pd.Timestamp("2026-03-05")
    before, after = events[events["timestamp"] < cut], events[events["timestamp"] >= cut]
    log.append(before)
    log.refresh()
    old = store_tables(log)
    reference = EventLog(tmp_path / "reference.duckdb")
    reference.append(events)
    reference.refresh()
    new = store_tables(reference)

    log.append(after)
    seen = []
    for delay in (0.0, 0.05, 0.2, 0.5, 1.0):
        _kill_after(log, delay)
        now = store_tables(log)  # every file the newest manifest names is there and readable
        assert _equal(now, old) or _equal(now, new), f"killed after {delay} s: an inconsistent version"
        seen.append("old" if _equal(now, old) else "new")
    assert "old" in seen  # at least one kill landed before publishing

    log.refresh()
    assert _equal(store_tables(log), new)
    referenced = {
        f.split("/", 1)[0] for months in log.store.latest().tables.values() for fs in months.values() for f in fs
    }
    folders = {p.name for p in log.store.path.iterdir() if p.is_dir()}
    assert folders <= referenced | {f"v{v:08d}" for v in log.store.versions()}, "stray folders of killed refreshes"
