"""Benchmark: demo data generation speed and peak memory (target: < 1 GB at 20 million events).

Each size runs in a fresh child process, so its peak resident memory (ru_maxrss) is that of
the generator alone. Prints the median of ``--runs`` runs per size.

    .venv/bin/python bench/bench_demo.py --events 1000000 20000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from datetime import datetime, timezone
from fawkes_analytics import demo
started = time.perf_counter()
summary = demo.generate(sys.argv[1], events=int(sys.argv[2]), seed=7, end=datetime(2026, 11, 30, tzinfo=timezone.utc), progress=False)
print(json.dumps({"seconds": time.perf_counter() - started, "events": summary.events,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fawkes-bench-") as folder:
        path = Path(folder) / "demo.duckdb"
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(events)], capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["file_mb"] = path.stat().st_size / 1e6
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 20_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'events':>12} {'runs':>4} {'seconds':>9} {'events/s':>10} {'peak MB':>8} {'file MB':>8}")
    for events in args.events:
        runs = [measure(events) for _ in range(args.runs)]
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_mb"] for r in runs)
        print(
            f"{runs[0]['events']:>12,} {len(runs):>4} {seconds:>9.1f} {runs[0]['events'] / seconds:>10,.0f} {peak:>8.0f} {runs[0]['file_mb']:>8.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
