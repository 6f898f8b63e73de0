"""Import Apache/nginx "combined" access logs as pageview events.

Each line is ``host ident user [time] "request" status bytes "referrer" "user agent"``.
Lines that do not match (a truncated line, another log format, an impossible time) are
*rejected*: counted and listed with their line numbers, never fatal. Matched lines are
*filtered* by this rule, checked in this order (a line counts under the first that applies):

1. ``bot``: the user agent is empty/``-`` or matches ``BOT_PATTERN`` (bot, crawl, spider,
   slurp, curl, wget, python-requests, ... case-insensitive);
2. ``method``: the request is not a ``GET`` (or has no ``METHOD target`` request line);
3. ``status``: the status is not 2xx and not 304 (a 304 is a repeat view served from cache);
4. ``asset``: the path (without query) names a file that is not a page: a page ends in ``/``,
   has no extension in its last segment, or has one of ``PAGE_EXTENSIONS`` (html, php, ...).

What remains are pageviews: ``event_name='pageview'``, ``page`` = path without the query,
``referrer`` (null for ``-``), ``source`` = referrer host without ``www.`` (null when direct or
from ``site_host``), ``utm_*`` from the query string. ``user_id`` is a keyed 64-bit hash of
client address + user agent (``salt`` keys it; the raw address is never stored). ``event_id``
hashes the raw line with its line number, so importing the same file twice gives the same ids.
Sessions are left to the usage metrics (30-minute rule). Parsing is vectorised with pandas,
in chunks, so large logs stream through.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pandas as pd

from .. import schema, settings
from ..results import Result

_QUOTED = r'((?:[^"\\]|\\.)*)'
LINE_PATTERN = (
    r"^(?P<host>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "
    rf'"(?P<request>{_QUOTED[1:-1]})" (?P<status>\d{{3}}) (?:\d+|-) '
    rf'"(?P<referrer>{_QUOTED[1:-1]})" "(?P<agent>{_QUOTED[1:-1]})"\s*$'
)
REQUEST_PATTERN = r"^(?P<method>[A-Z]+) (?P<target>\S+)(?: HTTP/[0-9.]+)?$"
TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
BOT_PATTERN = (
    r"(?i)bot|crawl|spider|slurp|archiver|curl|wget|python-requests|python-urllib|libwww|"
    r"java/|go-http-client|httpclient|okhttp|scrapy|headless|phantomjs|facebookexternalhit|"
    r"feed|rss|fetcher|preview|validator|pingdom|uptime|monitor|^-?$"
)
PAGE_EXTENSIONS = ("html", "htm", "shtml", "xhtml", "php", "asp", "aspx", "jsp", "cgi")
REJECT_FORMAT = "not in combined log format"
REJECT_TIME = "unparseable timestamp"
FILTER_REASONS = ("bot", "method", "status", "asset")
CHUNK_LINES = 200_000


@dataclass
class ImportReport(Result):
    """What an import read, kept, filtered and rejected (rejected lines with numbers)."""

    path: str
    lines: int
    parsed: int
    rejected: int
    filtered: dict[str, int]
    pageviews: int
    first_timestamp: str | None
    last_timestamp: str | None
    output: str | None
    rejected_lines: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["line", "reason", "text"]))

    def summary(self) -> str:
        filtered = ", ".join(f"{k} {v}" for k, v in self.filtered.items())
        return (
            f"{self.path}: {self.lines} lines, {self.parsed} parsed, {self.rejected} rejected; "
            f"filtered: {filtered}; {self.pageviews} pageviews"
            + (f" ({self.first_timestamp} to {self.last_timestamp})" if self.first_timestamp else "")
        )


def _chunks(path: Path, size: int) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding="utf-8", errors="backslashreplace") as handle:
        start = 1
        while lines := list(islice(handle, size)):
            yield start, [line.rstrip("\r\n") for line in lines]
            start += len(lines)


def _hash(frame: pd.DataFrame, key: str) -> pd.Series:
    """A keyed 64-bit hash per row, as 16 hex digits (vectorised siphash)."""
    digits = pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy()
    return pd.Series([f"{d:016x}" for d in digits.tolist()], index=frame.index, dtype=object)


def _query_param(target: pd.Series, name: str) -> pd.Series:
    values = target.str.extract(rf"[?&]{name}=([^&#]*)", expand=False)
    return values.map(unquote_plus, na_action="ignore").where(values.notna() & (values != ""), None)


def parse_chunk(
    lines: list[str], first_line: int, salt_key: str, site_host: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Parse one chunk: (pageview events, rejected lines, filtered counts by reason)."""
    text = pd.Series(lines, dtype=object)
    numbers = pd.RangeIndex(first_line, first_line + len(lines))
    fields = text.str.extract(LINE_PATTERN)
    times = pd.to_datetime(fields["time"], format=TIME_FORMAT, utc=True, errors="coerce")
    bad_format = fields["host"].isna()
    bad_time = ~bad_format & times.isna()
    rejected = pd.DataFrame(
        {
            "line": numbers[bad_format | bad_time],
            "reason": [REJECT_FORMAT if b else REJECT_TIME for b in bad_format[bad_format | bad_time]],
            "text": text[bad_format | bad_time].str.slice(0, 200).to_list(),
        }
    )
    ok = ~(bad_format | bad_time)
    fields, times, text, numbers = fields[ok], times[ok], text[ok], numbers[ok.to_numpy()]
    request = fields["request"].str.extract(REQUEST_PATTERN)
    status = fields["status"].astype(int)
    path = request["target"].str.replace(r"[?#].*$", "", regex=True)
    last_segment = path.str.extract(r"([^/]*)$", expand=False).fillna("")
    extension = last_segment.str.extract(r"\.([A-Za-z0-9]+)$", expand=False).str.lower()
    is_page = path.str.endswith("/") | extension.isna() | extension.isin(PAGE_EXTENSIONS)
    checks = {
        "bot": fields["agent"].str.contains(BOT_PATTERN, regex=True),
        "method": request["method"].ne("GET") | request["method"].isna(),
        "status": ~((status >= 200) & (status < 300) | (status == 304)),
        "asset": ~is_page.fillna(False),
    }
    remaining = pd.Series(True, index=fields.index)
    filtered = {}
    for reason in FILTER_REASONS:
        hit = remaining & checks[reason]
        filtered[reason] = int(hit.sum())
        remaining &= ~hit
    kept = fields[remaining]
    target = request.loc[remaining, "target"]
    referrer = kept["referrer"].where(kept["referrer"].ne("-") & kept["referrer"].ne(""), None)
    source = referrer.str.extract(r"^[a-z][a-z0-9+.-]*://(?:www\.)?([^/:?#]+)", expand=False).str.lower()
    if site_host:
        source = source.where(source != site_host.lower().removeprefix("www."), None)
    events = pd.DataFrame(
        {
            "event_id": _hash(pd.DataFrame({"line": text[remaining], "n": numbers[remaining.to_numpy()]}), salt_key),
            "timestamp": times[remaining],
            "user_id": _hash(kept[["host", "agent"]], salt_key),
            "event_name": "pageview",
            "page": path[remaining],
            "referrer": referrer,
            "source": source.where(source.notna(), None),
            "utm_source": _query_param(target, "utm_source"),
            "utm_medium": _query_param(target, "utm_medium"),
            "utm_campaign": _query_param(target, "utm_campaign"),
        }
    )
    return events, rejected, filtered


def _salt_key(salt: str) -> str:
    """``hash_pandas_object`` needs a 16-character key; derive it from the salt."""
    return hashlib.sha256(salt.encode()).hexdigest()[:16]


def read_access_log(
    path: str | Path, salt: str = "", site_host: str | None = None
) -> tuple[pd.DataFrame, ImportReport]:
    """Parse a combined-format log into canonical pageview events and an import report."""
    path = Path(path)
    key = _salt_key(salt)
    frames, rejected_frames = [], []
    filtered = dict.fromkeys(FILTER_REASONS, 0)
    lines = 0
    for first, chunk in _chunks(path, CHUNK_LINES):
        events, rejected, counts = parse_chunk(chunk, first, key, site_host)
        frames.append(events)
        rejected_frames.append(rejected)
        filtered = {k: filtered[k] + counts[k] for k in FILTER_REASONS}
        lines += len(chunk)
    events = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=schema.EVENTS.column_names)
    canonical = schema.validate("events", events, where=f"access log {path}").frame if len(events) else events
    rejected = (
        pd.concat(rejected_frames, ignore_index=True)
        if rejected_frames
        else pd.DataFrame(columns=["line", "reason", "text"])
    )
    stamps = canonical["timestamp"] if len(canonical) else pd.Series(dtype="datetime64[us]")
    report = ImportReport(
        path=str(path),
        lines=lines,
        parsed=lines - len(rejected),
        rejected=len(rejected),
        filtered=filtered,
        pageviews=len(canonical),
        first_timestamp=stamps.min().isoformat() + "Z" if len(stamps) else None,
        last_timestamp=stamps.max().isoformat() + "Z" if len(stamps) else None,
        output=None,
        rejected_lines=rejected,
    )
    return canonical, report


def write_events(frame: pd.DataFrame, output: str | Path) -> str:
    """Write canonical events to a DuckDB file (table ``events``, replaced) or a Parquet file."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix in (".parquet", ".pq"):
        frame[schema.EVENTS.column_names].to_parquet(output, index=False)
        return f"file://{output.resolve()}"
    import ibis

    con = ibis.duckdb.connect(str(output))
    try:
        con.create_table("events", schema.as_memtable("events", frame), overwrite=True)
    finally:
        con.disconnect()
    return f"duckdb://{output.resolve()}"


def import_access_log(
    path: str | Path, output: str | Path, salt: str = "", site_host: str | None = None
) -> ImportReport:
    """Parse ``path`` and write its pageviews to ``output`` (.duckdb or .parquet)."""
    events, report = read_access_log(path, salt, site_host)
    report.output = write_events(events, output)
    return report


# -- CLI -------------------------------------------------------------------------------------


def _run_import(args: argparse.Namespace) -> int:
    if not Path(args.path).exists():
        print(f"error: access log {args.path} does not exist")
        return 2
    report = import_access_log(args.path, args.output, settings.lookup(args.salt_env), args.site_host)
    print(report.summary())
    print(f"written to {report.output}")
    for row in report.rejected_lines.head(args.show_rejected).itertuples():
        print(f"  rejected line {row.line}: {row.reason}: {row.text[:120]}")
    if report.rejected > args.show_rejected:
        print(f"  ... and {report.rejected - args.show_rejected} more rejected lines")
    return 0


def register_cli(subparsers: Any) -> None:
    """The ``import-logs`` command."""
    parser = subparsers.add_parser(
        "import-logs",
        help="import an Apache/nginx combined access log as pageview events",
        description="Parse a combined-format access log; write pageviews to a DuckDB (.duckdb) or Parquet (.parquet) file. "
        "Bots, non-GET requests, errors and assets are filtered; unparseable lines are listed with their line numbers.",
    )
    parser.add_argument("path", help="the access log file")
    parser.add_argument("--output", "-o", required=True, help="output file: .duckdb (table 'events') or .parquet")
    parser.add_argument(
        "--site-host", default=None, help="your own host name: referrals from it are not counted as a source"
    )
    parser.add_argument(
        "--salt-env", default="FAWKES_ANALYTICS_LOG_SALT", help="environment variable holding the user-id hash salt"
    )
    parser.add_argument("--show-rejected", type=int, default=20, help="how many rejected lines to print")
    parser.set_defaults(func=_run_import)


__all__ = [
    "BOT_PATTERN",
    "PAGE_EXTENSIONS",
    "ImportReport",
    "import_access_log",
    "read_access_log",
    "register_cli",
    "write_events",
]
