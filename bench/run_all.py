"""Run every benchmark under bench/ in turn (``make bench``); each prints its own table.

Benchmarks measure, they never assert: targets are printed next to the figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = (
    "bench_startup.py",
    "bench_demo.py",
    "bench_metrics.py",
    "bench_rollups.py",
    "bench_funnels.py",
    "bench_voila.py",
    "bench_api.py",
    "bench_anomalies.py",
)


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
