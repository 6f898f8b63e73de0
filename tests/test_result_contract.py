"""The result contract (issue 15): every result object round-trips through its published JSON,
KPIs carry their metadata, and previous-period values and changes are named alike.

Every result type is built from a real computation on the small demo data (the overview of
its last 7 days, retention and lifecycle, segments compared with the previous period, an
experiment with its daily timeline, a metrics export), then sent through JSON text exactly
as data.json carries it.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pandas as pd
import pytest

from fawkes_analytics import areas, catalog, sources, timerange
from fawkes_analytics.experiments import analyze_experiment
from fawkes_analytics.export import prometheus
from fawkes_analytics.export.json import dumps
from fawkes_analytics.kpi import CHANGE_UNITS, DIRECTIONS, FORMATS
from fawkes_analytics.metrics.retention import retention_and_lifecycle
from fawkes_analytics.metrics.segments import user_segments
from fawkes_analytics.overview import Overview, build_overview
from fawkes_analytics.results import Result

FUNNELS_PENDING = pytest.mark.xfail(
    strict=True,
    reason="FunnelResult is still a plain @dataclass (eq=True) with previous_* fields: metrics/funnels.py "
    "is being reworked on the funnels branch; eq=False and the shared naming follow once it is merged",
)


@pytest.fixture(scope="module")
def computed(demo_db: object) -> dict[str, object]:
    source = sources.connect(f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
    cat = catalog.load()
    week = timerange.resolve("7d", tz="Europe/Berlin", as_of=source.default_as_of())
    overview = build_overview(source, cat, week)
    export = prometheus.export_metrics(source, cat, week, compute=lambda *_: overview)
    return {
        "overview": overview,
        "usage": overview.usage,
        "features": overview.features,
        "segments_compared": user_segments(source, cat, week, compare=True),
        "funnel": next(iter(overview.funnels.values())),
        "experiment_with_timeline": analyze_experiment(
            source, cat, cat.experiment_ids[0], as_of=week.end, timeline=True
        ),
        "feedback": overview.feedback,
        "retention_and_lifecycle": retention_and_lifecycle(source, week, "day"),
        "metrics_export": export,
    }


CASES = [
    "overview",
    "usage",
    "features",
    "segments_compared",
    pytest.param("funnel", marks=FUNNELS_PENDING),
    "experiment_with_timeline",
    "feedback",
    "retention_and_lifecycle",
    "metrics_export",
]


def through_json(result: Result) -> Result:
    """What a reader of data.json rebuilds: the result's dict as JSON text, read back."""
    return type(result).from_dict(json.loads(dumps(result.to_dict())))


@pytest.mark.parametrize("name", CASES)
def test_every_result_round_trips_through_its_json(computed: dict, name: str) -> None:
    result = computed[name]
    back = through_json(result)
    assert type(back) is type(result)
    assert back == result


def test_equality_notices_a_changed_cell_a_changed_type_and_a_changed_scalar(computed: dict) -> None:
    usage = computed["usage"]
    pages = usage.top_pages.copy()
    pages.loc[0, "visitors"] += 1
    assert dataclasses.replace(usage, top_pages=pages) != usage
    retyped = usage.timeseries.assign(visitors=usage.timeseries["visitors"].astype("float64"))
    assert dataclasses.replace(usage, timeseries=retyped) != usage
    assert dataclasses.replace(usage, visits=usage.visits + 1) != usage
    assert dataclasses.replace(usage, time_range=usage.time_range.previous()) != usage


def test_the_overview_is_rebuilt_area_by_area_from_the_registry(computed: dict) -> None:
    overview = computed["overview"]
    data = json.loads(dumps(overview.to_dict()))
    assert set(data) >= {"time_range", "kpis"} | {a.name for a in areas.AREAS if a.in_overview}
    partial = Overview.from_dict({k: v for k, v in data.items() if k not in ("segments", "feedback")})
    assert set(partial.results) == set(overview.results) - {"segments", "feedback"}
    assert partial.usage == overview.usage


def test_an_infinite_interval_end_survives_json(computed: dict) -> None:
    # The guardrail of the first experiment is tested one-sided: its interval is open at -infinity.
    result = computed["experiment_with_timeline"]
    guardrail = result.results[result.results.role == "guardrail"]
    assert (guardrail.lift_ci_low == float("-inf")).any()
    assert '"-Infinity"' in dumps(result.to_dict())
    assert (through_json(result).results.lift_ci_low == float("-inf")).sum() == (
        result.results.lift_ci_low == float("-inf")
    ).sum()


def test_every_kpi_of_every_area_carries_its_metadata(computed: dict) -> None:
    overview = computed["overview"]
    kpis = [k for name in overview.results for k in overview.area_kpis(name)]
    kpis += areas.SEGMENTS.kpis_of(computed["segments_compared"])
    assert {k.area for k in kpis} == {"usage", "features", "segments", "funnels", "feedback"}
    for kpi in kpis:
        assert kpi.label and kpi.format in FORMATS and kpi.direction in DIRECTIONS, kpi
        assert kpi.change_unit in CHANGE_UNITS, kpi
    by_name = {k.name: k for k in kpis}
    # Directions where they matter: a rising bounce rate or at-risk segment is bad news.
    assert by_name["bounce_rate"].direction == "lower" and by_name["segment_at_risk"].direction == "lower"
    assert by_name["visitors"].direction == "higher" and by_name["segment_regular"].direction == "neutral"
    # Rates change in points, counts in percent; all-time totals are not compared at all.
    assert by_name["bounce_rate"].change_unit == "points" and by_name["visits"].change_unit == "percent"
    assert by_name["nps"].change_unit == "points"
    assert by_name["total_users"].change_unit == "none" and by_name["total_users"].change is None
    assert "active_users" not in by_name  # the same number as visitors: one tile, not two
    # A compared segment KPI holds the previous period's size and the change in percent.
    at_risk = by_name["segment_at_risk"]
    assert at_risk.previous == computed["segments_compared"].previous["at_risk"]
    assert at_risk.change == pytest.approx(100 * (at_risk.value - at_risk.previous) / at_risk.previous)


PREVIOUS_OR_CHANGE = re.compile(r"previous|change")
NAMED_ALIKE = re.compile(r"^(previous|change)$|_previous$|_change$|_change_pct$")


def _names(result: Result) -> list[str]:
    names = [f.name for f in dataclasses.fields(result) if not isinstance(getattr(result, f.name), pd.DataFrame)]
    for frame in result.to_frames().values():
        names += [str(c) for c in frame.columns]
    return names


@pytest.mark.parametrize(
    "name", ["usage", "features", "segments_compared", "feedback", pytest.param("funnel", marks=FUNNELS_PENDING)]
)
def test_previous_values_and_changes_are_named_alike(computed: dict, name: str) -> None:
    # 'previous' / 'change' (dicts by KPI name), '<column>_previous', '<column>_change' (in the
    # KPI's change unit) and '<column>_change_pct' (a rate's relative change) only.
    odd = [n for n in _names(computed[name]) if PREVIOUS_OR_CHANGE.search(n) and not NAMED_ALIKE.search(n)]
    odd = [n for n in odd if n not in ("change_unit", "conversion_from_previous_pct")]  # not a period comparison
    assert odd == []
