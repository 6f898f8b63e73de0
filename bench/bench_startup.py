"""Benchmark: start-up time of the light commands (target: each under 0.5 s on this machine).

Each command runs as a fresh process (as a user or cron starts it), ``--runs`` times, the
commands interleaved so that a burst of load on the shared machine hits them alike. Printed:
the median wall time and the median CPU time (user + system, less affected by other load),
next to the target and to the reference run beside them: ``python -c pass``, the interpreter
alone. The load average is printed before and after.

The children run without ``PYTHONDONTWRITEBYTECODE`` (some sandboxes set it): a user's
interpreter keeps compiled modules (.pyc), and a first warm-up run writes them.

    .venv/bin/python bench/bench_startup.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.5
CLI = [sys.executable, "-m", "fawkes_analytics.cli"]
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def commands(folder: Path) -> dict[str, list[str]]:
    """The commands issue 15 names, with a schedule that has nothing due and a bad parameter."""
    schedules, reports = folder / "schedules", folder / "reports"
    schedules.mkdir()
    (schedules / "yearly.yaml").write_text('name: yearly\ncron: "0 6 1 1 *"\ntimezone: UTC\nreport: usage_trends\n')
    (reports / ".scheduler").mkdir(parents=True)
    (reports / ".scheduler" / "yearly.state.json").write_text(json.dumps({"last_slot": "2099-01-01T06:00:00+00:00"}))
    return {
        "python -c pass (reference)": [sys.executable, "-c", "pass"],
        "fawkes-analytics --help": [*CLI, "--help"],
        "fawkes-analytics list": [*CLI, "list"],
        "fawkes-analytics history": [*CLI, "history", "--reports-dir", str(reports)],
        "fawkes-analytics schedule --check": [*CLI, "schedule", "--check", "--dir", str(schedules)],
        "fawkes-analytics schedule --once (nothing due)": [
            *CLI,
            "schedule",
            "--once",
            "--dir",
            str(schedules),
            "--reports-dir",
            str(reports),
        ],
        "fawkes-analytics run usage_trends -p time_range=2y (refused)": [
            *CLI,
            "run",
            "usage_trends",
            "-p",
            "time_range=2y",
        ],
    }


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fawkes-bench-startup-") as folder:
        table = commands(Path(folder))
        for argv in table.values():  # warm the file cache and the .pyc files once
            run_once(argv)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
        walls: dict[str, list[float]] = {name: [] for name in table}
        cpus: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(args.runs):
            for name, argv in table.items():
                wall, cpu = run_once(argv)
                walls[name].append(wall)
                cpus[name].append(cpu)
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    reference = statistics.median(walls["python -c pass (reference)"])
    print(f"\nmedian of {args.runs} runs; target {TARGET_SECONDS:.1f} s wall per command\n")
    print(f"{'command':62} {'wall s':>7} {'cpu s':>7} {'vs python':>10}  target")
    for name in table:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        verdict = "" if name.endswith("(reference)") else ("ok" if wall < TARGET_SECONDS else "OVER")
        print(f"{name:62} {wall:7.3f} {cpu:7.3f} {wall / reference:9.1f}x  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
