"""Seconds per funnel report on demo data (DuckDB), median of several runs.

Usage: .venv/bin/python bench/bench_funnels.py [--events 1000000 10000000] [--runs 3] [--range 30d]
Generates the demo files under data/bench/ when missing (fawkes_analytics.demo.generate).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from fawkes_analytics import catalog, demo
from fawkes_analytics.metrics.funnels import funnel_report
from fawkes_analytics.sources.ibis_source import open_duckdb
from fawkes_analytics.timerange import resolve

END = datetime(2026, 11, 30, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--range", default="30d")
    parser.add_argument("--dir", default="data/bench")
    args = parser.parse_args()
    funnels = catalog.load().funnels
    for events in args.events:
        path = Path(args.dir) / f"demo_{events}.duckdb"
        if not path.exists():
            demo.generate(path, events=events, seed=7, end=END, progress=False)
        source = open_duckdb(path)
        span = resolve(args.range, as_of=source.default_as_of())
        source.events().count().execute()  # warm the file cache once
        for name, funnel in funnels.items():
            for breakdown in (None, "source"):
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    funnel_report(source, funnel, span, breakdown=breakdown)
                    times.append(time.perf_counter() - started)
                print(
                    f"{events:>11,} events  {name:<17} breakdown={breakdown!s:<7} median {statistics.median(times):.3f} s"
                )


if __name__ == "__main__":
    main()
