"""The ``fawkes-analytics`` command.

Core commands live here (demo-data, run, run-all, list, prune); the scheduler, server,
metrics, delivery and importers add theirs through ``register_cli(subparsers)`` in their own
modules.

Every command fails the same way: one ``error: ...`` line on stderr (secrets redacted), no
traceback, exit code 2. Ctrl-C or SIGTERM during ``run``/``run-all`` stops the kernel, records
the run as cancelled and exits with 128 + the signal number (130, 143).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from .errors import FawkesError, ParameterError

# Modules that add sub-commands of their own (imported when the CLI starts).
COMMAND_MODULES: tuple[str, ...] = (
    "fawkes_analytics.export.prometheus",  # metrics
    "fawkes_analytics.rollups.cli",  # refresh
    "fawkes_analytics.schedules.cli",  # schedule, history
    "fawkes_analytics.delivery.cli",  # send, email-test
    "fawkes_analytics.serve",  # serve
    "fawkes_analytics.sources.access_log",  # import-logs
    "fawkes_analytics.sources.http",  # refresh-cache
)

PARENT_PID_ENV = "FAWKES_PARENT_PID"  # set by the scheduler for command jobs
DEFAULT_REPORTS = ("usage_trends", "feature_adoption", "experiment_results", "user_segments", "funnels", "overview")


def _parse_assignments(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ParameterError(pair, "expected name=value")
        params[name.strip()] = value
    return params


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from . import demo
    from .sources import DEFAULT_DEMO_PATH

    end = None
    if args.end:
        from datetime import datetime

        end = datetime.fromisoformat(args.end.replace("Z", "+00:00"))
    summary = demo.generate(
        Path(args.output or DEFAULT_DEMO_PATH), events=args.events, seed=args.seed, days=args.days, end=end
    )
    print(
        f"wrote {summary.events:,} demo events of {summary.users:,} users, {summary.assignments:,} assignments and "
        f"{summary.feedback:,} NPS answers ({summary.start:%Y-%m-%d} to {summary.end:%Y-%m-%d}) to {summary.path}"
    )
    return 0


def positive_seconds(text: str) -> float:
    """argparse type of timeouts: a number of seconds greater than 0 (0 would mean none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def prune_report(report: str, reports_dir: Path | None) -> list[Path]:
    """Apply the report's retention policy after a manual run (scheduled runs: see the scheduler)."""
    from . import retention
    from .runs import default_reports_dir
    from .schedules.cli import _state_dir
    from .schedules.scheduler import pending_run_dirs

    root = Path(reports_dir or default_reports_dir())
    policy = retention.report_policy(report)
    return retention.prune(
        root / report,
        policy,
        protect=pending_run_dirs(_state_dir(None, root)),
        select=retention.not_under_a_schedule_policy,
    )


def _print_record(record, index: str = "") -> None:  # noqa: ANN001
    status = "ok" if record.succeeded else record.status.upper()
    where = (
        Path(record.run_dir) / "report.html"
        if (Path(record.run_dir) / "report.html").exists()
        else Path(record.run_dir)
    )
    print(f"{index}{record.report}: {status} in {record.duration_seconds:.1f} s -> {where}")
    if record.error:
        print(f"    error: {record.error}", file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    from .process import StopOnSignal
    from .runs import run_report

    with StopOnSignal() as stop:
        record = run_report(
            args.report,
            _parse_assignments(args.param),
            timeout=args.timeout,
            cell_timeout=args.cell_timeout,
            outputs=tuple(args.outputs.split(",")),
            reports_dir=args.reports_dir,
            stop=stop.event,
        )
        if stop.received:
            print(f"cancelled by {stop.name}: the run is recorded as cancelled in {record.run_dir}", file=sys.stderr)
            return stop.exit_code
    _print_record(record)
    prune_report(args.report, args.reports_dir)
    return 0 if record.succeeded else 1


def _cmd_run_all(args: argparse.Namespace) -> int:
    from .process import StopOnSignal
    from .runs import available_reports, run_report

    known = available_reports()
    ordered = [r for r in DEFAULT_REPORTS if r in known] + [r for r in known if r not in DEFAULT_REPORTS]
    reports = [r for r in ordered if r not in args.skip]
    failed = 0
    with StopOnSignal() as stop:
        for i, report in enumerate(reports, 1):
            print(f"[{i}/{len(reports)}] running {report} ...", flush=True)
            record = run_report(
                report,
                _parse_assignments(args.param) if args.param else None,
                timeout=args.timeout,
                outputs=tuple(args.outputs.split(",")),
                reports_dir=args.reports_dir,
                stop=stop.event,
            )
            if stop.received:
                print(
                    f"cancelled by {stop.name}: {report} is recorded as cancelled in {record.run_dir}; "
                    f"{len(reports) - i} report(s) not run",
                    file=sys.stderr,
                )
                return stop.exit_code
            _print_record(record, "    ")
            prune_report(report, args.reports_dir)
            failed += not record.succeeded
    print(f"{len(reports) - failed} of {len(reports)} reports published" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from . import retention
    from .runs import available_reports, default_reports_dir
    from .schedules.cli import _state_dir
    from .schedules.scheduler import pending_run_dirs

    root = Path(args.reports_dir or default_reports_dir())
    protect = pending_run_dirs(_state_dir(None, root))
    total = 0
    for report in args.report or available_reports():
        policy = retention.report_policy(report)
        removed = retention.prune(
            root / report,
            policy,
            protect=protect,
            select=retention.not_under_a_schedule_policy,
            dry_run=args.dry_run,
        )
        total += len(removed)
        verb = "would remove" if args.dry_run else "removed"
        print(f"{report}: {policy.describe()}; {verb} {len(removed)} run(s)")
        for run_dir in removed:
            print(f"    {run_dir.name}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from . import parameters
    from .runs import available_reports, latest_run, notebook_path

    for report in available_reports():
        declared = parameters.declared(notebook_path(report))
        latest = latest_run(report, args.reports_dir)
        params = ", ".join(f"{name}={info['default']!r}" for name, info in declared.items())
        print(f"{report}\n    parameters: {params}\n    latest: {latest or 'never run'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fawkes-analytics", description="Product analytics reports for the Fawkes platform."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo-data", help="generate the deterministic demo data set into DuckDB")
    demo.add_argument(
        "--events", type=int, default=1_000_000, help="about how many events to generate (default 1,000,000)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same data (default 7)")
    demo.add_argument("--days", type=int, default=180, help="days of history (default 180)")
    demo.add_argument("--end", help="newest moment of the data, ISO 8601 (default: now)")
    demo.add_argument("--output", type=Path, help="DuckDB file to write (default data/demo.duckdb)")
    demo.set_defaults(func=_cmd_demo_data)

    run = commands.add_parser("run", help="run one report into a new run folder")
    run.add_argument("report", help="report name (see `fawkes-analytics list`)")
    run.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="report parameter (repeatable)"
    )
    run.add_argument(
        "--timeout",
        type=positive_seconds,
        default=1800,
        help="overall timeout in seconds; a hung kernel is killed (default 1800)",
    )
    run.add_argument(
        "--cell-timeout", type=positive_seconds, default=600, help="timeout per cell in seconds (default 600)"
    )
    run.add_argument(
        "--outputs", default="html,csv,json", help="comma-separated: html,pdf,csv,json (default html,csv,json)"
    )
    run.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    run.set_defaults(func=_cmd_run)

    run_all = commands.add_parser("run-all", help="run every report notebook")
    run_all.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="parameter for every report"
    )
    run_all.add_argument("--timeout", type=positive_seconds, default=1800, help="overall timeout per report in seconds")
    run_all.add_argument("--outputs", default="html,csv,json", help="comma-separated: html,pdf,csv,json")
    run_all.add_argument("--skip", action="append", default=["metrics_export"], help="report to skip (repeatable)")
    run_all.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    run_all.set_defaults(func=_cmd_run_all)

    listing = commands.add_parser("list", help="list reports, their parameters and latest runs")
    listing.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    listing.set_defaults(func=_cmd_list)

    prune = commands.add_parser(
        "prune", help="remove old run folders by each report's retention policy (latest and pending kept)"
    )
    prune.add_argument("--report", action="append", help="only this report (repeatable; default all)")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    prune.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    prune.set_defaults(func=_cmd_prune)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register_cli(commands)
    return parser


def command_names() -> tuple[str, ...]:
    """Every sub-command of ``fawkes-analytics`` (a schedule may run most of them as a job)."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return tuple(commands.choices)


def main(argv: list[str] | None = None) -> int:
    from .process import die_with_parent
    from .sources.base import redact_text

    if os.environ.get(PARENT_PID_ENV, "").isdigit():  # a scheduler job: die with the scheduler
        die_with_parent(parent_pid=int(os.environ[PARENT_PID_ENV]))
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except FawkesError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
