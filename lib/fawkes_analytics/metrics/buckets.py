"""Time buckets in the reporting time zone (hour, day, week), DST-correct on every engine.

Engines disagree on time zone functions, so bucketing is split in two. The engine only
computes the UTC 15-minute slot of each timestamp (``epoch seconds // 900``, plain integer
arithmetic that DuckDB and Spark agree on); a small calendar built here with pandas maps each
slot of the range to its local bucket, and the engine joins it. Every UTC offset in the tz
database is a multiple of 15 minutes, so a slot never straddles two local buckets. Distinct
counts are then computed per local bucket in the engine (never summed from smaller buckets).

Buckets are numbered ``0..n-1`` in time order; the repeated hour of a DST fall-back is two
hourly buckets (same wall-clock label, different offsets) and a 23- or 25-hour day is one
daily bucket. Weeks start on Monday (ISO). Timestamps in the engines are naive UTC, as the
storage convention of ``schema`` says; Spark must run with ``spark.sql.session.timeZone=UTC``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from ..errors import ParameterError

GRANULARITIES = ("hour", "day", "week")
SLOT_SECONDS = 900


def check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ParameterError("granularity", f"unknown granularity {granularity!r}", list(GRANULARITIES))
    return granularity


def slot(ts: ir.TimestampValue) -> ir.IntegerValue:
    """The UTC 15-minute slot number of a naive-UTC timestamp (an engine expression)."""
    return (ts.epoch_seconds() // SLOT_SECONDS).cast("int64")


@dataclass(frozen=True)
class Calendar:
    """Slot-to-bucket map of a UTC interval in a time zone, at one granularity.

    ``slots`` has columns ``slot`` (int) and ``bucket`` (int, 0-based) and becomes a memtable;
    ``buckets`` has ``bucket`` and ``start`` (tz-aware local start of the bucket) and labels
    the results after they come back from the engine.
    """

    slots: pd.DataFrame
    buckets: pd.DataFrame
    granularity: str
    tz: str

    def table(self) -> ir.Table:
        return ibis.memtable(self.slots, schema={"slot": "int64", "bucket": "int64"})

    def assign(self, table: ir.Table, ts_column: str = "timestamp") -> ir.Table:
        """``table`` with a ``bucket`` column (rows outside the calendar are dropped)."""
        cal = self.table()
        keyed = table.mutate(_slot=slot(table[ts_column]))
        return keyed.join(cal, keyed._slot == cal.slot).drop("_slot", "slot")

    def assign_slots(self, table: ir.Table, slot_column: str = "slot") -> ir.Table:
        """``table`` (which has a slot number column) with a ``bucket`` column; rows outside dropped."""
        cal = self.table().rename(_cal_slot="slot")
        return table.join(cal, table[slot_column] == cal._cal_slot).drop("_cal_slot")

    def label(self, frame: pd.DataFrame, fill: dict[str, object] | None = None) -> pd.DataFrame:
        """Attach bucket starts to per-bucket results and fill empty buckets with ``fill``."""
        out = self.buckets.merge(frame, on="bucket", how="left")
        if fill:
            out = out.fillna(value=fill).infer_objects()
        return out


def _localize(naive: pd.Series, tz: str) -> pd.Series:
    return naive.dt.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")


def calendar(start: datetime, end: datetime, tz: str, granularity: str) -> Calendar:
    """The calendar of ``[start, end)`` (aware datetimes) at ``granularity`` in ``tz``."""
    check_granularity(granularity)
    first = pd.Timestamp(start).tz_convert("UTC").floor("15min")
    slots = pd.date_range(first, pd.Timestamp(end).tz_convert("UTC"), freq="15min", inclusive="left")
    if len(slots) == 0:
        slots = pd.DatetimeIndex([first])
    local = pd.Series(slots.tz_convert(tz))
    naive = local.dt.tz_localize(None)
    if granularity == "hour":
        within = naive - naive.dt.floor("h")
        key = local - within  # aware bucket start; distinct across a repeated hour
        starts = key
    else:
        day = naive.dt.normalize()
        if granularity == "week":
            day = day - pd.to_timedelta(day.dt.weekday, unit="D")
        key = day
        starts = _localize(day, tz)
    codes, uniques = pd.factorize(key, sort=True)
    slot_numbers = (slots.asi8 // 1_000_000_000 // SLOT_SECONDS).astype("int64")
    slot_frame = pd.DataFrame({"slot": slot_numbers, "bucket": codes.astype("int64")})
    bucket_frame = (
        pd.DataFrame({"bucket": codes.astype("int64"), "start": starts.to_numpy()})
        .drop_duplicates("bucket")
        .sort_values("bucket")
        .reset_index(drop=True)
    )
    bucket_frame["start"] = pd.to_datetime(bucket_frame["start"], utc=True).dt.tz_convert(tz)
    return Calendar(slot_frame, bucket_frame, granularity, tz)


def period_length(granularity: str) -> timedelta:
    """Nominal length of one bucket (used to extend a calendar by one period)."""
    return {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}[
        check_granularity(granularity)
    ]
