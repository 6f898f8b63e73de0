"""Seconds per funnel report on demo data (DuckDB), median of several runs, optionally side by side.

Usage: .venv/bin/python bench/bench_funnels.py [--events 1000000 10000000] [--runs 5] [--range 30d]
       [--dir data/bench] [--seed 7] [--fingerprint out.json] [--reference OTHER_LIB_DIR]

Reuses the demo files of bench_metrics.py (``<dir>/demo_<events>_<seed>.duckdb``) and generates
them when missing (fawkes_analytics.demo.generate). Prints, per size, each catalog funnel with and
without a breakdown and the total of the catalog funnels with their own breakdowns (what a
report runs), plus the load average. Besides wall seconds it prints process CPU seconds (all
threads), which stay comparable when other work shares the machine.

``--reference DIR`` measures another version of the library side by side: ``DIR`` is the ``lib``
folder of that version (e.g. ``git worktree add /tmp/ref <commit>`` then ``/tmp/ref/lib``). Each
round runs one fresh process per version, in alternating order, every measurement once after a
warm-up; the table shows the medians over the rounds and the ratio this version / reference
(below 1 is faster), so load from other work hits both versions alike.
``--fingerprint`` writes every result (to_dict) as JSON, to compare the output of two versions.

``--store FILE`` measures the rollup store's funnel attempts instead, on a copy of a DuckDB
demo file (e.g. /work/main/data/demo.duckdb; the original is never written): the first build
of the store with and without the catalog's funnel attempts, an incremental refresh after
one late event with them, then each catalog funnel report read from the stored attempts
and computed from the events (``FAWKES_ANALYTICS_ROLLUPS=off``), alternating, medians of
``--runs``, checking that both give the same result. Without ``--store`` the reports are
computed from the events (``FAWKES_ANALYTICS_ROLLUPS=off``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn) -> tuple[float, float]:  # noqa: ANN001
    started, started_cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - started, _cpu() - started_cpu


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _demo_path(args: argparse.Namespace, events: int) -> Path:
    from fawkes_analytics import demo

    path = Path(args.dir) / f"demo_{events}_{args.seed}.duckdb"
    if not path.exists():
        demo.generate(path, events=events, seed=args.seed, progress=False)
    return path


def _measure(path: Path, range_name: str, runs: int) -> tuple[dict[str, list[tuple[float, float]]], dict]:
    """Every measurement ``runs`` times (after one warm-up): {label: [(wall, cpu), ...]}, results."""
    from fawkes_analytics import catalog
    from fawkes_analytics.metrics.funnels import funnel_report
    from fawkes_analytics.sources.ibis_source import open_duckdb
    from fawkes_analytics.timerange import resolve

    os.environ["FAWKES_ANALYTICS_ROLLUPS"] = "off"  # from the events, whatever store lies beside the file
    funnels = catalog.load().funnels
    source = open_duckdb(path)
    span = resolve(range_name, as_of=source.default_as_of())
    source.events().count().execute()  # warm the file cache once
    times: dict[str, list[tuple[float, float]]] = {}
    results: dict[str, object] = {}
    for name, funnel in funnels.items():
        for breakdown in (None, "source"):
            label = f"{name:<17} breakdown={breakdown!s:<7}"
            results[label] = funnel_report(source, funnel, span, breakdown=breakdown).to_dict()  # warm-up
            times[label] = [
                _timed(lambda f=funnel, b=breakdown: funnel_report(source, f, span, breakdown=b)) for _ in range(runs)
            ]
    label = "all catalog funnels       "
    times[label] = [_timed(lambda: [funnel_report(source, f, span) for f in funnels.values()]) for _ in range(runs)]
    return times, results


def _child(args: argparse.Namespace) -> None:
    times, _ = _measure(Path(args.child), args.range, 1)
    print(json.dumps({label: values[0] for label, values in times.items()}))


def _run_child(lib: str | None, path: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    from fawkes_analytics import catalog

    env = dict(os.environ)
    env.setdefault("FAWKES_ANALYTICS_CATALOG", catalog.load().path)  # both versions read the same catalog
    if lib:
        env["PYTHONPATH"] = lib + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, __file__, "--child", str(path), "--range", args.range]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _side_by_side(args: argparse.Namespace) -> None:
    for events in args.events:
        path = _demo_path(args, events)
        mine: dict[str, list[tuple[float, float]]] = {}
        theirs: dict[str, list[tuple[float, float]]] = {}
        for round_ in range(args.runs):
            pair = [(None, mine), (args.reference, theirs)]
            for lib, into in pair if round_ % 2 == 0 else reversed(pair):
                for label, value in _run_child(lib, path, args).items():
                    into.setdefault(label, []).append(tuple(value))
        print(f"{events:,} events, {args.runs} rounds, load average {_load()}")
        print(
            f"  {'':<42} {'this cpu s':>10} {'ref cpu s':>10} {'ratio':>6}   {'this wall':>9} {'ref wall':>9} {'ratio':>6}"
        )
        for label in mine:
            cpu = statistics.median(c for _, c in mine[label]), statistics.median(c for _, c in theirs[label])
            wall = statistics.median(w for w, _ in mine[label]), statistics.median(w for w, _ in theirs[label])
            print(
                f"  {label:<42} {cpu[0]:>10.3f} {cpu[1]:>10.3f} {cpu[0] / cpu[1]:>6.2f}"
                f"   {wall[0]:>9.3f} {wall[1]:>9.3f} {wall[0] / wall[1]:>6.2f}"
            )


def _store_mode(args: argparse.Namespace) -> None:
    import shutil
    import tempfile

    import duckdb

    from fawkes_analytics import catalog
    from fawkes_analytics.metrics.funnels import funnel_report, stored_attempts, stored_funnels
    from fawkes_analytics.rollups import refresh, store_of
    from fawkes_analytics.rollups.tables import engagement_event, forget
    from fawkes_analytics.sources.ibis_source import open_duckdb
    from fawkes_analytics.timerange import resolve

    folder = Path(tempfile.mkdtemp(prefix="bench-funnel-store-"))
    copy = folder / "demo.duckdb"
    shutil.copy(args.store, copy)
    os.environ["FAWKES_ANALYTICS_ROLLUPS"] = str(folder / "demo.rollups")
    engagement = engagement_event(None)

    def build(funnels: list, full: bool) -> float:
        forget()
        source = open_duckdb(copy)
        wall, _ = _timed(lambda: refresh(source, store_of(source), engagement=engagement, full=full, funnels=funnels))
        return wall

    print(f"{args.store}: load average {_load()}")
    build([], True)  # warm-up: file cache, imports
    print(f"  first build without funnel attempts   {build([], True):8.2f} s")
    print(
        f"  first build with funnel attempts      {build(stored_funnels(catalog.load().funnels.values()), True):8.2f} s"
    )
    forget()
    as_of = open_duckdb(copy).default_as_of()
    con = duckdb.connect(str(copy))
    columns = [row[0] for row in con.execute("DESCRIBE events").fetchall()]
    values = {"event_id": "'bench-late'", "timestamp": f"TIMESTAMP '{as_of.replace(tzinfo=None) - timedelta(days=1)}'"}
    values |= {"user_id": "'bench-user'", "event_name": "'deploy_start'"}
    con.execute(f"INSERT INTO events VALUES ({', '.join(values.get(c, 'NULL') for c in columns)})")
    con.close()
    print(
        f"  incremental refresh (1 late event)    {build(stored_funnels(catalog.load().funnels.values()), False):8.2f} s"
    )

    funnels = catalog.load().funnels
    span = resolve(args.range, as_of=as_of)
    times: dict[str, dict[str, list[float]]] = {name: {"store": [], "events": []} for name in funnels}
    results: dict[str, str] = {}
    for round_ in range(args.runs + 1):  # the first round warms up
        for mode in ("store", "events") if round_ % 2 == 0 else ("events", "store"):
            os.environ["FAWKES_ANALYTICS_ROLLUPS"] = str(folder / "demo.rollups") if mode == "store" else "off"
            forget()
            source = open_duckdb(copy)
            for name, funnel in funnels.items():
                assert (stored_attempts(source, funnel, span, funnel.breakdown) is not None) == (mode == "store")
                started = time.perf_counter()
                result = json.dumps(funnel_report(source, funnel, span).to_dict(), sort_keys=True, default=str)
                wall = time.perf_counter() - started
                results.setdefault(name, result)
                assert result == results[name], f"{name}: the store and the events disagree"
                if round_:
                    times[name][mode].append(wall)
    print(f"  funnel report, {args.range}, {args.runs} rounds, load average {_load()}")
    print(f"  {'':<18} {'store s':>8} {'events s':>9} {'ratio':>6}")
    for name, measured in times.items():
        store, events = statistics.median(measured["store"]), statistics.median(measured["events"])
        print(f"  {name:<18} {store:>8.3f} {events:>9.3f} {store / events:>6.2f}")
    shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--range", default="30d")
    parser.add_argument("--dir", default="data/bench")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fingerprint", help="write every result (to_dict) as JSON to this file")
    parser.add_argument("--reference", help="lib folder of another version to measure side by side")
    parser.add_argument("--store", help="a DuckDB demo file: measure funnel reports from the rollup store (on a copy)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if args.store:
        _store_mode(args)
        return
    if args.reference:
        _side_by_side(args)
        return
    fingerprint: dict[str, object] = {}
    for events in args.events:
        times, results = _measure(_demo_path(args, events), args.range, args.runs)
        fingerprint |= {
            f"{events}/{label.split()[0]}/{label.split('=')[-1].strip()}": r for label, r in results.items()
        }
        for label, values in times.items():
            wall, cpu = statistics.median(w for w, _ in values), statistics.median(c for _, c in values)
            print(f"{events:>11,} events  {label} median {wall:.3f} s (cpu {cpu:.3f} s)")
        print(f"{events:>11,} events  load average {_load()}")
    if args.fingerprint:
        Path(args.fingerprint).write_text(json.dumps(fingerprint, sort_keys=True, default=str, indent=1))


if __name__ == "__main__":
    main()
