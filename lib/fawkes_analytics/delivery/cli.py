"""The ``send`` and ``email-test`` commands (wired into ``fawkes-analytics`` by cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import settings


def _reports_dir(value: str | None) -> Path:
    return settings.resolve_path(value) if value else settings.reports_dir()


def cmd_send(args: argparse.Namespace) -> int:
    """Resend a published run's report email."""
    from ..runs import find_run
    from .operator import resend

    run_dir = find_run(args.run, _reports_dir(args.reports_dir))
    result = resend(run_dir, to=args.to or (), unconfirmed=args.unconfirmed, attach=args.attach or ())
    for recipient in result.sent:
        print(f"sent {run_dir.parent.name}/{run_dir.name} to {recipient}")
    for recipient, why in result.refused.items():
        print(f"refused by the server for {recipient}: {why}")
    return 1 if result.refused else 0


def cmd_email_test(args: argparse.Namespace) -> int:
    """Send a test message with the SMTP settings of the environment."""
    from .operator import email_test

    where = email_test(args.to)
    print(f"test message sent to {', '.join(args.to)} through {where}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``send`` and ``email-test`` to the ``fawkes-analytics`` argument parser."""
    send = subparsers.add_parser(
        "send",
        help="resend a published run's report email (to addresses, or to its unconfirmed recipients)",
        description="Resend the report email of a published run. Each send is a new message, recorded in run.json.",
    )
    send.add_argument("run", help="REPORT/RUN_ID (as `history` shows it), a run id, or the run folder")
    send.add_argument("--to", action="append", metavar="ADDRESS", help="recipient (repeatable)")
    send.add_argument(
        "--unconfirmed",
        action="store_true",
        help="also send to every recipient whose earlier delivery is 'unconfirmed' (never resent automatically)",
    )
    send.add_argument("--attach", action="append", choices=("pdf", "csv", "json", "html"), help="attach this output")
    send.add_argument(
        "--reports-dir",
        default=None,
        help="run folders root (default: the project's reports/, or $FAWKES_ANALYTICS_REPORTS_DIR)",
    )
    send.set_defaults(func=cmd_send)

    test = subparsers.add_parser(
        "email-test",
        help="send a test message to check the FAWKES_ANALYTICS_SMTP_* settings",
        description="Connect, log in and send one short message with the SMTP settings of the environment.",
    )
    test.add_argument("--to", action="append", required=True, metavar="ADDRESS", help="recipient (repeatable)")
    test.set_defaults(func=cmd_email_test)
