"""The dashboards: one entry per page, and what a page's URL says (range, segment, time zone).

Light on purpose (standard library only): a dashboard kernel imports this module, the landing
page lists ``PAGES``, and the precompute imports it too, so every one of them agrees on the
pages, their controls and the named ranges without loading the analytics stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from urllib.parse import parse_qs, urlencode

NAMED_RANGES = ("1h", "6h", "24h", "7d", "30d", "90d")  # timerange.NAMED_RANGES (a test keeps them equal)
DEFAULT_RANGE = "7d"
ALL_USERS = ""  # the segment value meaning "every user"
CUSTOM = "custom"
_SAFE = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")


class Cancelled(Exception):  # noqa: N818 - what happened, as the viewer says it
    """The viewer cancelled a live computation."""


@dataclass(frozen=True)
class Page:
    """One dashboard: the registry's areas it shows and the controls it offers.

    ``controls`` among ``range``, ``segment`` and ``item`` (one funnel, one experiment of
    ``item_area``); every page has the time zone. ``summary`` pages show each area in brief.
    """

    name: str
    title: str
    description: str
    areas: tuple[str, ...]
    controls: tuple[str, ...]
    summary: bool = False
    item_area: str = ""

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"


# The registry's overview areas, led by the unusual changes (issue 21). They cover every user,
# so each range computes them once for all its segments (one read of the daily series per
# refresh: anomalies.changes._RecentReads).
OVERVIEW_AREAS = ("anomalies", "usage", "features", "experiments", "segments", "funnels", "feedback")
PAGES: dict[str, Page] = {
    page.name: page
    for page in (
        Page(
            "overview",
            "Product overview",
            "Every area on one page: traffic, adoption, experiments, segments, funnels and feedback.",
            OVERVIEW_AREAS,
            ("range", "segment"),
            summary=True,
        ),
        Page(
            "usage",
            "Usage",
            "Visitors, visits, pageviews, bounce rate and time on site over time; top pages and exit pages.",
            ("usage",),
            ("range", "segment"),
        ),
        Page(
            "features",
            "Feature adoption",
            "Which features people use, how adoption moves, and which features grow or fade.",
            ("features",),
            ("range", "segment"),
        ),
        Page(
            "funnels",
            "Funnels",
            "How many people get from the first step of each funnel to the last, and how long it takes.",
            ("funnels",),
            ("range", "item"),
            item_area="funnels",
        ),
        Page(
            "segments",
            "User segments",
            "New, at-risk, power and regular users: the size of each segment and how it changes.",
            ("segments",),
            ("range",),
        ),
        Page(
            "experiments",
            "Experiments",
            "Each running experiment: the verdict, the readout per variant and its diagnostics.",
            ("experiments",),
            ("item",),
            item_area="experiments",
        ),
        Page(
            "feedback",
            "Feedback",
            "Net promoter score from in-product surveys, over time, by category and by rating.",
            ("feedback",),
            ("range",),
        ),
    )
}


@dataclass(frozen=True)
class ViewKey:
    """What a viewer asked to see: a named or custom range, a segment, a time zone, an item.

    The URL's query string holds it (``?range=30d&segment=power&tz=Europe/Berlin``), so a view
    can be shared; ``start``/``end`` (dates, end exclusive) make a custom range.
    """

    range: str = DEFAULT_RANGE
    segment: str = ALL_USERS
    tz: str = ""  # "" means the configured time zone
    item: str = ""
    start: str = ""
    end: str = ""

    @classmethod
    def from_query(cls, query: str | None) -> ViewKey:
        """The key a query string asks for; unknown or malformed values fall back to defaults."""
        values = {k: v[-1] for k, v in parse_qs((query or "").lstrip("?")).items() if v}
        key = cls()
        wanted = values.get("range", DEFAULT_RANGE)
        if wanted == CUSTOM and _is_date(values.get("start")) and _is_date(values.get("end")):
            if values["start"] < values["end"]:
                key = replace(key, range=CUSTOM, start=values["start"], end=values["end"])
        elif wanted in NAMED_RANGES:
            key = replace(key, range=wanted)
        for name in ("segment", "item"):
            if _SAFE.match(values.get(name, "")):
                key = replace(key, **{name: values[name]})
        if _is_zone(values.get("tz", "")):
            key = replace(key, tz=values["tz"])
        return key

    def query(self) -> str:
        """The query string of this key (defaults left out)."""
        pairs = {"range": self.range}
        if self.range == CUSTOM:
            pairs |= {"start": self.start, "end": self.end}
        pairs |= {name: getattr(self, name) for name in ("segment", "tz", "item") if getattr(self, name)}
        return urlencode(pairs, safe="/")

    def for_page(self, page: Page) -> ViewKey:
        """The key as far as ``page`` uses it: a page without a segment control shows every user."""
        key = self if "segment" in page.controls else replace(self, segment=ALL_USERS)
        if "range" not in page.controls:
            key = replace(key, range=DEFAULT_RANGE, start="", end="")
        return key if "item" in page.controls else replace(key, item="")


def _is_date(text: str | None) -> bool:
    try:
        date.fromisoformat(text or "")
    except ValueError:
        return False
    return len(text or "") == 10


def _is_zone(name: str) -> bool:
    if not name or not re.match(r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}$", name):
        return False
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
