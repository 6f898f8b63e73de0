"""The demo generator injects known anomalies on recorded days and leaves every other day alone."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from fawkes_analytics import demo, sources
from fawkes_analytics.demo_inject import Anomaly, read_meta
from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics import usage_trends
from fawkes_analytics.timerange import resolve

END = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)
DROP_DAY, SLOW_DAY, NPS_DAY = date(2026, 10, 28), date(2026, 11, 4), date(2026, 11, 9)
ANOMALIES = [
    Anomaly("drop", "visits", DROP_DAY, 0.4),
    Anomaly("spike", "visit_duration", SLOW_DAY, 0.5),
    Anomaly("level_shift", "nps", NPS_DAY, -0.5),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("inject")
    options = {"events": 60_000, "seed": 4, "days": 40, "end": END, "progress": False}
    clean = demo.generate(folder / "clean.duckdb", **options).path
    injected = demo.generate(folder / "injected.duckdb", inject=ANOMALIES, **options).path
    return clean, injected


def test_anomalies_are_recorded_in_fawkes_meta(pair: tuple[Path, Path]) -> None:
    clean, injected = pair
    with duckdb.connect(str(injected), read_only=True) as con:
        recorded = con.sql("select value from fawkes_meta where key = 'anomalies'").fetchone()[0]
    assert read_meta(recorded) == ANOMALIES
    with duckdb.connect(str(clean), read_only=True) as con:
        assert con.sql("select count(*) from fawkes_meta where key = 'anomalies'").fetchone()[0] == 0


def test_other_days_are_untouched(pair: tuple[Path, Path]) -> None:
    clean, injected = pair
    # Events are compared without their ids (numbered in time order, so they shift after a
    # removed event). Visits that start on an anomaly day may run past midnight: the day
    # after is left out of the comparison too.
    touched = [DROP_DAY, SLOW_DAY, date(2026, 10, 29), date(2026, 11, 5)]
    with duckdb.connect() as con:
        con.execute(f"attach '{clean}' as a (read_only)")
        con.execute(f"attach '{injected}' as b (read_only)")
        keep = "where cast(timestamp as date) not in (" + ", ".join(f"date '{d}'" for d in touched) + ")"
        columns = "timestamp, user_id, event_name, page, source, properties"
        only_clean = con.sql(f"select {columns} from a.events {keep} except all select {columns} from b.events {keep}")
        only_injected = con.sql(
            f"select {columns} from b.events {keep} except all select {columns} from a.events {keep}"
        )
        assert only_clean.count("*").fetchone()[0] == 0 and only_injected.count("*").fetchone()[0] == 0
        assert con.sql(f"select count(*) from a.events {keep}").fetchone()[0] > 40_000
        # Feedback before the NPS shift is the same; from it on, only scores changed.
        same = con.sql(
            f"select count(*) from a.feedback x join b.feedback y using (user_id, timestamp) "
            f"where x.score <> y.score and x.timestamp < date '{NPS_DAY}'"
        ).fetchone()[0]
        assert same == 0


def _usage(path: Path, day: date) -> dict[str, float]:
    source = sources.connect(f"duckdb://{path}")
    return usage_trends(source, resolve(start=day.isoformat(), end=(day + timedelta(days=1)).isoformat())).__dict__


def test_the_targeted_kpis_move_by_about_the_size(pair: tuple[Path, Path]) -> None:
    clean, injected = pair
    # 40% of the day's users lose their visits: about 60% of the visits are left (a Bernoulli
    # draw per user: within 0.5-0.7 for the few hundred users of a day).
    assert 0.5 < _usage(injected, DROP_DAY)["visits"] / _usage(clean, DROP_DAY)["visits"] < 0.7
    # Every gap inside the visits starting that day is 1.5 times as long, so is every visit's
    # duration: the day's visit duration x 1.5 (within 5%: visits that end the next day).
    slow = _usage(injected, SLOW_DAY)["visit_duration"] / _usage(clean, SLOW_DAY)["visit_duration"]
    assert slow == pytest.approx(1.5, rel=0.05)
    # Counts stay, but for the odd stretched visit that now runs into the same user's next one.
    assert _usage(injected, SLOW_DAY)["visits"] == pytest.approx(_usage(clean, SLOW_DAY)["visits"], rel=0.02)
    # NPS from the shift on: 50 points lower each day, or as far as the day's answers allow.
    nps = (
        f"select cast(timestamp as date) >= date '{NPS_DAY}', "
        "100.0 * (count(*) filter (where score >= 9) - count(*) filter (where score <= 6)) / count(*) from feedback group by 1"
    )
    with duckdb.connect(str(clean), read_only=True) as a, duckdb.connect(str(injected), read_only=True) as b:
        before, after = dict(a.sql(nps).fetchall()), dict(b.sql(nps).fetchall())
    assert after[False] == pytest.approx(before[False]) and after[True] < before[True] - 25


@pytest.mark.parametrize(
    ("anomaly", "field", "problem"),
    [
        (Anomaly("burst", "visits", DROP_DAY, 0.3), "inject[0].kind", "unknown kind"),
        (Anomaly("spike", "revenue", DROP_DAY, 0.3), "inject[0].metric", "unknown metric"),
        (Anomaly("spike", "visits", date(2026, 10, 6), 0.3), "inject[0].day", "not a whole day"),
        (Anomaly("drop", "visits", DROP_DAY, -0.3), "inject[0].size", "not positive"),
        (Anomaly("drop", "visits", DROP_DAY, 1.2), "inject[0].size", "out of range"),
    ],
)
def test_bad_anomalies_name_the_field(tmp_path: Path, anomaly: Anomaly, field: str, problem: str) -> None:
    with pytest.raises(ParameterError) as caught:
        demo.generate(tmp_path / "x.duckdb", events=5_000, days=40, end=END, progress=False, inject=[anomaly])
    assert f"'{field}'" in str(caught.value) and problem in str(caught.value)
    assert not (tmp_path / "x.duckdb").exists()
