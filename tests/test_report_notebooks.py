"""The six report notebooks through the run-folder path, with non-default parameters.

Each run must publish code-free HTML, CSV and data.json whose KPIs equal what the library
returns for the same parameters; hostile page names must come out escaped (HTML) and
neutralised (CSV); bad parameters must fail before any kernel starts.
"""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
from pathlib import Path

import duckdb
import nbformat
import pytest

import screens
from fawkes_analytics import catalog, runs, sources, timerange, views
from fawkes_analytics import render as render_module
from fawkes_analytics.delivery.email import RunView, render_html
from fawkes_analytics.errors import ParameterError
from fawkes_analytics.metrics import feature_adoption, usage_trends, user_segments
from fawkes_analytics.metrics.funnels import funnel_report

pytestmark = pytest.mark.slow
README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def expected_kpis(report: str, params: dict, source, cat) -> dict[str, float | None]:
    """What the library says for the same parameters (the notebook must publish exactly this)."""
    tr = timerange.resolve(
        params.get("time_range", "7d"),
        params.get("start") or None,
        params.get("end") or None,
        params.get("tz", "UTC"),
        as_of=source.default_as_of(),
    )
    if report == "usage_trends":
        kpis = usage_trends(source, tr, params.get("granularity"), segment=params.get("segment"), catalog=cat).kpis
    elif report == "feature_adoption":
        kpis = views.adoption_kpis(feature_adoption(source, cat, tr, segment=params.get("segment")))
    elif report == "user_segments":
        kpis = views.segment_kpis(user_segments(source, cat, tr), user_segments(source, cat, tr.previous()))
    elif report == "funnels":
        kpis = views.funnel_kpis({n: funnel_report(source, cat.funnel(n), tr) for n in params["funnels"].split(",")})
    elif report == "experiment_results":
        kpis = []  # no KPI tiles: enrolment is never compared with the previous period (issue 16)
    else:
        kpis = usage_trends(source, tr).kpis
    return {k.name: k.value for k in kpis}


CASES = {
    "usage_trends": {"time_range": "30d", "tz": "Europe/Berlin", "granularity": "week", "segment": "power"},
    "feature_adoption": {"time_range": "24h", "segment": "regular"},
    "experiment_results": {"experiment_id": "pipeline_templates", "time_range": "30d"},
    "user_segments": {"start": "2026-10-01", "end": "2026-11-01", "retention_period": "day"},
    "funnels": {"funnels": "deployment,onboarding", "time_range": "90d", "tz": "America/New_York"},
    "overview": {"time_range": "6h"},
}


@pytest.mark.parametrize("report", list(CASES))
def test_report_publishes_html_csv_json_matching_the_library(report: str, demo_env, tmp_path: Path) -> None:
    params = CASES[report]
    pdf = ("pdf",) if shutil.which("chromium") else ()  # the PDF test below insists on Chromium
    record = runs.run_report(
        report, params, reports_dir=tmp_path / "reports", timeout=600, outputs=("html", "csv", "json", *pdf)
    )
    assert record.status == "succeeded", record.error
    folder = Path(record.run_dir)
    html = (folder / "report.html").read_text(encoding="utf-8")
    visible = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    assert "Report.open" not in visible and "import " not in visible, "no code in the HTML"
    assert "Traceback" not in visible and 'data-mime-type="application/vnd.jupyter.stderr"' not in visible
    assert "Demo data" in html and "Contents" in html
    assert html.count("data:image/png;base64") >= 1, "charts are embedded in the file"
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    assert data["report"] == report and data["demo"] is True
    source = sources.connect()
    expected = expected_kpis(report, params, source, catalog.load())
    published = {name: kpi["value"] for name, kpi in data["kpis"].items() if name in expected}
    assert published == pytest.approx(expected, nan_ok=True)
    assert set(expected) <= set(data["kpis"])
    csv_files = list(folder.glob("*.csv"))
    assert csv_files, "one CSV per table"
    documented = README.split("## CSV files and their columns", 1)[1]
    for path in csv_files:
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        assert header and all(header), f"{path.name} has a header row"
        for column in header:
            assert f"`{re.sub(r'^period_[0-9]+$', 'period_N', column)}`" in documented, (
                f"{path.name}: column {column!r} not in the README"
            )
    png = screens.screenshot(folder / "report.html", screens.ARTIFACTS / "reports" / f"{report}.png")
    assert png.read_bytes()[:8] == screens.PNG_MAGIC
    if pdf:
        check_pdf(folder, screens.ARTIFACTS / "reports" / f"{report}_pdf")


def check_pdf(folder: Path, pictures: Path) -> None:
    """A4 pages, each numbered 'Page n of N', no heading left at the foot of a page; kept as PNGs."""
    pdf = folder / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    pages = screens.pdf_pages(pdf, pictures)
    assert {(round(p.width_pt), round(p.height_pt)) for p in pages} == {(595, 842)}  # A4 in points
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page.text
    # Headings stay with their content: each has text or a chart under it on its page.
    notebook = nbformat.read(folder / "notebook.ipynb", 4)
    headings = {text for _, text in render_module.table_of_contents(notebook)}
    assert screens.stranded_headings(pdf, headings) == []


def test_overview_payload_has_every_area(demo_env, tmp_path: Path) -> None:
    record = runs.run_report("overview", {"time_range": "30d"}, reports_dir=tmp_path / "reports")
    assert record.succeeded, record.error
    payload = json.loads((Path(record.run_dir) / "data.json").read_text(encoding="utf-8"))["results"]["overview"]
    assert {"usage", "features", "experiments", "segments", "funnels", "kpis"} <= set(payload)
    assert set(payload["funnels"]) == {"onboarding", "deployment", "service_creation"}
    assert set(payload["experiments"]) == {"onboarding_checklist", "pipeline_templates"}
    assert payload["experiments"]["onboarding_checklist"]["srm_status"] in {"ok", "mismatch"}
    # The unusual changes of the 30 days: published with the overview and as the section's flags.
    published = json.loads((Path(record.run_dir) / "data.json").read_text(encoding="utf-8"))
    anomalies = payload["anomalies"]
    assert published["unusual_changes"] == anomalies["flags"]
    assert {f["kpi"] for f in anomalies["flags"]} <= {c["kpi"]["name"] for c in anomalies["checks"]}
    assert len(anomalies["forecasts"]["forecasts"]) == 8  # usage KPIs and the three conversions, 14 days ahead
    # The email of this run, as a mail client shows it (charts inline), kept as a picture.
    run = RunView.load(Path(record.run_dir))
    cids = [(path, f"chart-{i}") for i, path in enumerate(run.charts)]
    html = render_html(run, "https://reports.example/overview/latest/report.html", cids)
    assert [k.name for k in run.headline] == list(payload["kpis"])  # the overview's tiles, grouped by area
    assert "Usage" in html and "Conversion funnels" in html and "vs previous period" in html
    if anomalies["flags"]:  # the email leads with them
        assert html.index(anomalies["flags"][0]["sentence"]) < html.index("vs previous period")
    for path, cid in cids:
        html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode())
    (tmp_path / "email.html").write_text(html, encoding="utf-8")
    screens.screenshot(tmp_path / "email.html", screens.ARTIFACTS / "email" / "overview.png", width=700)


@pytest.fixture
def hostile_source(demo_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small demo data plus pageviews whose page names attack HTML and spreadsheets."""
    path = tmp_path / "hostile.duckdb"
    shutil.copy(demo_db.path, path)
    with duckdb.connect(str(path)) as con:
        end = con.sql("select max(timestamp) from events").fetchone()[0]
        for i, page in enumerate(["<script>alert(1)</script>", '=HYPERLINK("http://evil.example","click")'] * 40):
            con.execute(
                "insert into events (event_id, timestamp, user_id, event_name, page) values (?, ?::TIMESTAMP - INTERVAL 2 HOUR, ?, 'pageview', ?)",
                [f"hostile-{i}", end, f"attacker-{i}", page],
            )
    monkeypatch.setenv("FAWKES_ANALYTICS_SOURCE", f"duckdb://{path}")
    monkeypatch.setenv("FAWKES_ANALYTICS_REPORTS_DIR", str(tmp_path / "reports"))
    return path


def test_hostile_page_names_are_escaped_and_neutralised(hostile_source: Path, tmp_path: Path) -> None:
    record = runs.run_report("usage_trends", {"time_range": "24h"}, reports_dir=tmp_path / "reports")
    assert record.succeeded, record.error
    folder = Path(record.run_dir)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    with (folder / "usage_top_pages.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    pages = {row["page"]: row for row in rows}
    assert '\'=HYPERLINK("http://evil.example","click")' in pages
    assert '=HYPERLINK("http://evil.example","click")' not in pages
    hyperlink = pages['\'=HYPERLINK("http://evil.example","click")']
    assert hyperlink["pageviews"] == "40" and hyperlink["visitors"] == "40", "numbers stay numbers"


@pytest.mark.parametrize(
    ("report", "params", "named"),
    [
        ("funnels", {"funnels": "onboarding,checkout"}, "funnels"),
        ("experiment_results", {"experiment_id": "no_such_test"}, "experiment_id"),
        ("usage_trends", {"time_range": "2w"}, "time_range"),
        ("user_segments", {"segment": "whales"}, "segment"),
    ],
)
def test_bad_parameters_fail_before_execution(report: str, params: dict, named: str, demo_env, tmp_path: Path) -> None:
    with pytest.raises(ParameterError) as caught:
        runs.run_report(report, params, reports_dir=tmp_path / "reports")
    assert f"'{named}'" in str(caught.value) and "allowed" in str(caught.value)
    assert not (tmp_path / "reports" / report).exists()


@pytest.mark.browser
def test_pdf_is_rendered_from_the_html(demo_env, tmp_path: Path) -> None:
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is required for PDF reports (scripts/install-system-deps.sh installs it)")
    record = runs.run_report(
        "feature_adoption",
        {"time_range": "7d"},
        reports_dir=tmp_path / "reports",
        outputs=("html", "pdf", "csv", "json"),
    )
    assert record.succeeded, record.error
    check_pdf(Path(record.run_dir), screens.ARTIFACTS / "reports" / "feature_adoption_7d_pdf")
