"""Human labels and formats of the columns of result tables, shared by every table view.

Result tables keep stable snake_case column names (the CSV and JSON contract, README.md);
people read them through this vocabulary: ``bounce_rate`` is "Bounce rate" shown as
"42.5%", ``median_seconds_to_convert`` is "Median time to convert" shown as "4 min 54 s".
The formats are those of the KPI tiles (``formats.value``), so tiles and tables round alike.
A column that is not listed gets a label from its name and a format from its type.

Extra cell formats beside the KPI ones: ``text``, ``ratio`` (a fraction 0-1 shown in
percent), ``change_percent`` / ``change_points`` (signed changes), ``figure`` (text that already
is a formatted number, kept as it is), ``trend`` (arrow and
word), ``name`` (an identifier such as ``at_risk`` read as "At risk"), ``date`` and
``datetime`` (in the reporting time zone).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import formats
from .labels import shorten

NUMERIC_FORMATS = (
    "count",
    "percent",
    "duration",
    "number",
    "score",
    "ratio",
    "change_percent",
    "change_points",
    "figure",
)
# Text that already is a formatted number ('+9.38 pp', '40.16%', '127 / 109'): shown as it is,
# aligned and kept whole like a number.
FIGURE = re.compile(r"^[+\-−]?[\d.,]+(%| pp| / [\d,]+)?$")


@dataclass(frozen=True)
class Column:
    """How one column is shown: its label and its format."""

    label: str
    format: str = "number"

    @property
    def numeric(self) -> bool:
        return self.format in NUMERIC_FORMATS


VOCABULARY: dict[str, Column] = {
    # times and keys
    "bucket": Column("Period", "count"),
    "start": Column("Start", "datetime"),
    "cohort_start": Column("Cohort", "date"),
    "as_of": Column("As of", "datetime"),
    "page": Column("Page", "text"),
    "source": Column("Source", "text"),
    "utm_campaign": Column("Campaign", "text"),
    "feature": Column("Feature key", "text"),
    "title": Column("Feature", "text"),
    "segment": Column("Segment", "name"),
    "category": Column("Category", "text"),
    "label": Column("Step", "text"),
    "event": Column("Event", "text"),
    "metric": Column("Metric", "text"),
    "variant": Column("Variant", "text"),
    # usage
    "active_users": Column("Active users", "count"),
    "visitors": Column("Visitors", "count"),
    "visits": Column("Visits", "count"),
    "pageviews": Column("Pageviews", "count"),
    "views_per_visit": Column("Views per visit", "number"),
    "bounce_rate": Column("Bounce rate", "percent"),
    "visit_duration": Column("Visit duration", "duration"),
    "time_on_page": Column("Time on page", "duration"),
    "exit_rate": Column("Exit rate", "percent"),
    "total_users": Column("Total users", "count"),
    # adoption
    "adoption_rate": Column("Adoption", "percent"),
    "adoption_rate_previous": Column("Adoption before", "percent"),
    "adoption_rate_change": Column("Change", "change_points"),
    "adoption_rate_change_pct": Column("Relative change", "change_percent"),
    "unique_users": Column("Users", "count"),
    "unique_users_previous": Column("Users before", "count"),
    "usage_count": Column("Uses", "count"),
    "usage_count_previous": Column("Uses before", "count"),
    "trend": Column("Trend", "trend"),
    # segments
    "users": Column("Users", "count"),
    "share": Column("Share", "percent"),
    "mean_engagement": Column("Engagement (0-10)", "score"),
    "mean_active_days": Column("Active days", "number"),
    "mean_events": Column("Events per user", "number"),
    "mean_features_used": Column("Features used", "number"),
    "active_l7": Column("Active in the last 7 days", "count"),
    "days": Column("Days active", "count"),
    "window": Column("Window (days)", "count"),
    "score_from": Column("Engagement from", "count"),
    # funnels
    "step": Column("#", "count"),
    "count": Column("People", "count"),
    "conversion_from_start_pct": Column("From start", "percent"),
    "conversion_from_previous_pct": Column("From previous step", "percent"),
    "drop_off": Column("Dropped", "count"),
    "drop_off_pct": Column("Dropped (share)", "percent"),
    "mean_seconds_to_convert": Column("Mean time to convert", "duration"),
    "median_seconds_to_convert": Column("Median time to convert", "duration"),
    "count_previous": Column("People before", "count"),
    "conversion_from_start_pct_previous": Column("From start before", "percent"),
    "conversion_from_start_pct_change": Column("Change", "change_points"),
    "previous_count": Column("People before", "count"),
    "previous_conversion_from_start_pct": Column("From start before", "percent"),
    "conversion_from_start_change_pp": Column("Change", "change_points"),
    "funnel": Column("Funnel", "text"),
    "entered": Column("Entered", "count"),
    "converted": Column("Converted", "count"),
    "conversion_rate_pct": Column("Conversion", "percent"),
    "conversion_rate_change_pp": Column("Change", "change_points"),
    "people": Column("People", "count"),
    "lower_seconds": Column("From", "duration"),
    "upper_seconds": Column("To", "duration"),
    "breakdown_value": Column("Breakdown", "text"),
    # retention and lifecycle
    "size": Column("Users", "count"),
    "new": Column("New", "count"),
    "returning": Column("Returning", "count"),
    "resurrecting": Column("Resurrecting", "count"),
    "dormant": Column("Dormant", "count"),
    "rate_on": Column("Retained on", "percent"),
    "rate_on_or_after": Column("Retained on or after", "percent"),
    # feedback
    "responses": Column("Responses", "count"),
    "promoters": Column("Promoters", "count"),
    "passives": Column("Passives", "count"),
    "detractors": Column("Detractors", "count"),
    "nps": Column("NPS", "score"),
    "score": Column("Score", "count"),
    # experiments
    "planned": Column("In the plan", "text"),
    "planned_share": Column("Planned share", "ratio"),
    "n_control": Column("Users (control)", "count"),
    "n_variant": Column("Users (variant)", "count"),
    "mean_control": Column("Control", "number"),
    "mean_variant": Column("Variant value", "number"),
    "lift": Column("Lift", "ratio"),
    "p_value_adjusted": Column("Adjusted p", "number"),
    "chance_to_beat": Column("Chance to beat control", "ratio"),
    "verdict": Column("Verdict", "text"),
    "experiment": Column("Experiment", "text"),
    "decision": Column("Decision", "text"),
    "why": Column("Why", "text"),
    "sample_ratio": Column("Sample ratio", "text"),
    "days_running": Column("Days running", "score"),  # one decimal
    # KPI tables
    "name": Column("KPI key", "text"),
    "value": Column("Value", "number"),
    "previous": Column("Previous period", "number"),
    "change": Column("Change", "number"),
    "change_unit": Column("Change in", "text"),
    "unit": Column("Unit", "text"),
}


def column(name: str, sample: Any = None) -> Column:
    """The column's label and format: from the vocabulary, else from its name and a sample value."""
    if name in VOCABULARY:
        return VOCABULARY[name]
    if name.startswith("period_") and name[7:].isdigit():
        return Column(f"Period {name[7:]}", "percent")
    if sample is not None and hasattr(sample, "isoformat"):
        return Column(name.replace("_", " ").capitalize(), "datetime")
    human = " " in name or not name.islower()  # already a label ("Users (control / variant)")
    label = name if human else name.replace("_", " ").strip().capitalize()
    if name.endswith(("_rate", "_pct", "_share")):
        return Column(label, "percent")
    if name.endswith(("_seconds", "_duration")):
        return Column(label, "duration")
    if isinstance(sample, bool) or not isinstance(sample, numbers.Real):  # numpy bools are not Real
        return Column(shorten(label), "text")
    return Column(label, "count" if isinstance(sample, numbers.Integral) else "number")


def column_of(name: str, values: Iterable[Any]) -> Column:
    """The column's label and format, judged from its values: text columns whose every value is
    a formatted number ('40.16%', '+9.38 pp') are figures."""
    present = [v for v in values if v is not None and v == v]
    spec = column(name, present[0] if present else None)
    if spec.format == "text" and present and all(isinstance(v, str) and FIGURE.match(v) for v in present):
        return Column(spec.label, "figure")
    return spec


def cell(value: Any, fmt: str, tz: str = "UTC") -> str:
    """One table cell in its column's format (long text is shortened; the CSV keeps it whole)."""
    if fmt == "figure":
        return shorten(value) if isinstance(value, str) else formats.value(value)
    if fmt == "text":
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return "yes" if value else "no"
        return formats.MISSING if value is None or value != value else shorten(value)
    if fmt == "name":
        return formats.MISSING if value is None or value != value else shorten(humanise(str(value)))
    if formats.is_missing(value):
        return formats.MISSING
    if fmt == "ratio":
        return formats.value(100.0 * float(value), "percent")
    if fmt == "change_percent":
        return formats.change(value, "percent")
    if fmt == "change_points":
        return formats.change(value, "points", "%")
    if fmt == "trend":
        return formats.trend_word(str(value))
    if fmt in ("date", "datetime"):
        return formats.when(_iso(value), tz, with_zone=False)[: 10 if fmt == "date" else 16]
    return formats.value(value, fmt)


def humanise(identifier: str) -> str:
    """'at_risk' -> 'At risk': an identifier from the catalog as people read it."""
    return identifier.replace("_", " ").capitalize() if identifier.islower() else identifier


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
