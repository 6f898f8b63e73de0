"""Compute once, read everywhere: the rollup store's targets, each against a reference run beside it.

Every figure is a median of ``--repeat`` runs, each in a fresh process (so no run inherits
another's caches), with the reference measured alternately in the same loop; the load
average is printed because this machine is shared. Targets (2-core machine, 10M demo events):

- library vs pandas: usage + feature adoption + the onboarding funnel over the whole data
  span, the library reading a current store vs an idiomatic pandas version (bench/pandas_reference.py)
  of the same work, loading included: >= 20x;
- all sections of all reports over 30 days with a current store: < 1 s;
- first full build <= 1.5x one raw DuckDB sessionisation query of the same file;
- incremental refresh after one new day < 10% of a full build;
- 100M events (``--events 100000000``): a full build and all sections at peak RSS < 4 GB;
- one usage report run on 1M events (kernel start included) with a current store: < 5 s.

"All sections of all reports" is every area of the registry (areas.AREAS: unusual changes,
usage, adoption, experiments, segments, funnels, retention, feedback), computed as the
reports and the overview compute them. Reads are measured three ways:

- after the shipped refresh: the 5-minute schedule runs ``refresh --views``, which brings the
  store up to date and then answers every area of every named range for the dashboards and
  the reports (dashboard/precompute.py); the first reader reads those answers;
- a question nobody asked yet (the answers removed): computed from the rollups, what a
  custom range costs;
- every later reader of a question asked once (rollups/answers.py).

Usage: ``.venv/bin/python bench/bench_rollups.py [--events 10000000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "bench"
SESSIONISATION = """
SELECT count(*) FROM (
  SELECT user_id, count(*) AS events FROM (
    SELECT *, sum(CASE WHEN prev IS NULL OR "timestamp" > prev + INTERVAL 30 MINUTE THEN 1 ELSE 0 END)
           OVER (PARTITION BY user_id ORDER BY "timestamp", event_id) AS session
    FROM (SELECT user_id, "timestamp", event_id,
                 lag("timestamp") OVER (PARTITION BY user_id ORDER BY "timestamp", event_id) AS prev
          FROM events))
  GROUP BY user_id, session)
"""


def ensure_data(events: int, seed: int) -> Path:
    from fawkes_analytics import demo

    path = DATA / f"demo_{events}_{seed}.duckdb"
    if not path.exists():
        demo.generate(path, events=events, seed=seed, progress=False)
    return path


def _child(task: str, **arguments: object) -> dict[str, object]:
    """Run one measurement in a fresh process; it prints one JSON line."""
    command = [sys.executable, __file__, "--child", task, "--arguments", json.dumps(arguments, default=str)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=dict(os.environ))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- measurements, each run in its own process ----------------------------------------------
def task_sessionise(path: str) -> dict[str, object]:
    from fawkes_analytics.sources.ibis_source import open_duckdb

    source = open_duckdb(Path(path))
    started = time.perf_counter()
    source.backend.con.sql(SESSIONISATION).fetchall()
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def task_build(path: str, store: str) -> dict[str, object]:
    os.environ["FAWKES_ANALYTICS_ROLLUPS"] = store
    from fawkes_analytics.rollups import refresh_source
    from fawkes_analytics.sources.ibis_source import open_duckdb

    source = open_duckdb(Path(path))
    started = time.perf_counter()
    result = refresh_source(source, full=True, funnels=_catalog_funnels())
    return {"seconds": time.perf_counter() - started, "mode": result.mode, "peak_mb": _peak_mb()}


def _catalog_funnels() -> list[object]:
    """The catalog's funnels, whose attempts the shipped ``refresh`` keeps in the store."""
    from fawkes_analytics import catalog
    from fawkes_analytics.metrics.funnels import stored_funnels

    return list(stored_funnels(catalog.load().funnels.values()))


def task_refresh(path: str, store: str) -> dict[str, object]:
    os.environ["FAWKES_ANALYTICS_ROLLUPS"] = store
    from fawkes_analytics.rollups import refresh_source
    from fawkes_analytics.sources.ibis_source import open_duckdb

    source = open_duckdb(Path(path))
    started = time.perf_counter()
    result = refresh_source(source, funnels=_catalog_funnels())
    return {"seconds": time.perf_counter() - started, "mode": result.mode, "events": result.events_read}


def _sections(source, cat, tr) -> dict[str, object]:  # noqa: ANN001
    """Every section of every report for one range: each area of the registry, as the reports
    (and the overview, which shows them all) compute it."""
    from fawkes_analytics import areas

    return {area.name: (lambda area=area: area.run(source, cat, tr)) for area in areas.AREAS}


def _forget_answers(store: str | Path) -> None:
    """Remove the answers kept beside the store: the next reader computes from the rollups."""
    shutil.rmtree(Path(store) / "answers", ignore_errors=True)


def task_sections(path: str, store: str, time_range: str, cold: bool) -> dict[str, object]:
    os.environ["FAWKES_ANALYTICS_ROLLUPS"] = store
    if cold:
        _forget_answers(store)
    from fawkes_analytics import catalog, timerange
    from fawkes_analytics.rollups.tables import StoreTables, tables_for
    from fawkes_analytics.sources.ibis_source import open_duckdb

    source = open_duckdb(Path(path))
    cat = catalog.load()
    tr = timerange.resolve(time_range, as_of=source.default_as_of())
    assert isinstance(tables_for(source, tr.end), StoreTables), "the store must cover the range"
    seconds = {}
    started = time.perf_counter()
    for name, run in _sections(source, cat, tr).items():
        began = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - began
    return {"seconds": time.perf_counter() - started, "families": seconds, "peak_mb": _peak_mb()}


def task_publish(path: str, store: str, views: str) -> dict[str, object]:
    """The second half of the shipped refresh (``refresh --views``): every area of every named
    range answered and the dashboards' views written."""
    os.environ["FAWKES_ANALYTICS_ROLLUPS"] = store
    from fawkes_analytics.dashboard.precompute import publish_views
    from fawkes_analytics.sources.ibis_source import open_duckdb

    started = time.perf_counter()
    publish_views(open_duckdb(Path(path)), root=Path(views), force=True)
    return {"seconds": time.perf_counter() - started}


def task_library_span(path: str, store: str, cold: bool) -> dict[str, object]:
    """Usage, adoption and the onboarding funnel over the whole data span, from the store."""
    os.environ["FAWKES_ANALYTICS_ROLLUPS"] = store
    if cold:
        _forget_answers(store)
    from fawkes_analytics import catalog, metrics, timerange
    from fawkes_analytics.metrics.funnels import funnel_report
    from fawkes_analytics.sources.ibis_source import open_duckdb

    started = time.perf_counter()
    source = open_duckdb(Path(path))
    cat = catalog.load()
    first = source.backend.con.sql("SELECT min(timestamp) FROM events").fetchone()[0]
    tr = timerange.resolve(start=f"{first:%Y-%m-%d}", end=f"{source.default_as_of():%Y-%m-%dT%H:%M}Z")
    usage = metrics.usage_trends(source, tr, "day")
    metrics.feature_adoption(source, cat, tr, "day")
    funnel = funnel_report(source, cat.funnel("onboarding"), tr)
    return {
        "seconds": time.perf_counter() - started,
        "visits": usage.visits,
        "funnel_entered": funnel.entered,
    }


def task_pandas_span(path: str) -> dict[str, object]:
    sys.path.insert(0, str(Path(__file__).parent))
    from pandas_reference import usage_adoption_funnel

    started = time.perf_counter()
    out = usage_adoption_funnel(path)
    return {"seconds": time.perf_counter() - started, **out}


def task_report_run(path: str, reports: str) -> dict[str, object]:
    """One ``fawkes-analytics run usage_trends`` on ``path`` with a current store (kernel start included)."""
    command = [str(Path(sys.executable).with_name("fawkes-analytics")), "run", "usage_trends", "--reports-dir", reports]
    env = dict(os.environ, FAWKES_ANALYTICS_SOURCE=f"duckdb://{path}")
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return {"seconds": time.perf_counter() - started}


def task_empty_kernel() -> dict[str, object]:
    """The floor under any report run: start the project's kernel, run one empty cell, stop it."""
    import nbformat
    from nbclient import NotebookClient

    started = time.perf_counter()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    NotebookClient(notebook, kernel_name="fawkes-analytics").execute()
    return {"seconds": time.perf_counter() - started}


TASKS = {
    "report_run": task_report_run,
    "empty_kernel": task_empty_kernel,
    "sessionise": task_sessionise,
    "build": task_build,
    "refresh": task_refresh,
    "publish": task_publish,
    "sections": task_sections,
    "library_span": task_library_span,
    "pandas_span": task_pandas_span,
}


# --- the bench ---------------------------------------------------------------------------------
def _with_one_day_less(path: Path, folder: Path) -> tuple[Path, str]:
    """A copy of ``path`` without its last UTC day, and the SQL that adds that day back."""
    import duckdb

    copy = folder / "growing.duckdb"
    con = duckdb.connect(str(copy))
    con.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
    last = con.sql("SELECT date_trunc('day', max(timestamp)) FROM src.events").fetchone()[0]
    con.execute(f"CREATE TABLE events AS SELECT * FROM src.events WHERE timestamp < TIMESTAMP '{last}'")
    for table in ("assignments", "feedback", "fawkes_meta"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table}")
    con.close()
    add = f"ATTACH '{path}' AS src (READ_ONLY); INSERT INTO events SELECT * FROM src.events WHERE timestamp >= TIMESTAMP '{last}'"
    return copy, add


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--range", default="30d", dest="time_range")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--arguments", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(TASKS[args.child](**json.loads(args.arguments)), default=str))
        return 0

    path = ensure_data(args.events, args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-rollups-", dir=DATA))
    report_s, kernel_s = _report_runs(work, args.repeat)
    store = str(work / "store")
    loads = []
    try:
        ref, build = [], []
        for _ in range(args.repeat):
            loads.append(os.getloadavg()[0])
            ref.append(_child("sessionise", path=str(path))["seconds"])
            shutil.rmtree(store, ignore_errors=True)
            measured = _child("build", path=str(path), store=store)
            build.append(measured["seconds"])
        build_peak = measured["peak_mb"]

        sections, warm_sections, shipped_sections, publish_s = [], [], [], []
        for _ in range(args.repeat):
            # a question nobody asked yet, then the next reader of it
            sections.append(_child("sections", path=str(path), store=store, time_range=args.time_range, cold=True))
            warm_sections.append(
                _child("sections", path=str(path), store=store, time_range=args.time_range, cold=False)
            )
            # the shipped refresh: answers of every named range, then the first reader
            _forget_answers(store)
            publish_s.append(_child("publish", path=str(path), store=store, views=str(work / "views"))["seconds"])
            shipped_sections.append(
                _child("sections", path=str(path), store=store, time_range=args.time_range, cold=False)
            )
        section_s = [s["seconds"] for s in sections]
        warm_section_s = [s["seconds"] for s in warm_sections]
        shipped_section_s = [s["seconds"] for s in shipped_sections]
        families = {k: _median([s["families"][k] for s in sections]) for k in sections[0]["families"]}

        pandas_s, library_s, warm_library_s = [], [], []
        for _ in range(args.repeat):
            loads.append(os.getloadavg()[0])
            pandas_s.append(_child("pandas_span", path=str(path))["seconds"])
            library_s.append(_child("library_span", path=str(path), store=store, cold=True)["seconds"])
            warm_library_s.append(_child("library_span", path=str(path), store=store, cold=False)["seconds"])

        growing, add_day = _with_one_day_less(path, work)
        grow_store = str(work / "grow-store")
        full_s, incr_s = [], []
        for _ in range(args.repeat):
            loads.append(os.getloadavg()[0])
            shutil.rmtree(grow_store, ignore_errors=True)
            full_s.append(_child("build", path=str(growing), store=grow_store)["seconds"])
            _execute(growing, add_day)  # one new day of events arrives
            incr_s.append(_child("refresh", path=str(growing), store=grow_store)["seconds"])
            _execute(growing, f"DELETE FROM events WHERE timestamp >= TIMESTAMP '{_last_day(path)}'")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = _median(loads)
    print(
        f"\n== rollups: {args.events:,} demo events, medians of {args.repeat}, load average {load:.1f} on {os.cpu_count()} cores =="
    )
    ratio_build = _median(build) / _median(ref)
    ratio_pandas = _median(pandas_s) / _median(library_s)
    ratio_incr = _median(incr_s) / _median(full_s)
    print(f"raw DuckDB sessionisation (reference)   {_median(ref):8.2f} s")
    print(
        f"first full build                        {_median(build):8.2f} s   {ratio_build:5.2f}x the reference   target <= 1.5x   peak {build_peak:.0f} MB"
    )
    print(
        f"refresh --views: every area of every named range answered {_median(publish_s):6.1f} s   (in the background)"
    )
    print(
        f"all sections, {args.time_range}, first reader after the shipped refresh {_median(shipped_section_s):6.2f} s   target < 1 s"
    )
    print(f"all sections, {args.time_range}, every later reader   {_median(warm_section_s):6.2f} s   target < 1 s")
    print(
        f"all sections, {args.time_range}, a question nobody asked yet (computed from the rollups) {_median(section_s):6.2f} s"
    )
    for name, seconds in families.items():
        print(f"    {name:<12}{seconds:8.3f} s")
    print(f"pandas: usage+adoption+funnel, all days {_median(pandas_s):8.2f} s")
    print(
        f"library, same work, first reader        {_median(library_s):8.2f} s   {ratio_pandas:5.1f}x faster   target >= 20x"
    )
    warm_ratio = _median(pandas_s) / _median(warm_library_s)
    print(
        f"library, same work, every later reader  {_median(warm_library_s):8.2f} s   {warm_ratio:5.1f}x faster   target >= 20x"
    )
    print(f"full build without the last day         {_median(full_s):8.2f} s")
    print(
        f"incremental refresh after that day      {_median(incr_s):8.2f} s   {100 * ratio_incr:5.1f}% of a full build   target < 10%"
    )
    print(f"peak RSS of the sections process        {max(s['peak_mb'] for s in sections):8.0f} MB")
    print(f"empty notebook on the project's kernel  {_median(kernel_s):8.2f} s   (the floor of any run)")
    print(f"usage report run, 1M events, first after the shipped refresh {_median(report_s[0]):5.2f} s   target < 5 s")
    print(f"usage report run, 1M events, every later run       {_median(report_s[1]):5.2f} s   target < 5 s")
    print(f"usage report run, 1M events, a question nobody asked yet {_median(report_s[2]):5.2f} s")
    return 0


def _report_runs(work: Path, repeat: int) -> tuple[tuple[list[float], list[float], list[float]], list[float]]:
    """Usage report runs on the 1M demo with its store current, beside an empty kernel run:
    the first run after the shipped refresh (``refresh --views``), the run after it, and a
    run whose questions nobody asked yet (answers removed)."""
    from fawkes_analytics.rollups import refresh_source
    from fawkes_analytics.sources.ibis_source import open_duckdb

    demo = ensure_data(1_000_000, 7)
    refresh_source(open_duckdb(demo), funnels=_catalog_funnels())
    store = demo.with_suffix(".rollups")
    first, later, unasked, kernel_s = [], [], [], []
    for i in range(repeat):
        kernel_s.append(_child("empty_kernel")["seconds"])
        reports = str(work / f"reports-{i}")
        _forget_answers(store)
        _child("publish", path=str(demo), store=str(store), views=str(work / "demo-views"))
        first.append(_child("report_run", path=str(demo), reports=reports)["seconds"])
        later.append(_child("report_run", path=str(demo), reports=reports)["seconds"])
        _forget_answers(store)
        unasked.append(_child("report_run", path=str(demo), reports=reports)["seconds"])
    return (first, later, unasked), kernel_s


def _execute(path: Path, statements: str) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    for statement in statements.split("; "):
        con.execute(statement)
    con.close()


def _last_day(path: Path) -> str:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    value = con.sql("SELECT date_trunc('day', max(timestamp)) FROM events").fetchone()[0]
    con.close()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
