"""The links under a dashboard page: CSV downloads of the tables shown, and the latest reports.

CSV downloads go through the library's one safe CSV writer (``export/csv.py``): formula
starts are neutralised and line breaks inside cells quoted, exactly as in the run folders.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ..export.csv import csv_text
from ..templates import Html, render
from .published import ReportLink

MAX_INLINE_REPORT_BYTES = 3_000_000


@dataclass(frozen=True)
class _Link:
    """One link of the template: its text, a URL or inline data, and the file name to save as."""

    text: str
    filename: str
    data: str | None = None  # base64, for a data: URI
    href: str | None = None


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def csv_links(tables: Mapping[str, pd.DataFrame], stem: str) -> Html:
    """Download links (data: URIs) with one CSV per table currently shown."""
    downloads = [
        _Link(name, f"{stem}_{name}.csv", _encode(csv_text(frame).encode("utf-8")))
        for name, frame in tables.items()
        if frame is not None and not frame.empty
    ]
    return render("dashboard/links.html.j2", csv_links=downloads, report_links=None)


def report_links(links: Sequence[ReportLink], max_inline_bytes: int = MAX_INLINE_REPORT_BYTES) -> Html:
    """Links to the latest published HTML reports (a URL, or the file as a download)."""
    shown = [
        _Link(
            link.title,
            f"{link.report}-{link.run_id}.html",
            _encode(link.path.read_bytes()) if not link.href and link.size <= max_inline_bytes else None,
            link.href,
        )
        for link in links
    ]
    return render("dashboard/links.html.j2", csv_links=[], report_links=shown)
