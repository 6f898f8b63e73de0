"""Benchmark of the metric families on demo data (DuckDB): seconds, totals and peak memory.

For each size (default 1 million and 10 million events) the demo generator writes a DuckDB
file once (kept under data/bench/ for later runs), then a fresh process measures, as the
median of ``--repeat`` runs:

- scan: one full scan of the events table (count, distinct users, newest timestamp), the
  yardstick for everything else;
- each metric family "cold" (materialised sessions dropped first, so usage pays for them)
  and "warm" (sessions materialised, as in a run that renders several reports);
- the total of all sections (usage, adoption, segments, retention, lifecycle, feedback and,
  when ``metrics.funnels`` exists, every catalog funnel) cold and warm;
- process CPU seconds of the all-sections passes (all threads), which stay meaningful when
  other work shares the machine, and the load average during the run;
- peak resident memory of the measuring process (ru_maxrss).

Usage: ``.venv/bin/python bench/bench_metrics.py [--events 1000000 10000000] [--repeat 3]``
Targets (2-core machine, 10M events): all sections < 10 s cold, < 3 s warm, < 2 GB.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "bench"
TARGETS = {"cold_s": 10.0, "warm_s": 3.0, "peak_mb": 2048}


def ensure_data(events: int, seed: int) -> Path:
    from fawkes_analytics import demo

    path = DATA / f"demo_{events}_{seed}.duckdb"
    if not path.exists():
        started = time.perf_counter()
        demo.generate(path, events=events, seed=seed, progress=False)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def families(source, cat, tr) -> dict[str, Callable[[], object]]:  # noqa: ANN001
    from fawkes_analytics import metrics

    out: dict[str, Callable[[], object]] = {
        "usage": lambda: metrics.usage_trends(source, tr),
        "adoption": lambda: metrics.feature_adoption(source, cat, tr),
        "segments": lambda: metrics.user_segments(source, cat, tr),
        "retention": lambda: metrics.retention(source, tr, period="week"),
        "lifecycle": lambda: metrics.lifecycle(source, tr, period="week"),
        "feedback": lambda: metrics.feedback_summary(source, tr),
    }
    try:
        from fawkes_analytics.metrics import funnels
    except ImportError:
        return out
    out["funnels"] = lambda: [funnels.funnel_report(source, f, tr) for f in cat.funnels.values()]
    return out


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(path: Path, repeat: int, time_range: str) -> dict[str, object]:
    """Run in a fresh process: every figure for one data file."""
    from fawkes_analytics import catalog, metrics, timerange
    from fawkes_analytics.sources.ibis_source import open_duckdb

    source = open_duckdb(path)
    cat = catalog.load()
    tr = timerange.resolve(time_range, as_of=source.default_as_of())
    events = source.events()
    scan = events.aggregate(n=events.count(), users=events.user_id.nunique(), latest=events.timestamp.max())
    n_events = int(scan.execute()["n"].iloc[0])
    runs = families(source, cat, tr)
    scans, cold, warm = [], {k: [] for k in runs}, {k: [] for k in runs}
    cpu_cold, cpu_warm = [], []
    for _ in range(repeat):
        scans.append(timed(scan.execute))
        metrics.clear_cache()
        cpu = time.process_time()
        for name, fn in runs.items():
            cold[name].append(timed(fn))
        cpu_cold.append(time.process_time() - cpu)
        cpu = time.process_time()
        for name, fn in runs.items():
            warm[name].append(timed(fn))
        cpu_warm.append(time.process_time() - cpu)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med = {k: statistics.median(v) for k, v in cold.items()}
    wmed = {k: statistics.median(v) for k, v in warm.items()}
    return {
        "events": n_events,
        "range": time_range,
        "scan_s": statistics.median(scans),
        "cold_s": med,
        "warm_s": wmed,
        "total_cold_s": statistics.median([sum(v[i] for v in cold.values()) for i in range(repeat)]),
        "total_warm_s": statistics.median([sum(v[i] for v in warm.values()) for i in range(repeat)]),
        "cpu_cold_s": statistics.median(cpu_cold),
        "cpu_warm_s": statistics.median(cpu_warm),
        "load_avg": os.getloadavg()[0],
        "peak_mb": peak_mb,
    }


def report(result: dict[str, object]) -> None:
    print(f"\n== {result['events']:,} events, range {result['range']} (medians) ==")
    print(f"full scan of events: {result['scan_s']:.3f} s")
    print(f"{'family':<12}{'cold s':>10}{'warm s':>10}")
    for name in result["cold_s"]:
        print(f"{name:<12}{result['cold_s'][name]:>10.3f}{result['warm_s'][name]:>10.3f}")
    print(f"{'TOTAL':<12}{result['total_cold_s']:>10.3f}{result['total_warm_s']:>10.3f}")
    print(
        f"{'CPU (all)':<12}{result['cpu_cold_s']:>10.3f}{result['cpu_warm_s']:>10.3f}   (process CPU seconds, all threads)"
    )
    print(f"load average during the run: {result['load_avg']:.1f} (the machine has {os.cpu_count()} cores)")
    print(f"peak memory: {result['peak_mb']:.0f} MB")
    checks = [
        ("cold", result["total_cold_s"], TARGETS["cold_s"]),
        ("warm", result["total_warm_s"], TARGETS["warm_s"]),
        ("memory MB", result["peak_mb"], TARGETS["peak_mb"]),
    ]
    if result["events"] >= 9_000_000:
        print("targets (10M):", ", ".join(f"{n} {v:.1f} {'<' if v < t else '>='} {t:g}" for n, v, t in checks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--range", default="30d", dest="time_range")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: one file, JSON out
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat, args.time_range)))
        return 0
    for n in args.events:
        path = ensure_data(n, args.seed)
        cmd = [
            sys.executable,
            __file__,
            "--measure",
            str(path),
            "--repeat",
            str(args.repeat),
            "--range",
            args.time_range,
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        report(json.loads(out.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
