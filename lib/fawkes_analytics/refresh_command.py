"""``fawkes-analytics refresh``: bring the rollup store up to date (the 5-minute schedule runs it).

A command module above both the rollups and the sources (it opens the configured source and
refreshes its store), so that the rollups package never imports the sources package.
"""

from __future__ import annotations

import argparse
import sys


def _cmd_refresh(args: argparse.Namespace) -> int:
    from .rollups import refresh_source
    from .sources import connect

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    source = connect(args.source)
    result = refresh_source(
        source,
        full=args.full,
        wait=args.wait,
        progress=None if args.quiet else progress,
        funnels=_catalog_funnels(),
    )
    print(result.describe())
    if args.views:  # the dashboards' precomputed views, from the fresh rollups (dashboard/precompute.py)
        from .dashboard.precompute import publish_views

        published = publish_views(source, force=args.full, progress=None if args.quiet else progress)
        print(f"dashboard views: {'published ' + published.name if published else 'unchanged (same data)'}")
    return 0


def _catalog_funnels() -> list:
    """The catalog's funnels, for the store to keep their attempts (none when the catalog cannot be read)."""
    from .catalog import load
    from .errors import ConfigError
    from .metrics.funnels import stored_funnels

    try:
        return stored_funnels(load().funnels.values())
    except ConfigError:
        return []


def register_cli(commands: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    from .commands import help_of

    parser = commands.add_parser("refresh", help=help_of("refresh"))
    parser.add_argument("--source", help="source URL (default FAWKES_ANALYTICS_SOURCE or the demo data)")
    parser.add_argument("--full", action="store_true", help="rebuild from the first event instead of incrementally")
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a refresh already running (default 0: give up)"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    parser.add_argument(
        "--views",
        action="store_true",
        help="then publish the dashboards' precomputed views (every range x segment; skipped when the data is unchanged)",
    )
    parser.set_defaults(func=_cmd_refresh)
