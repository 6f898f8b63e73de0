"""The ``schedule`` and ``history`` subcommands (wired into ``fawkes-analytics`` by cli.py)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from .. import settings
from ..errors import ConfigError


def _reports_dir(value: str | None) -> Path:
    return settings.resolve_path(value) if value else settings.reports_dir()


def _state_dir(value: str | None, reports_dir: Path) -> Path:
    return settings.resolve_path(value) if value else settings.state_dir(reports_dir)


def _load_runner(spec: str | None):
    if not spec:
        return None
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"--runner must be 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module), name)


def _configure_logging(level: str) -> None:
    """Log to stderr, every line redacted (sources.base.RedactingFilter)."""
    from ..sources.base import RedactingFilter

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def _exit_code(results) -> int:  # noqa: ANN001
    if any(r.outcome == "interrupted" for r in results):
        return 3
    return 1 if any(not a.succeeded for r in results for a in r.attempts[-1:]) else 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """Run due schedules once (--once), one now (--run-now), check them (--check), or loop until SIGTERM."""
    from .config import load_schedules
    from .due import next_slot

    _configure_logging(args.log_level)
    try:
        schedules = load_schedules(settings.resolve_path(args.dir) if args.dir else settings.schedules_dir())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.run_now:
        args.only = [args.run_now]
    if args.only:
        unknown = set(args.only) - {s.name for s in schedules}
        if unknown:
            print(
                f"error: unknown schedule(s) {', '.join(sorted(unknown))} (have: {', '.join(s.name for s in schedules)})",
                file=sys.stderr,
            )
            return 2
        schedules = [s for s in schedules if s.name in args.only]
    if args.check:
        now = datetime.now(UTC)
        for s in schedules:
            when = next_slot(s, now).astimezone(s.tz).isoformat() if s.enabled else "disabled"
            what = f"command: fawkes-analytics {' '.join([s.command, *s.args])}" if s.command else "reports: "
            print(f"{s.name:28} {s.cron:16} {s.timezone:18} next {when}  {what}{', '.join(s.reports)}")
        return 0
    from .scheduler import Scheduler  # the run and delivery stack: only when something may run

    reports_dir = _reports_dir(args.reports_dir)
    scheduler = Scheduler(
        schedules,
        state_dir=_state_dir(args.state_dir, reports_dir),
        reports_dir=reports_dir,
        runner=_load_runner(args.runner),
        max_concurrent=args.max_concurrent
        if args.max_concurrent is not None
        else settings.integer("MAX_CONCURRENT_RUNS", 2),
        grace=args.grace,
        isolation="inline" if args.inline else "process",
    )
    scheduler.install_signal_handlers()
    if args.once or args.run_now:
        results = scheduler.run_once() if args.once else [scheduler.run_now(schedules[0])]
        for r in results:
            last = r.attempts[-1].status if r.attempts else "-"
            print(f"{r.schedule}: slot {r.slot} {r.outcome} ({last})")
        return _exit_code(results)
    return scheduler.serve()


def cmd_history(args: argparse.Namespace) -> int:
    """List runs, newest first, with status, duration and delivery state."""
    from .history import collect, format_table

    reports_dir = _reports_dir(args.reports_dir)
    rows = collect(
        reports_dir,
        _state_dir(args.state_dir, reports_dir),
        report=args.report,
        schedule=args.schedule,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0


def register_cli(subparsers) -> None:
    """Add ``schedule`` and ``history`` to the ``fawkes-analytics`` argument parser."""
    p = subparsers.add_parser(
        "schedule",
        help="run scheduled reports (a long-running loop, or --once for cron)",
        description="Run the schedules in schedules/*.yaml. Without --once, loops until SIGTERM.",
    )
    p.add_argument(
        "--dir",
        default=None,
        help="folder of schedule YAML files (default: the project's schedules/, or $FAWKES_ANALYTICS_SCHEDULES_DIR)",
    )
    p.add_argument(
        "--reports-dir", help="run folders root (default: the project's reports/, or $FAWKES_ANALYTICS_REPORTS_DIR)"
    )
    p.add_argument(
        "--state-dir",
        help="scheduler state and locks (default: <reports-dir>/.scheduler, or $FAWKES_ANALYTICS_STATE_DIR)",
    )
    p.add_argument(
        "--once", action="store_true", help="run whatever is due now and exit (for system cron or a Kubernetes CronJob)"
    )
    p.add_argument("--check", action="store_true", help="validate the schedule files, print each next slot, and exit")
    p.add_argument(
        "--run-now",
        metavar="NAME",
        help="run this schedule now, outside its cron slots (same locks, retries, emails), and exit",
    )
    p.add_argument("--only", action="append", metavar="NAME", help="consider only this schedule (repeatable)")
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="global limit of simultaneous runs (default 2, or $FAWKES_ANALYTICS_MAX_CONCURRENT_RUNS)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=300.0,
        help="seconds a run may finish after SIGTERM before it is interrupted (default 300)",
    )
    p.add_argument(
        "--inline", action="store_true", help="run reports in this process (no watchdog process; for debugging)"
    )
    p.add_argument("--runner", help=argparse.SUPPRESS)  # module:function, for tests and custom run layers
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (default INFO)",
    )
    p.set_defaults(func=cmd_schedule)

    h = subparsers.add_parser("history", help="list report runs with status, duration and delivery state")
    h.add_argument(
        "--reports-dir", help="run folders root (default: the project's reports/, or $FAWKES_ANALYTICS_REPORTS_DIR)"
    )
    h.add_argument("--state-dir", help="scheduler state folder (default: <reports-dir>/.scheduler)")
    h.add_argument("--report", help="only runs of this report")
    h.add_argument("--schedule", help="only runs started by this schedule")
    h.add_argument("--limit", type=int, default=30, help="how many rows (default 30)")
    h.add_argument("--json", action="store_true", help="print JSON instead of a table")
    h.set_defaults(func=cmd_history)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m fawkes_analytics.schedules.cli``) until cli.py wires it."""
    parser = argparse.ArgumentParser(prog="fawkes-analytics")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
