"""Fast checks of the dashboard pieces without a browser: escaping, tiles, the published
payload rebuilt as result objects, polling."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from fawkes_analytics import sources, timerange, views
from fawkes_analytics.dashboard import Dashboard, load_published, poll_seconds
from fawkes_analytics.export.json import write_json
from fawkes_analytics.kpi import Kpi
from fawkes_analytics.metrics import usage_trends
from fawkes_analytics.overview import Overview


def test_user_text_never_becomes_markup() -> None:
    frame = pd.DataFrame({"page": ["<script>alert(1)</script>"], "visitors": [3], "pageviews": [5]})
    html = str(views.table(frame))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_kpi_tiles_format_values_like_the_reports() -> None:
    # 1234 users -> '1,234'; bounce 18.26% -> '18.3%'; 294.3 s -> '4 min 54 s' (formats.value rules),
    # published before KPIs carried their format: the unit decides it.
    published = {
        "visitors": {"label": "Visitors", "value": 1234, "previous": 1000, "change": 23.4, "change_unit": "percent"},
        "bounce_rate": {
            "label": "Bounce rate",
            "value": 18.26,
            "previous": 16.0,
            "change": 2.26,
            "change_unit": "points",
            "unit": "%",
        },
        "visit_duration": {"label": "Visit duration", "value": 294.3, "change": None, "unit": "s"},
    }
    html = str(views.tiles([Kpi.from_dict(k, name) for name, k in published.items()]))
    for text in ("1,234", "18.3%", "4 min 54 s", "+2.3 pp vs previous period", "no previous data"):
        assert text in html


@pytest.fixture(scope="module")
def usage(demo_db: object) -> object:
    """The demo data's usage of the last 7 days (the numbers the fake runs below publish)."""
    source = sources.connect(f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
    return usage_trends(source, timerange.resolve("7d", as_of=source.default_as_of()))


def _publish(reports: Path, run_id: str, usage: object) -> None:
    """A run of the overview report holding only the usage area (data.json as Report.payload writes it)."""
    overview = Overview(usage.time_range, {"usage": usage})  # type: ignore[attr-defined]
    folder = reports / "overview" / run_id
    folder.mkdir(parents=True)
    payload = {
        "report": "overview",
        "generated_at": "2026-11-15T12:00:00+00:00",
        "source": {"kind": "duckdb", "url": "duckdb:///srv/private/path/demo.duckdb", "data_as_of": None},
        "kpis": {k.name: k.to_dict() for k in overview.kpis},
        "results": {"overview": overview.to_dict()},
    }
    write_json(payload, folder / "data.json")
    link = reports / "overview" / "latest"
    link.unlink(missing_ok=True)
    link.symlink_to(run_id)


def test_the_published_overview_is_rebuilt_as_the_same_result_objects(tmp_path: Path, usage: object) -> None:
    _publish(tmp_path, "run1", usage)
    published = load_published(tmp_path)
    assert published is not None and published.run_id == "run1"
    assert published.overview == Overview(usage.time_range, {"usage": usage})  # type: ignore[attr-defined]
    assert published.overview.usage == usage


def test_a_newer_run_is_picked_up_by_one_poll(tmp_path: Path, usage: object) -> None:
    _publish(tmp_path, "run1", replace(usage, visits=1111))  # type: ignore[type-var]
    dashboard = Dashboard("usage", reports_dir=tmp_path, poll=0)
    assert "1,111" in dashboard.content.value and "Published run run1" in dashboard.header.value
    assert "DuckDB · demo" in dashboard.header.value and "/srv/private" not in dashboard.header.value
    assert dashboard.check_for_new_run() is False  # nothing new yet
    _publish(tmp_path, "run2", replace(usage, visits=2222))  # type: ignore[type-var]
    assert dashboard.check_for_new_run() is True
    assert "2,222" in dashboard.content.value and "Published run run2" in dashboard.header.value


def test_a_payload_without_the_overview_is_an_error_that_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "overview" / "run1"
    folder.mkdir(parents=True)
    (folder / "data.json").write_text(json.dumps({"kpis": {}}), encoding="utf-8")
    (tmp_path / "overview" / "latest").symlink_to("run1")
    with pytest.raises(Exception, match="results\\['overview'\\]") as caught:
        load_published(tmp_path)
    assert str(folder / "data.json") in str(caught.value)


@pytest.mark.parametrize(("raw", "expected"), [("", 30.0), ("5", 5.0), ("0", 0.0), ("soon", 30.0), ("-3", 0.0)])
def test_poll_interval_comes_from_the_environment(raw: str, expected: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAWKES_DASHBOARD_POLL_SECONDS", raw)
    assert poll_seconds() == expected


def test_without_a_run_there_are_no_numbers(tmp_path: Path) -> None:
    dashboard = Dashboard("overview", reports_dir=tmp_path, poll=0)
    assert "No overview report has been published yet" in dashboard.status.value
    assert "fwk-tile" not in dashboard.content.value
    assert dashboard.compute_button.layout.display == ""
