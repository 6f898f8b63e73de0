"""The ``fawkes-analytics`` command.

Each sub-command lives in the module that does its job (:data:`COMMANDS`); that module adds
its arguments through ``register_cli(subparsers)`` and is imported only when its command
runs. ``fawkes-analytics --help`` lists the commands from the table below without importing
any of them, so the command line starts in a fraction of a second and never pays for pandas,
Ibis, matplotlib or IPython unless the command computes something (bench/bench_startup.py).

Every command fails the same way: one ``error: ...`` line on stderr (secrets redacted), no
traceback, exit code 2. Ctrl-C or SIGTERM during ``run``/``run-all`` stops the kernel, records
the run as cancelled and exits with 128 + the signal number (130, 143).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import settings
from .commands import COMMANDS, default_jobs, help_of, positive_int, positive_seconds
from .errors import FawkesError, ParameterError

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

    end = None
    if args.end:
        from datetime import datetime

        end = datetime.fromisoformat(args.end.replace("Z", "+00:00"))
    output = settings.resolve_path(args.output) if args.output else settings.DEFAULT_DEMO_PATH
    summary = demo.generate(output, events=args.events, seed=args.seed, days=args.days, end=end)
    print(
        f"wrote {summary.events:,} demo events of {summary.users:,} users, {summary.assignments:,} assignments and "
        f"{summary.feedback:,} NPS answers ({summary.start:%Y-%m-%d} to {summary.end:%Y-%m-%d}) to {summary.path}"
    )
    return 0


def reports_root(value: Path | str | None) -> Path:
    """``--reports-dir`` (relative to where the command ran), else the configured reports folder."""
    return settings.resolve_path(value) if value else settings.reports_dir()


def prune_report(report: str, reports_dir: Path | None) -> list[Path]:
    """Apply the report's retention policy after a manual run (scheduled runs: see the scheduler)."""
    from . import catalog, retention
    from .schedules.scheduler import pending_run_dirs

    root = reports_root(reports_dir)
    policy = catalog.report_retention(report)
    return retention.prune(
        root / report,
        policy,
        protect=pending_run_dirs(settings.state_dir(root)),
        select=retention.not_under_a_schedule_policy,
    )


def print_record(record: Any, index: str = "") -> None:
    """One line about a finished run (and its error on stderr)."""
    print(f"{index}{record.summary()}")
    if record.error:
        print(f"    error: {record.error}", file=sys.stderr)


def _print_run_help(parser: argparse.ArgumentParser, report: str | None) -> int:
    parser.print_help()
    if report:
        from . import parameters
        from .runs import notebook_path

        print(f"\nparameters of {report} (-p NAME=VALUE):")
        print(parameters.describe(parameters.declared(notebook_path(report)), indent="  "))
    else:
        print("\n`fawkes-analytics run REPORT --help` lists the parameters of REPORT.")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    if args.help:
        return _print_run_help(args.parser, args.report)
    if not args.report:
        args.parser.error("the following arguments are required: report")
    from .process import StopOnSignal
    from .runs import run_report

    with StopOnSignal() as stop:
        record = run_report(
            args.report,
            _parse_assignments(args.param),
            timeout=args.timeout,
            cell_timeout=args.cell_timeout,
            outputs=tuple(args.outputs.split(",")),
            reports_dir=reports_root(args.reports_dir),
            stop=stop.event,
        )
        if stop.received:
            print(f"cancelled by {stop.name}: the run is recorded as cancelled in {record.run_dir}", file=sys.stderr)
            return stop.exit_code
    print_record(record)
    prune_report(args.report, args.reports_dir)
    return 0 if record.succeeded else 1


def _cmd_run_all(args: argparse.Namespace) -> int:
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from .process import StopOnSignal
    from .runs import available_reports, run_report

    known = available_reports()
    ordered = [r for r in DEFAULT_REPORTS if r in known] + [r for r in known if r not in DEFAULT_REPORTS]
    reports = [r for r in ordered if r not in args.skip]
    params = _parse_assignments(args.param) if args.param else None
    printing = threading.Lock()  # one line at a time from the jobs
    failed = 0
    with StopOnSignal() as stop, ThreadPoolExecutor(max_workers=args.jobs) as pool:

        def run(i: int, report: str) -> Any:
            if stop.event.is_set():
                return None  # cancelled before it started
            with printing:
                print(f"[{i}/{len(reports)}] running {report} ...", flush=True)
            return run_report(
                report,
                params,
                timeout=args.timeout,
                outputs=tuple(args.outputs.split(",")),
                reports_dir=reports_root(args.reports_dir),
                stop=stop.event,
            )

        # Each report runs in its own kernel process: ``--jobs`` of them at a time.
        running = {pool.submit(run, i, report): report for i, report in enumerate(reports, 1)}
        for done in as_completed(running):
            record, report = done.result(), running[done]
            if record is None:
                continue
            with printing:
                print_record(record, "    ")
            prune_report(report, args.reports_dir)
            failed += not record.succeeded
    if stop.received:
        print(f"cancelled by {stop.name}: unfinished reports are recorded as cancelled", file=sys.stderr)
        return stop.exit_code
    print(f"{len(reports) - failed} of {len(reports)} reports published" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from . import catalog, retention
    from .runs import available_reports
    from .schedules.scheduler import pending_run_dirs

    root = reports_root(args.reports_dir)
    protect = pending_run_dirs(settings.state_dir(root))
    for report in args.report or available_reports():
        policy = catalog.report_retention(report)
        removed = retention.prune(
            root / report,
            policy,
            protect=protect,
            select=retention.not_under_a_schedule_policy,
            dry_run=args.dry_run,
        )
        verb = "would remove" if args.dry_run else "removed"
        print(f"{report}: {policy.describe()}; {verb} {len(removed)} run(s)")
        for run_dir in removed:
            print(f"    {run_dir.name}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from . import catalog, parameters
    from .runs import available_reports, latest_run, notebook_path

    root = reports_root(args.reports_dir)
    definitions = catalog.load()
    for report in available_reports():
        declared = parameters.declared(notebook_path(report))
        latest = latest_run(report, root)
        print(report)
        print(f"    latest: {latest or 'never run'}")
        print("    parameters:")
        print(parameters.describe(declared, definitions, indent="      "))
    return 0


def register_cli(commands: argparse._SubParsersAction) -> None:
    """The core commands: demo-data, run, run-all, list, prune."""
    demo = commands.add_parser("demo-data", help=help_of("demo-data"))
    demo.add_argument(
        "--events", type=int, default=1_000_000, help="about how many events to generate (default 1,000,000)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same data (default 7)")
    demo.add_argument("--days", type=int, default=180, help="days of history (default 180)")
    demo.add_argument("--end", help="newest moment of the data, ISO 8601 (default: now)")
    demo.add_argument("--output", type=Path, help="DuckDB file to write (default data/demo.duckdb)")
    demo.set_defaults(func=_cmd_demo_data)

    run = commands.add_parser("run", help=help_of("run"), add_help=False)
    run.add_argument("report", nargs="?", help="report name (see `fawkes-analytics list`)")
    run.add_argument("-h", "--help", action="store_true", help="show this help and the parameters of REPORT")
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
    run.set_defaults(func=_cmd_run, parser=run)

    run_all = commands.add_parser("run-all", help=help_of("run-all"))
    run_all.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="parameter for every report"
    )
    run_all.add_argument("--timeout", type=positive_seconds, default=1800, help="overall timeout per report in seconds")
    run_all.add_argument("--outputs", default="html,csv,json", help="comma-separated: html,pdf,csv,json")
    run_all.add_argument("--skip", action="append", default=["metrics_export"], help="report to skip (repeatable)")
    run_all.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    run_all.add_argument(
        "--jobs",
        type=positive_int,
        default=default_jobs(),
        help="reports run at the same time, each in its own kernel (default: the CPU count, at most 4)",
    )
    run_all.set_defaults(func=_cmd_run_all)

    listing = commands.add_parser("list", help=help_of("list"))
    listing.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    listing.set_defaults(func=_cmd_list)

    prune = commands.add_parser("prune", help=help_of("prune"))
    prune.add_argument("--report", action="append", help="only this report (repeatable; default all)")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    prune.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    prune.set_defaults(func=_cmd_prune)


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is one), if any."""
    return next((word for word in argv if word in COMMANDS), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser. With ``argv``, only the module of the command it names is imported
    (the others get a stand-in that only knows its help line); without, every command is
    complete (tests, ``command_names``)."""
    parser = argparse.ArgumentParser(
        prog="fawkes-analytics", description="Product analytics reports for the Fawkes platform."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if argv is None:
        modules = list(dict.fromkeys(module for module, _ in COMMANDS.values()))
    else:
        chosen = _chosen_command(argv)
        modules = [COMMANDS[chosen][0]] if chosen else []
    for module in modules:
        importlib.import_module(module).register_cli(commands)
    for name, (_, help_text) in COMMANDS.items():
        if name not in commands.choices:  # a stand-in: enough for `--help` to list it
            commands.add_parser(name, help=help_text, add_help=False)
    return parser


def command_names() -> tuple[str, ...]:
    """Every sub-command of ``fawkes-analytics`` (a schedule may run most of them as a job)."""
    return tuple(COMMANDS)


def main(argv: list[str] | None = None) -> int:
    from .process import die_with_parent
    from .sources.base import redact_text

    warnings.simplefilter("default", settings.DeprecatedSetting)  # old variable names: say so once
    parent = settings.get("PARENT_PID")
    if parent.isdigit():  # a scheduler job: die with the scheduler
        die_with_parent(parent_pid=int(parent))
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(argv)
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
