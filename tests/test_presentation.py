"""The presentation defects of issue 15, fixed once in the shared rendering, each pinned here.

Results come from a real computation on the small demo data (one week in Europe/Berlin);
hand-made values are used where a rule needs a case the demo data may not hold (a rising
bounce rate, a negative NPS), with the expected words worked out in a comment.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.image import AxesImage

from fawkes_analytics import areas, catalog, formats, sources, timerange, views
from fawkes_analytics.delivery.email import RunView, render_html, render_text
from fawkes_analytics.kpi import Kpi
from fawkes_analytics.metrics.retention import retention_and_lifecycle
from fawkes_analytics.overview import build_overview
from fawkes_analytics.render import PAGE_SIZE_ENV, page_size
from fawkes_analytics.report import Report

TZ = "Europe/Berlin"
SNAKE = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")


@pytest.fixture(scope="module")
def demo(demo_db: object) -> SimpleNamespace:
    source = sources.connect(f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
    week = timerange.resolve("7d", tz=TZ, as_of=source.default_as_of())
    overview = build_overview(source, catalog.load(), week)
    return SimpleNamespace(source=source, week=week, overview=overview)


def _closed(figure: object) -> object:
    plt.close(figure)  # type: ignore[arg-type]
    return figure


def test_kpi_colours_follow_the_direction() -> None:
    # Bounce rate 40% -> 42.5%: +2.5 pp, up, and up is bad for a lower-is-better KPI (red).
    from fawkes_analytics.metrics.usage import KPIS

    spec = {s.name: s for s in KPIS}
    rising_bounce = formats.kpi_view(spec["bounce_rate"].of(42.5, 40.0))
    assert (rising_bounce.arrow, rising_bounce.tone, rising_bounce.change) == ("▲", "bad", "+2.5 pp")
    falling_bounce = formats.kpi_view(spec["bounce_rate"].of(37.5, 40.0))
    assert (falling_bounce.arrow, falling_bounce.tone) == ("▼", "good")
    # At-risk users 100 -> 107: +7%, bad news (the green "At risk users ▲ +7%").
    from fawkes_analytics.metrics.segments import segment_kpi

    at_risk = formats.kpi_view(segment_kpi("at_risk").of(107, 100))
    assert (at_risk.arrow, at_risk.change, at_risk.tone) == ("▲", "+7.0%", "bad")
    assert formats.kpi_view(segment_kpi("regular").of(107, 100)).tone == "neutral"
    assert formats.kpi_view(spec["visitors"].of(107, 100)).tone == "good"


def test_the_email_colours_a_rising_bounce_rate_as_bad(tmp_path: Path) -> None:
    from fawkes_analytics.metrics.usage import KPIS

    bounce = next(s for s in KPIS if s.name == "bounce_rate").of(42.5, 40.0)
    folder = tmp_path / "overview" / "run1"
    folder.mkdir(parents=True)
    (folder / "data.json").write_text(json.dumps({"title": "Usage", "kpis": {"bounce_rate": bounce.to_dict()}}))
    run = RunView.load(folder)
    html = render_html(run, None, [])
    row = re.search(r"Bounce rate.*?</tr>", html, re.S).group(0)  # type: ignore[union-attr]
    assert f"color:{formats.TONE_COLOURS['bad']}" in row and "▲ +2.5 pp vs previous period" in row
    assert "Bounce rate" in render_text(run, None) and "▲ +2.5 pp" in render_text(run, None)


def test_trend_words_and_arrows_agree(demo: SimpleNamespace) -> None:
    # An adoption rate 30% -> 29.7% moved -1% relative: within the 10% threshold, so 'stable'.
    stable = Kpi("adoption_x", "X", 29.7, 30.0, -0.3, "points", "%", "percent", trend="stable")
    view = formats.kpi_view(stable)
    assert (view.arrow, view.tone, view.trend) == ("→", "flat", "stable")
    assert view.comparison == "→ -0.3 pp vs previous period · stable"
    # The demo's features: each tile's arrow is the table's trend word's arrow.
    adoption = demo.overview.features
    table = views.table_of(adoption, "features", TZ).markup
    for kpi, row in zip(adoption.kpis, adoption.features.itertuples(), strict=True):
        shown = formats.kpi_view(kpi)
        assert shown.trend == row.trend and f"{shown.arrow} {row.trend}" in table


def test_a_change_that_rounds_to_zero_is_stable_not_red() -> None:
    tiny = formats.kpi_view(Kpi.compare("visits", "Visits", 100_001, 100_010))  # -0.009% shows as -0.0%
    assert (tiny.arrow, tiny.tone) == ("→", "flat")


def test_the_nps_axis_spans_negative_values() -> None:
    nps = pd.DataFrame(
        {"start": pd.to_datetime(["2026-11-10", "2026-11-11", "2026-11-12"], utc=True), "nps": [-40.0, 20.0, -5.0]}
    )
    figure = _closed(views.chart(areas.FEEDBACK.chart("nps"), SimpleNamespace(nps_timeseries=nps), TZ))
    low, high = figure.axes[0].get_ylim()  # type: ignore[attr-defined]
    assert low <= -40 < 20 <= high


def test_no_tile_shows_the_same_number_twice(demo: SimpleNamespace) -> None:
    names = [k.name for k in demo.overview.kpis]
    assert len(names) == len(set(names)) and "active_users" not in names


def test_the_header_has_one_named_time_zone_and_no_source_path(demo: SimpleNamespace) -> None:
    report = Report("usage_trends", "Usage trends", demo.source, demo.week)
    text = re.sub(r"<[^>]+>", " ", report.header().markup.split("</style>", 1)[1])
    assert "Times in Europe/Berlin" in text and "UTC" not in text
    stamps = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?: (\w+))?", text)
    assert stamps and {zone for zone in stamps if zone} <= {"CET", "CEST"}
    assert "Source DuckDB · " in text
    assert str(Path(demo.source.url.split("://", 1)[1]).parent) not in text and "duckdb://" not in text


def test_retention_is_a_heatmap_and_lifecycle_stacked_bars(demo: SimpleNamespace) -> None:
    cohorts = retention_and_lifecycle(demo.source, demo.week, "day")
    heatmap = _closed(views.chart_of(cohorts, "retention", TZ))
    assert any(isinstance(a, AxesImage) for a in heatmap.axes[0].get_children())  # type: ignore[attr-defined]
    stacked = _closed(views.chart_of(cohorts, "lifecycle", TZ))
    bars = [p for p in stacked.axes[0].patches]  # type: ignore[attr-defined]
    periods = len(cohorts.lifecycle.periods)
    assert len(bars) == 4 * periods  # new, returning, resurrecting above; dormant below
    dormant = cohorts.lifecycle.periods["dormant"].tolist()
    assert [-b.get_height() for b in bars[3 * periods :]] == dormant


def test_pdf_paper_is_a4_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PAGE_SIZE_ENV, raising=False)
    assert page_size() == "A4"
    monkeypatch.setenv(PAGE_SIZE_ENV, "Letter")
    assert page_size() == "letter"
    monkeypatch.setenv(PAGE_SIZE_ENV, "tabloid")
    with pytest.raises(ValueError, match=PAGE_SIZE_ENV):
        page_size()


def test_durations_read_in_human_units(demo: SimpleNamespace) -> None:
    assert [formats.duration(s) for s in (42, 294.3, 7500, 200_000)] == ["42 s", "4 min 54 s", "2 h 05 min", "2 d 7 h"]
    funnel = next(f for f in demo.overview.funnels.values() if not f.time_to_convert.empty)
    figure = _closed(views.time_to_convert_chart(funnel))
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels()]  # type: ignore[attr-defined]
    assert all(re.fullmatch(r"[\d a-z]+ – [\d a-z]+", t) for t in ticks), ticks
    assert "minutes:seconds" not in figure.axes[0].get_xlabel()  # type: ignore[attr-defined]
    steps = views.table_of(funnel, "steps", TZ).markup
    assert "Median time to convert" in steps and re.search(r">\d+ (s|min \d\d s|h \d\d min)<", steps)


def test_all_time_totals_and_enrolment_are_not_compared(demo: SimpleNamespace) -> None:
    total = next(k for k in demo.overview.kpis if k.name == "total_users")
    assert formats.kpi_view(total).comparison == "all time, up to the end of the range"
    assert areas.EXPERIMENTS.kpis_of(demo.overview.experiments) == []


def test_tables_have_human_column_labels(demo: SimpleNamespace) -> None:
    for area in areas.AREAS:
        if area.name not in demo.overview.results:
            continue
        for _, result in area.items(demo.overview.results[area.name]):
            for spec in area.tables:
                heads = re.findall(r"<th[^>]*>([^<]*)</th>", views.table_of(result, spec.name, TZ).markup)
                assert heads and not [h for h in heads if SNAKE.match(h)], (area.name, spec.name, heads)


def test_tiles_and_tables_round_the_same_way(demo: SimpleNamespace) -> None:
    adoption = demo.overview.features
    table = views.table_of(adoption, "features", TZ).markup
    for kpi in adoption.kpis:
        assert f">{formats.kpi_view(kpi).value}<" in table  # e.g. '39.4%' in both
    usage = replace(demo.overview.usage, bounce_rate=12.345)
    (bounce,) = [k for k in usage.kpis if k.name == "bounce_rate"]
    frame = pd.DataFrame({"source": ["x"], "bounce_rate": [12.345]})
    assert formats.kpi_view(bounce).value == "12.3%" and ">12.3%<" in views.table(frame).markup
