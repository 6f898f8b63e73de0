"""How every number, change, duration and time reads, in reports, dashboards and emails alike.

One function per kind of text, so a tile, a table cell and an email row round the same
value the same way. Rounding happens here and nowhere else (SEMANTICS.md: "Rounding happens
only when rendering"). ``kpi_view`` turns a ``Kpi`` into the words, arrow and tone a tile
shows: the arrow and the trend word always agree, and the tone (good, bad, neutral, flat)
follows the KPI's direction, so a rising bounce rate is never green.

Pure Python: email delivery uses this module without loading pandas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .kpi import LOWER_IS_BETTER, NEUTRAL, NO_CHANGE, POINTS, Kpi
from .labels import shorten

MISSING = "–"
UP, DOWN, STABLE = "up", "down", "stable"
ARROWS = {UP: "▲", DOWN: "▼", STABLE: "→"}
GOOD, BAD, NEUTRAL_TONE, FLAT = "good", "bad", "neutral", "flat"
# The colours of the tones (fawkes.css and the inline styles of emails both use these).
TONE_COLOURS = {GOOD: "#00734d", BAD: "#b34700", NEUTRAL_TONE: "#0b5394", FLAT: "#666666"}


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def duration(seconds: float | None) -> str:
    """Seconds in the largest units that fit: '42 s', '4 min 54 s', '2 h 05 min', '3 d 4 h'."""
    if is_missing(seconds):
        return MISSING
    total = round(float(seconds))  # type: ignore[arg-type]
    if abs(total) < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def value(number: Any, fmt: str = "number") -> str:
    """A value in a KPI or column format: count, percent, duration, number or score."""
    if is_missing(number):
        return MISSING
    if isinstance(number, str):
        return number
    number = float(number)
    if fmt == "count":
        return f"{round(number):,}"
    if fmt == "percent":
        return f"{number:,.1f}%"
    if fmt == "duration":
        return duration(number)
    if fmt == "score":
        return f"{number:.1f}"
    return f"{int(number):,}" if number.is_integer() else f"{number:,.2f}"


def change(number: float | None, change_unit: str, unit: str = "") -> str:
    """'+12.5%' for a relative change, '+3.0 pp' for a rate, '+3.0 points' for a score."""
    if is_missing(number):
        return ""
    if change_unit == POINTS:
        return f"{number:+.1f} pp" if unit == "%" else f"{number:+.1f} points"
    return f"{number:+.1f}%"


def trend(kpi: Kpi) -> str | None:
    """Up, down or stable: the KPI's own rule when it has one, else the sign of the change as shown."""
    if kpi.trend:
        return kpi.trend
    if kpi.change_unit == NO_CHANGE or is_missing(kpi.change):
        return None
    shown = round(float(kpi.change), 1)  # type: ignore[arg-type]
    return UP if shown > 0 else DOWN if shown < 0 else STABLE


def tone(direction: str, moved: str | None) -> str:
    """Good or bad by the KPI's direction; neutral KPIs and stable ones are never coloured as either."""
    if moved not in (UP, DOWN):
        return FLAT
    if direction == NEUTRAL:
        return NEUTRAL_TONE
    rising_is_good = direction != LOWER_IS_BETTER
    return GOOD if (moved == UP) == rising_is_good else BAD


@dataclass(frozen=True)
class KpiView:
    """What a tile or an email row shows of one KPI."""

    name: str
    label: str
    value: str
    change: str  # '+12.5%', '' when there is nothing to compare
    arrow: str
    trend: str | None
    tone: str
    comparison: str  # the whole comparison line: '▲ +12.5% vs previous period', 'all time', ...

    @property
    def colour(self) -> str:
        return TONE_COLOURS[self.tone]


def kpi_view(kpi: Kpi) -> KpiView:
    """The words, arrow and tone of a KPI."""
    moved = trend(kpi)
    changed = change(kpi.change, kpi.change_unit, kpi.unit)
    arrow = ARROWS.get(moved or "", "")
    if kpi.change_unit == NO_CHANGE:
        comparison = kpi.note or "not compared with the previous period"
    elif not changed:
        comparison = "no previous data"
    else:
        comparison = f"{arrow} {changed} vs previous period" + (f" · {moved}" if kpi.trend else "")
    return KpiView(
        kpi.name,
        shorten(kpi.label),
        value(kpi.value, kpi.format),
        changed,
        arrow,
        moved,
        tone(kpi.direction, moved),
        comparison,
    )


def trend_word(moved: str | None) -> str:
    """'▲ up', '▼ down', '→ stable' (the arrow and the word of a trend column)."""
    return f"{ARROWS[moved]} {moved}" if moved in ARROWS else MISSING


# --- times --------------------------------------------------------------------------------
def _aware(moment: datetime | str) -> datetime:
    stamp = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def when(moment: datetime | str | None, tz: str = "UTC", with_zone: bool = True) -> str:
    """A moment in the reporting time zone: '2026-11-15 12:04 CET' (or without the zone)."""
    if not moment:
        return "unknown"
    local = _aware(moment).astimezone(ZoneInfo(tz))
    return f"{local:%Y-%m-%d %H:%M}" + (f" {local:%Z}" if with_zone else "")


def span(start: datetime | str, end: datetime | str, tz: str = "UTC") -> str:
    """A half-open range in one time zone: '2026-11-08 00:00 – 2026-11-15 00:00 CET'."""
    first, last = when(start, tz), when(end, tz)
    same_zone = first.rsplit(" ", 1)[-1] == last.rsplit(" ", 1)[-1]
    return f"{when(start, tz, with_zone=not same_zone)} – {last}"


def range_text(start: datetime | str, end: datetime | str, tz: str, label: str | None = None) -> str:
    """'Range 7d (2026-11-08 00:00 – 2026-11-15 00:00 UTC)', or 'Range <start> – <end> UTC' when custom."""
    shown = span(start, end, tz)
    return f"Range {label} ({shown})" if label and label != "custom" else f"Range {shown}"


def published_facts(data: Mapping[str, Any]) -> list[str]:
    """The range and data freshness of a published data.json, worded like the report's header."""
    span_of = data.get("time_range") or {}
    if not span_of.get("start") or not span_of.get("end"):
        return []
    tz = span_of.get("tz") or "UTC"
    facts = [range_text(span_of["start"], span_of["end"], tz, span_of.get("label"))]
    as_of = (data.get("source") or {}).get("data_as_of")
    if as_of:
        facts.append(f"Data as of {when(as_of, tz)}")
    return facts


# --- sources ------------------------------------------------------------------------------
SOURCE_KINDS = {
    "duckdb": "DuckDB",
    "pyspark": "Spark",
    "spark-connect": "Spark Connect",
    "plausible": "Plausible",
    "postgres": "PostgreSQL",
    "clickhouse": "ClickHouse",
    "bigquery": "BigQuery",
    "trino": "Trino",
}


def source_label(described: dict[str, Any]) -> str:
    """The source's kind and name for stakeholders ('DuckDB · demo'), never a path or a URL."""
    kind = str(described.get("kind") or "unknown")
    base, _, extra = kind.partition("+")
    label = SOURCE_KINDS.get(base, base.replace("_", " ").capitalize())
    if extra:
        label += f" with {extra}"
    name = described.get("name") or described.get("site_id") or _name_in(str(described.get("url") or ""))
    return f"{label} · {shorten(name, 40)}" if name else label


FILE_SCHEMES = ("duckdb", "file", "csv", "parquet", "json", "")


def _name_in(url: str) -> str:
    """The stem of a database or data file, else the host, of a (redacted) source URL."""
    scheme, _, rest = url.rpartition("://") if "://" in url else ("", "", url)
    location = rest.split("?", 1)[0]
    if scheme.lower() in FILE_SCHEMES:
        stem = PurePosixPath(location).stem
        return "" if stem in ("", ":memory:", "memory") else stem
    return urlsplit(url).hostname or ""
