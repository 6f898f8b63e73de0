"""Seconds per funnel report on demo data (DuckDB), median of several runs.

Usage: .venv/bin/python bench/bench_funnels.py [--events 1000000 10000000] [--runs 3] [--range 30d]
       [--dir data/bench] [--seed 7] [--fingerprint out.json]
Reuses the demo files of bench_metrics.py (``<dir>/demo_<events>_<seed>.duckdb``) and generates
them when missing (fawkes_analytics.demo.generate). Prints, per size, each funnel with and
without a breakdown and the total of the catalog funnels with their own breakdowns (what a
report runs), plus the load average. Besides wall seconds it prints process CPU seconds (all
threads), which stay comparable when other work shares the machine. ``--fingerprint`` writes every result as JSON, so two
versions of the code can be compared for identical output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

from fawkes_analytics import catalog, demo
from fawkes_analytics.metrics.funnels import funnel_report
from fawkes_analytics.sources.ibis_source import open_duckdb
from fawkes_analytics.timerange import resolve


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _median_seconds(fn, runs: int) -> tuple[float, float]:  # noqa: ANN001
    """Median wall seconds and median process CPU seconds (all threads) of ``runs`` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), _cpu()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(_cpu() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--range", default="30d")
    parser.add_argument("--dir", default="data/bench")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fingerprint", help="write every result (to_dict) as JSON to this file")
    args = parser.parse_args()
    funnels = catalog.load().funnels
    results: dict[str, object] = {}
    for events in args.events:
        path = Path(args.dir) / f"demo_{events}_{args.seed}.duckdb"
        if not path.exists():
            demo.generate(path, events=events, seed=args.seed, progress=False)
        source = open_duckdb(path)
        span = resolve(args.range, as_of=source.default_as_of())
        source.events().count().execute()  # warm the file cache once
        for name, funnel in funnels.items():
            for breakdown in (None, "source"):
                results[f"{events}/{name}/{breakdown}"] = funnel_report(
                    source, funnel, span, breakdown=breakdown
                ).to_dict()
                seconds, cpu = _median_seconds(
                    lambda s=source, f=funnel, r=span, b=breakdown: funnel_report(s, f, r, breakdown=b), args.runs
                )
                print(
                    f"{events:>11,} events  {name:<17} breakdown={breakdown!s:<7} median {seconds:.3f} s (cpu {cpu:.3f} s)"
                )
        total, cpu = _median_seconds(lambda: [funnel_report(source, f, span) for f in funnels.values()], args.runs)  # noqa: B023
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"{events:>11,} events  all catalog funnels        median {total:.3f} s (cpu {cpu:.3f} s)   (load average {load})"
        )
    if args.fingerprint:
        Path(args.fingerprint).write_text(json.dumps(results, sort_keys=True, default=str, indent=1))


if __name__ == "__main__":
    main()
