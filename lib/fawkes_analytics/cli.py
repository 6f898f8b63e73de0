"""The ``fawkes-analytics`` command.

Core commands live here (demo-data, run, run-all, list); the scheduler, server, metrics and
importers add theirs through ``register_cli(subparsers)`` in their own modules.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .errors import FawkesError, ParameterError

# Modules that add sub-commands of their own (imported when the CLI starts).
COMMAND_MODULES: tuple[str, ...] = (
    "fawkes_analytics.export.prometheus",  # metrics
    "fawkes_analytics.rollups.cli",  # refresh
    "fawkes_analytics.schedules.cli",  # schedule, history
    "fawkes_analytics.serve",  # serve
    "fawkes_analytics.sources.access_log",  # import-logs
    "fawkes_analytics.sources.http",  # refresh-cache
)

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
    from .runs import run_report

    record = run_report(
        args.report,
        _parse_assignments(args.param),
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        outputs=tuple(args.outputs.split(",")),
        reports_dir=args.reports_dir,
    )
    _print_record(record)
    return 0 if record.succeeded else 1


def _cmd_run_all(args: argparse.Namespace) -> int:
    from .runs import available_reports, run_report

    known = available_reports()
    ordered = [r for r in DEFAULT_REPORTS if r in known] + [r for r in known if r not in DEFAULT_REPORTS]
    reports = [r for r in ordered if r not in args.skip]
    failed = 0
    for i, report in enumerate(reports, 1):
        print(f"[{i}/{len(reports)}] running {report} ...", flush=True)
        record = run_report(
            report,
            _parse_assignments(args.param) if args.param else None,
            timeout=args.timeout,
            outputs=tuple(args.outputs.split(",")),
            reports_dir=args.reports_dir,
        )
        _print_record(record, "    ")
        failed += not record.succeeded
    print(f"{len(reports) - failed} of {len(reports)} reports published" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


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
        "--timeout", type=float, default=1800, help="overall timeout in seconds; a hung kernel is killed (default 1800)"
    )
    run.add_argument("--cell-timeout", type=float, default=600, help="timeout per cell in seconds (default 600)")
    run.add_argument(
        "--outputs", default="html,csv,json", help="comma-separated: html,pdf,csv,json (default html,csv,json)"
    )
    run.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    run.set_defaults(func=_cmd_run)

    run_all = commands.add_parser("run-all", help="run every report notebook")
    run_all.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="parameter for every report"
    )
    run_all.add_argument("--timeout", type=float, default=1800, help="overall timeout per report in seconds")
    run_all.add_argument("--outputs", default="html,csv,json", help="comma-separated: html,pdf,csv,json")
    run_all.add_argument("--skip", action="append", default=["metrics_export"], help="report to skip (repeatable)")
    run_all.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    run_all.set_defaults(func=_cmd_run_all)

    listing = commands.add_parser("list", help="list reports, their parameters and latest runs")
    listing.add_argument("--reports-dir", type=Path, help="where run folders go (default reports/)")
    listing.set_defaults(func=_cmd_list)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register_cli(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FawkesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
