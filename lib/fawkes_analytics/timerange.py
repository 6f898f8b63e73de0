"""Reporting time ranges: named rolling windows or a custom start/end, in a time zone.

Every range is half-open, ``[start, end)``, and carries the previous period of equal length
so each KPI can be compared with it. Every bound is a whole quarter hour (UTC offsets are
all multiples of 15 minutes, so local midnights are too): that is the grain of the rollup
store, which then answers every range exactly. Hour ranges (``1h``, ``6h``, ``24h``) are
rolling windows that end at the last quarter hour at or before the anchor time (``as_of``);
custom bounds given with minutes are rounded down to their quarter hour. Day ranges (``7d``, ``30d``, ``90d``) are
whole days in the reporting time zone ending at the last local midnight at or before the
anchor, as in Plausible ("last 7 days" excludes the unfinished day), so daily charts never
end in a half-empty day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ParameterError

NAMED_RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
CUSTOM = "custom"
QUARTER_SECONDS = 900


def floor_quarter(moment: datetime) -> datetime:
    """``moment`` (aware) rounded down to a whole quarter hour, in UTC."""
    utc = moment.astimezone(timezone.utc)
    seconds = int(utc.timestamp() // QUARTER_SECONDS * QUARTER_SECONDS)
    return datetime.fromtimestamp(seconds, timezone.utc)


@dataclass(frozen=True)
class TimeRange:
    """A half-open interval ``[start, end)`` in UTC, reported in time zone ``tz``."""

    start: datetime
    end: datetime
    tz: str = "UTC"
    label: str = CUSTOM

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> TimeRange:
        """The period of equal length that ends where this one starts."""
        return TimeRange(self.start - self.duration, self.start, self.tz, f"previous {self.label}")

    @property
    def start_naive_utc(self) -> datetime:
        """Start as a naive UTC datetime, the storage convention of the engines."""
        return self.start.astimezone(timezone.utc).replace(tzinfo=None)

    @property
    def end_naive_utc(self) -> datetime:
        return self.end.astimezone(timezone.utc).replace(tzinfo=None)

    def default_granularity(self) -> str:
        """Hourly up to two days, daily up to 60 days, weekly beyond."""
        if self.duration <= timedelta(days=2):
            return "hour"
        if self.duration <= timedelta(days=60):
            return "day"
        return "week"

    def describe(self) -> str:
        zone = ZoneInfo(self.tz)
        fmt = "%Y-%m-%d %H:%M"
        return f"{self.start.astimezone(zone):{fmt}} to {self.end.astimezone(zone):{fmt}} ({self.tz})"

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat(), "tz": self.tz}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> TimeRange:
        """The range whose ``to_dict()`` is ``data``."""
        start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
        return cls(start, end, data.get("tz") or "UTC", data.get("label") or CUSTOM)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ParameterError(
            "tz", f"unknown time zone {tz!r}", "an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from exc


def _parse(name: str, value: str | datetime, zone: ZoneInfo) -> datetime:
    """An ISO date or time (naive ones are read in ``zone``) as UTC. The standard library reads
    the ISO forms; pandas, slow to import, only the rest (``2026-11-01 12:00:00.123456789``)."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            moment = _parse_with_pandas(name, value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc)


def _parse_with_pandas(name: str, value: object) -> datetime:
    import pandas as pd

    try:
        moment = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            name, f"cannot parse {value!r} as a date or time", "ISO 8601, e.g. 2026-11-01 or 2026-11-01T12:00Z"
        ) from exc
    if moment is pd.NaT:
        raise ParameterError(name, f"cannot parse {value!r} as a date or time", "ISO 8601, e.g. 2026-11-01")
    return moment.to_pydatetime()


def resolve(
    time_range: str | None = "7d",
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    tz: str = "UTC",
    as_of: datetime | None = None,
) -> TimeRange:
    """Turn report parameters into a ``TimeRange``.

    ``start``/``end`` (dates or times, read in ``tz`` when they carry no offset) take
    precedence over ``time_range``; ``as_of`` anchors named ranges and defaults to now.
    """
    zone = _zone(tz)
    if start is not None or end is not None:
        if start is None or end is None:
            raise ParameterError("start" if start is None else "end", "a custom range needs both start and end")
        begin, finish = floor_quarter(_parse("start", start, zone)), floor_quarter(_parse("end", end, zone))
        if finish <= begin:
            raise ParameterError("end", f"end {finish.isoformat()} is not after start {begin.isoformat()}")
        return TimeRange(begin, finish, tz, CUSTOM)
    if time_range not in NAMED_RANGES:
        raise ParameterError(
            "time_range", f"unknown range {time_range!r}", sorted(NAMED_RANGES, key=NAMED_RANGES.__getitem__)
        )
    anchor = as_of or datetime.now(timezone.utc)
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=timezone.utc)
    anchor = anchor.astimezone(timezone.utc)
    length = NAMED_RANGES[time_range]
    if time_range.endswith("d"):
        local = anchor.astimezone(zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
        start_day = (midnight - length).replace(tzinfo=None)
        start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=zone)
        return TimeRange(start.astimezone(timezone.utc), midnight.astimezone(timezone.utc), tz, time_range)
    anchor = floor_quarter(anchor)
    return TimeRange(anchor - length, anchor, tz, time_range)
