"""The sub-commands of ``fawkes-analytics``: which module adds each one, and its one-line help.

The command line imports a command's module only when that command runs; this table is all it
needs for ``--help``. The scheduler checks ``command:`` jobs against it. A module that adds
commands (``register_cli``) takes their help from here, so the two never disagree.
"""

from __future__ import annotations

# command -> (module whose register_cli adds it, the one line `--help` shows for it)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo-data": ("fawkes_analytics.cli", "generate the deterministic demo data set into DuckDB"),
    "new-report": ("fawkes_analytics.scaffold", "create a report notebook, its test and a schedule stub"),
    "run": ("fawkes_analytics.cli", "run one report into a new run folder"),
    "run-all": ("fawkes_analytics.cli", "run every report notebook"),
    "rerun": ("fawkes_analytics.reproduce", "run a published run again: same parameters, same data range"),
    "diff": ("fawkes_analytics.reproduce", "list the KPIs and table cells that differ between two runs"),
    "list": ("fawkes_analytics.cli", "list reports, their parameters and latest runs"),
    "prune": (
        "fawkes_analytics.cli",
        "remove old run folders by each report's retention policy (latest and pending kept)",
    ),
    "check": ("fawkes_analytics.selfcheck", "check this deployment's configuration, one line per check"),
    "refresh": ("fawkes_analytics.refresh_command", "bring the rollup store up to date with the source (incremental)"),
    "schedule": ("fawkes_analytics.schedules.cli", "run scheduled reports (a long-running loop, or --once for cron)"),
    "history": ("fawkes_analytics.schedules.cli", "list report runs with status, duration and delivery state"),
    "send": (
        "fawkes_analytics.delivery.cli",
        "resend a published run's report email (to addresses, or to its unconfirmed recipients)",
    ),
    "email-test": (
        "fawkes_analytics.delivery.cli",
        "send a test message to check the FAWKES_ANALYTICS_SMTP_* settings",
    ),
    "metrics": (
        "fawkes_analytics.export.prometheus",
        "compute the analytics metrics and print the Prometheus exposition",
    ),
    "serve": (
        "fawkes_analytics.serve",
        "serve the Voilà dashboards (sources hidden, token auth off loopback, idle kernels culled)",
    ),
    "import-logs": (
        "fawkes_analytics.sources.access_log",
        "import an Apache/nginx combined access log as pageview events",
    ),
    "refresh-cache": (
        "fawkes_analytics.sources.cache_cli",
        "make the next run fetch fresh data from HTTP sources (Plausible, services)",
    ),
}


def help_of(name: str) -> str:
    """The one-line help of command ``name``."""
    return COMMANDS[name][1]


def positive_seconds(text: str) -> float:
    """argparse type of timeouts: a number of seconds greater than 0 (0 would mean none)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def positive_int(text: str) -> int:
    """argparse type of counts such as ``--jobs``: a whole number of at least 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def default_jobs() -> int:
    """How many reports ``run-all`` runs at once: one per CPU, at most 4 (each kernel takes ~0.4 GB)."""
    import os

    return max(1, min(4, os.cpu_count() or 1))
