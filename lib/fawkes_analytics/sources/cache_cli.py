"""The ``refresh-cache`` command: expire cached HTTP answers so the next run asks the sources again."""

from __future__ import annotations

from typing import Any

from .base import redact_url
from .http import CACHE_ENV_VAR, ResponseCache


def _run_refresh(args: Any) -> int:
    prefix = args.source or ""
    if prefix.startswith("plausible"):
        from .plausible import parse_url

        prefix = parse_url(prefix)[0]
    cache = ResponseCache(args.cache_dir)
    count = cache.expire(prefix)
    print(f"expired {count} cached response(s) in {cache.directory}" + (f" for {redact_url(prefix)}" if prefix else ""))
    print("the next run fetches fresh data; the expired answers stay as last good data")
    return 0


def register_cli(subparsers: Any) -> None:
    """The ``refresh-cache`` command."""
    parser = subparsers.add_parser(
        "refresh-cache",
        help="make the next run fetch fresh data from HTTP sources (Plausible, services)",
        description="Expire cached HTTP answers so the next run asks the sources again. Entries are kept as last good data.",
    )
    parser.add_argument(
        "--source", default=None, help="only this source (plausible:// URL or service base URL); default all"
    )
    parser.add_argument(
        "--cache-dir", default=None, help=f"cache directory (default ${CACHE_ENV_VAR} or data/cache/http)"
    )
    parser.set_defaults(func=_run_refresh)
