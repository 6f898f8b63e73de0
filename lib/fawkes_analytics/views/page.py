"""The header of every report and dashboard page: title, one line of facts, banners.

Every time in the header is in the reporting time zone, which the line names; the source is
shown by its kind and name ("DuckDB · demo"), never by a path or a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import formats
from ..templates import Html, render, style_tag
from ..timerange import CUSTOM, NAMED_RANGES, TimeRange
from .html import Banner

DEMO_NOTICE = "Demo data: these numbers come from the generated demo data set, not from real usage."


@dataclass(frozen=True)
class PageFacts:
    """What the header line says: the data's freshness, the range, the source, where numbers come from."""

    time_range: TimeRange | None
    data_as_of: datetime | str | None = None
    source: Mapping[str, Any] | None = None  # ``Source.describe()``
    origin: str = ""  # "Generated ...", "Published run ...", "Computed live from the source"
    demo: bool = False
    status: str | None = None  # a source's warning (answered from last good data, ...)
    quality: str | None = None  # the data-quality note
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tz(self) -> str:
        return self.time_range.tz if self.time_range else "UTC"


def range_text(time_range: TimeRange) -> str:
    """'Range 7d (2026-11-08 00:00 – 2026-11-15 00:00 UTC)', or 'Range <start> – <end> UTC' when custom."""
    label = time_range.label if time_range.label in NAMED_RANGES else None
    return formats.range_text(time_range.start, time_range.end, time_range.tz, label)


def facts_line(facts: PageFacts) -> list[str]:
    tz = facts.tz
    line = [
        f"Data as of {formats.when(facts.data_as_of, tz)}" if facts.data_as_of else "Data as of unknown (no events)"
    ]
    if facts.time_range is not None:
        line.append(range_text(facts.time_range))
    if facts.source:
        line.append(f"Source {formats.source_label(dict(facts.source))}")
    if facts.origin:
        line.append(facts.origin)
    line.append(f"Times in {tz}")
    return line


def banners(facts: PageFacts) -> list[Banner]:
    out = [Banner("demo", DEMO_NOTICE)] if facts.demo else []
    if facts.status:
        out.append(Banner("warn", facts.status))
    if facts.quality:
        out.append(Banner("note", facts.quality))
    out += [Banner("infobox", note) for note in facts.notes]
    return out


def header(title: str, facts: PageFacts, with_style: bool = True) -> Html:
    """The page header (with the stylesheet, which the rest of the page's pieces use)."""
    markup = render("parts/header.html.j2", title=title, facts=facts_line(facts), banners=banners(facts))
    return style_tag() + markup if with_style else markup


def custom_range(start: datetime, end: datetime, tz: str) -> TimeRange:
    """A range that is not one of the named ones (the experiment's analysis window)."""
    return TimeRange(start, end, tz, CUSTOM)
