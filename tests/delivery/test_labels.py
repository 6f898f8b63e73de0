"""Bounded labels: long text is cut with an ellipsis wherever it is shown (HTML tables, KPI
tiles, charts, email tables, Prometheus label values) and kept whole in CSV and JSON."""

from __future__ import annotations

import pandas as pd
import pytest
from sched_support import build_run_folder

from fawkes_analytics import views
from fawkes_analytics.delivery.email import RunView, render_html, render_text
from fawkes_analytics.export.csv import csv_text
from fawkes_analytics.export.json import dumps
from fawkes_analytics.export.prometheus import _Families, build_registry, exposition
from fawkes_analytics.labels import ELLIPSIS, shorten
from fawkes_analytics.metrics.kpis import Kpi

HUGE = "utm-" + "x" * 1_000_000  # the 1 MB utm_campaign that made a PDF time out


def test_shorten_keeps_short_text_and_cuts_long_text_to_the_limit() -> None:
    assert shorten("spring_sale") == "spring_sale"
    cut = shorten(HUGE)
    assert len(cut) == 80 and cut.endswith(ELLIPSIS) and cut.startswith("utm-xxx")


def test_the_limit_is_configurable(monkeypatch) -> None:
    monkeypatch.setenv("FAWKES_ANALYTICS_MAX_LABEL_LENGTH", "20")
    assert len(shorten(HUGE)) == 20
    monkeypatch.setenv("FAWKES_ANALYTICS_MAX_LABEL_LENGTH", "3")
    with pytest.raises(ValueError, match="FAWKES_ANALYTICS_MAX_LABEL_LENGTH"):
        shorten(HUGE)


def test_html_tables_and_kpi_tiles_show_the_short_label() -> None:
    table = views.table(pd.DataFrame({HUGE: [HUGE], "visitors": [3]})).markup
    tiles = views.tiles([Kpi.compare("campaign", HUGE, 3.0, 2.0)]).markup
    for markup in (table, tiles):
        assert HUGE not in markup and shorten(HUGE) in markup and len(markup) < 5_000


def test_csv_and_json_keep_the_full_value() -> None:
    frame = pd.DataFrame({"utm_campaign": [HUGE], "visitors": [3]})
    assert HUGE in csv_text(frame) and HUGE in dumps({"campaign": HUGE})


def test_chart_labels_are_short() -> None:
    import matplotlib.pyplot as plt

    from fawkes_analytics.metrics.funnels import FunnelResult

    steps = pd.DataFrame({"step": [1, 2], "label": [HUGE, "done"], "count": [10, 4]})
    funnel = FunnelResult.__new__(FunnelResult)
    funnel.steps, funnel.title = steps, "Campaign"
    figure = views.funnel_chart(funnel)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    plt.close(figure)
    assert labels[0] == f"1. {shorten(HUGE)}"


def test_email_tables_show_the_short_label(tmp_path) -> None:
    kpis = {"campaign": {"label": HUGE, "value": 3, "change": 10.0, "unit": ""}}
    run = RunView.load(build_run_folder(tmp_path, kpis=kpis, charts=()))
    assert HUGE not in render_text(run, None) and shorten(HUGE) in render_text(run, None)
    assert HUGE not in render_html(run, None, []) and shorten(HUGE) in render_html(run, None, [])


def test_prometheus_label_values_are_bounded() -> None:
    families = _Families()
    families.add("analytics_feature_adoption_rate", 0.5, feature_name=HUGE)
    text = exposition(build_registry(families.nonempty()))
    assert HUGE not in text and f'feature_name="{shorten(HUGE)}"' in text
