"""Fast checks of the dashboard pieces without a browser: escaping, payload shapes, polling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fawkes_analytics.dashboard import Dashboard, load_published, normalise, poll_seconds, views


def test_user_text_never_becomes_markup() -> None:
    areas = {
        "usage": {"top_pages": [{"page": "<script>alert(1)</script>", "visitors": 3, "pageviews": 5}], "sources": []}
    }
    html = views.usage_tables_html(areas)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_kpi_tiles_format_values_like_the_reports() -> None:
    # 1234 users -> '1,234'; bounce 18.26% -> '18.3%'; 294.3 s -> '4m 54s' (report.format_value rules)
    areas = {
        "kpis": {
            "visitors": {
                "name": "visitors",
                "label": "Visitors",
                "value": 1234,
                "previous": 1000,
                "change": 23.4,
                "change_unit": "percent",
                "unit": "",
            },
            "bounce_rate": {
                "name": "bounce_rate",
                "label": "Bounce rate",
                "value": 18.26,
                "previous": 16.0,
                "change": 2.26,
                "change_unit": "points",
                "unit": "%",
            },
            "visit_duration": {
                "name": "visit_duration",
                "label": "Visit duration",
                "value": 294.3,
                "previous": None,
                "change": None,
                "change_unit": "percent",
                "unit": "s",
            },
        }
    }
    html = views.kpis_html(areas)
    for text in ("1,234", "18.3%", "4m 54s", "+2.3 pp vs previous period", "no previous data"):
        assert text in html


def test_normalise_finds_the_overview_wherever_the_notebook_put_it() -> None:
    nested = {"kpis": {"a": {}}, "results": {"overview": {"usage": {"visits": 1}, "funnels": {"f": {}}}}}
    assert normalise(nested)["usage"] == {"visits": 1}
    assert normalise(nested)["kpis"] == {"a": {}}
    flat = {"usage": {"visits": 2}, "kpis": {"b": {}}}
    assert normalise(flat)["usage"] == {"visits": 2}


@pytest.mark.parametrize(("raw", "expected"), [("", 30.0), ("5", 5.0), ("0", 0.0), ("soon", 30.0), ("-3", 0.0)])
def test_poll_interval_comes_from_the_environment(raw: str, expected: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAWKES_DASHBOARD_POLL_SECONDS", raw)
    assert poll_seconds() == expected


def _publish(reports: Path, run_id: str, visits: int) -> None:
    folder = reports / "overview" / run_id
    folder.mkdir(parents=True)
    kpi = {
        "name": "visits",
        "label": "Visits",
        "value": visits,
        "previous": 1,
        "change": 0.0,
        "change_unit": "percent",
        "unit": "",
    }
    payload = {
        "generated_at": "2026-11-15T12:00:00+00:00",
        "source": {"data_as_of": "2026-11-15T11:00:00+00:00"},
        "time_range": {"label": "7d", "tz": "UTC"},
        "kpis": {"visits": kpi},
        "usage": {"timeseries": []},
    }
    (folder / "data.json").write_text(json.dumps(payload), encoding="utf-8")
    link = reports / "overview" / "latest"
    link.unlink(missing_ok=True)
    link.symlink_to(run_id)


def test_a_newer_run_is_picked_up_by_one_poll(tmp_path: Path) -> None:
    _publish(tmp_path, "run1", 1111)
    dashboard = Dashboard("usage", reports_dir=tmp_path, poll=0)
    assert load_published(tmp_path).run_id == "run1"
    assert "1,111" in dashboard.content.value and "Published run run1" in dashboard.header.value
    assert dashboard.check_for_new_run() is False  # nothing new yet
    _publish(tmp_path, "run2", 2222)
    assert dashboard.check_for_new_run() is True
    assert "2,222" in dashboard.content.value and "Published run run2" in dashboard.header.value


def test_without_a_run_there_are_no_numbers(tmp_path: Path) -> None:
    dashboard = Dashboard("overview", reports_dir=tmp_path, poll=0)
    assert "No overview report has been published yet" in dashboard.status.value
    assert "fwk-tile" not in dashboard.content.value
    assert dashboard.compute_button.layout.display == ""
