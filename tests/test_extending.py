"""docs/extending.md, followed: each recipe's code blocks, as the page shows them, do what it says.

The blocks are read from the page (``# file: …`` is a new module, ``# in …`` goes into an
existing one, ``# cell`` is a notebook cell), so the guide cannot drift from the code. The new
modules are installed under their package names for the test only; registry entries are
added with monkeypatch, as a developer would add them to the tuple or dict in the file.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pandas as pd
import pytest

from fawkes_analytics import areas, catalog, formats, runs, sources, timerange, views
from fawkes_analytics.export import formats as export_formats
from fawkes_analytics.export.json import dumps
from fawkes_analytics.export.prometheus import build_registry, exposition, overview_families
from fawkes_analytics.kpi import Kpi
from fawkes_analytics.overview import Overview, build_overview

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str]]:
    return FENCE.findall(DOC.read_text(encoding="utf-8"))


def block(first_line: str) -> str:
    """The code block of the guide whose first line is ``first_line``."""
    found = [code for _, code in blocks() if code.splitlines()[0] == first_line]
    assert len(found) == 1, f"{first_line!r} in docs/extending.md"
    return found[0]


def install(name: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The module ``name`` from ``code``, importable for this test as if it were in the package."""
    path = tmp_path / f"{name.rsplit('.', 1)[-1]}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run_in(module: ModuleType, code: str) -> dict:
    """Execute code added to ``module`` (its names and its package for relative imports)."""
    namespace = dict(vars(module))
    exec(compile(code, f"<docs/extending.md in {module.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace


def events(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """Canonical events from (user, UTC time, event name) rows; pageviews are of '/'."""
    return pd.DataFrame(
        [
            {"event_id": f"e{i}", "timestamp": pd.Timestamp(at, tz="UTC"), "user_id": user, "event_name": name}
            | ({"page": "/"} if name == "pageview" else {})
            for i, (user, at, name) in enumerate(rows)
        ]
    )


EMPTY_ASSIGNMENTS = pd.DataFrame(
    {
        "experiment_id": pd.Series(dtype=str),
        "variant": pd.Series(dtype=str),
        "user_id": pd.Series(dtype=str),
        "assigned_at": pd.Series(dtype="datetime64[ns, UTC]"),
    }
)
EMPTY_FEEDBACK = pd.DataFrame(
    {
        "user_id": pd.Series(dtype=str),
        "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
        "score": pd.Series(dtype="int64"),
    }
)
# 2026-03-02 (the range): a views 2 pages, b one, c only deploys -> 3 visitors, 3 pageviews,
# 1.0 pageviews per visitor; depths 0: c, 1: b, 2-3: a. 2026-03-01 (the previous period): a
# views 4 pages -> 1 visitor, 4.0 per visitor. Change: (1.0 - 4.0) / 4.0 = -75 %.
ROWS = events(
    ("a", "2026-03-02 09:00:00", "pageview"),
    ("a", "2026-03-02 09:05:00", "pageview"),
    ("b", "2026-03-02 10:00:00", "pageview"),
    ("c", "2026-03-02 11:00:00", "deploy"),
    *[("a", f"2026-03-01 09:0{i}:00", "pageview") for i in range(4)],
)
DAY = timerange.resolve(start="2026-03-02", end="2026-03-03")


@pytest.fixture
def page_depth_area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> areas.Area:
    """Recipe 1 applied: the metric module installed and its entry added to the registry."""
    install(
        "fawkes_analytics.metrics.page_depth",
        block("# file: lib/fawkes_analytics/metrics/page_depth.py"),
        tmp_path,
        monkeypatch,
    )
    namespace = run_in(areas, block("# in lib/fawkes_analytics/areas.py"))
    registry = next(code for _, code in blocks() if code.startswith("AREAS: tuple[Area, ...] = ("))
    exec(registry, namespace)  # noqa: S102 - the guide's new AREAS line, after the entry above
    monkeypatch.setattr(areas, "AREAS", namespace["AREAS"])
    monkeypatch.setattr(areas, "BY_NAME", {a.name: a for a in namespace["AREAS"]})
    return namespace["PAGE_DEPTH"]


def test_recipe_a_metric_is_one_module_and_one_registry_entry(page_depth_area, make_source) -> None:
    source = make_source(events=ROWS, assignments=EMPTY_ASSIGNMENTS, feedback=EMPTY_FEEDBACK)
    depth = page_depth_area.run(source, catalog.load(), DAY)
    assert (depth.visitors, depth.pageviews_per_visitor) == (3, 1.0)
    assert depth.previous == {"pageviews_per_visitor": 4.0} and depth.change["pageviews_per_visitor"] == -75.0
    assert depth.distribution.set_index("depth")["visitors"].to_dict() == {"0": 1, "1": 1, "2-3": 1, "4-7": 0, "8+": 0}

    # The overview computes it, publishes it and rebuilds the very object from JSON.
    overview = build_overview(source, catalog.load(), DAY)
    assert overview.page_depth == depth
    assert Overview.from_dict(json.loads(dumps(overview.to_dict()))) == overview
    # Its KPI is a tile of the overview, grouped under its area (reports, dashboards, emails).
    (kpi,) = [k for k in overview.kpis if k.area == "page_depth"]
    assert formats.kpi_view(kpi).comparison == "▼ -75.0% vs previous period"
    assert ("Page depth", [kpi]) in areas.grouped(overview.kpis)
    # Its chart and table in the overview's section; its family in the Prometheus exposition.
    sections = views.overview_sections(overview.results, "UTC").html().markup
    assert "<h2>Page depth</h2>" in sections and 'alt="Visitors by pageviews in the range"' in sections
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", views.table_of(depth, "distribution").markup)
    assert heads == ["Depth", "Visitors"]
    text = exposition(build_registry(overview_families(overview)))
    assert "analytics_pageviews_per_visitor 1.0" in text


def test_recipe_a_source_is_one_module_and_one_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = install(
        "fawkes_analytics.sources.memory",
        block("# file: lib/fawkes_analytics/sources/memory.py"),
        tmp_path,
        monkeypatch,
    )
    registration = block("# in lib/fawkes_analytics/sources/__init__.py")
    monkeypatch.setattr(sources, "SOURCES", dict(sources.SOURCES))  # the registry, restored afterwards
    exec(registration, vars(sources))  # noqa: S102 - the guide's line, run in the package
    assert sources.SOURCES["memory"] == f"{memory.__name__}:open_memory"
    monkeypatch.setitem(memory.TABLES, "shop", {"events": ROWS})
    from fawkes_analytics.metrics import usage_trends

    source = sources.connect("memory://shop")
    usage = usage_trends(source, DAY)
    # The range holds a (2 pageviews), b (1) and c (a custom event): 3 visitors, 3 pageviews.
    assert (usage.visitors, usage.pageviews) == (3, 3)
    assert formats.source_label(source.describe()) == "Memory · shop"


@pytest.fixture(scope="module")
def landing_pages_run(demo_db: object, tmp_path_factory: pytest.TempPathFactory) -> runs.RunRecord:
    """Recipe 3 applied (a notebook from the guide's cells) and recipe 4 (an export format)."""
    folder = tmp_path_factory.mktemp("extending")
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    cells = []
    for kind, code in blocks():
        first = code.splitlines()[0]
        if kind == "python" and first.startswith("# cell"):
            cell = nbformat.v4.new_code_cell(code.split("\n", 1)[1].rstrip())
            if ":" in first:
                cell.metadata["tags"] = [first.split(":", 1)[1].strip()]
            cells.append(cell)
        elif kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(code.rstrip()))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "fawkes-analytics",
        "display_name": "Fawkes Analytics",
        "language": "python",
    }
    nbformat.write(notebook, notebooks / "landing_pages.ipynb")

    patch = pytest.MonkeyPatch()
    try:
        module = install(
            "fawkes_analytics.export.kpi_tsv", block("# file: lib/fawkes_analytics/export/kpi_tsv.py"), folder, patch
        )
        entry = run_in(export_formats, block("# in lib/fawkes_analytics/export/formats.py"))
        assert module.write_kpi_tsv
        export_formats.register(entry["KPI_TSV"])
        patch.setenv("FAWKES_ANALYTICS_SOURCE", f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
        return runs.run_report(
            "landing_pages",
            {"time_range": "30d"},
            reports_dir=folder / "reports",
            notebooks=notebooks,
            outputs=("html", "csv", "json", "markdown", "kpi_tsv"),
            timeout=600,
        )
    finally:
        export_formats.unregister("kpi_tsv")
        patch.undo()


def test_recipe_a_report_notebook_runs_into_a_run_folder(landing_pages_run: runs.RunRecord, demo_db: object) -> None:
    assert landing_pages_run.status == "succeeded", landing_pages_run.error
    folder = Path(landing_pages_run.run_dir)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Landing pages" in html and "Where visits start and end" in html
    assert ">Entry page<" in html and ">Exit page<" in html and ">Exit rate<" in html
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    source = sources.connect(f"duckdb://{demo_db.path}")  # type: ignore[attr-defined]
    from fawkes_analytics.metrics import usage_trends

    expected = usage_trends(source, timerange.resolve("30d", as_of=source.default_as_of()))
    assert {n: k["value"] for n, k in data["kpis"].items()} == pytest.approx({k.name: k.value for k in expected.kpis})
    assert {"usage_entry_pages.csv", "usage_exit_pages.csv"} <= {p.name for p in folder.glob("*.csv")}


def test_recipe_an_export_format_writes_into_the_run_folder(landing_pages_run: runs.RunRecord) -> None:
    assert landing_pages_run.status == "succeeded", landing_pages_run.error
    folder = Path(landing_pages_run.run_dir)
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    lines = (folder / "kpis.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "kpi\tvalue\tcomparison" and len(lines) == 1 + len(data["kpis"])
    visitors = formats.kpi_view(Kpi.from_dict(data["kpis"]["visitors"]))
    assert f"Visitors\t{visitors.value}\t{visitors.comparison}" in lines
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Landing pages") and f"| Visitors | {visitors.value} |" in markdown
    with pytest.raises(ValueError, match="'kpi_tsv'"):  # unregistered again after the run
        runs.run_report("landing_pages", {}, outputs=("kpi_tsv",), notebooks=folder)
