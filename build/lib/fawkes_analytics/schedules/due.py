"""When is a schedule due? Cron slots in the schedule's IANA time zone, DST-aware.

A *slot* is the instant (aware UTC datetime) at which a cron expression fires. Rules:

- Slots follow wall-clock time in the schedule's zone (``0 7 * * *`` in Europe/Berlin is
  07:00 local in winter and in summer).
- Spring forward: a slot inside the skipped hour (``30 2 * * *`` on 2026-03-29) fires at
  the first valid time after it (03:00 CEST), once.
- Fall back: a fixed-hour job (hour field not ``*``) fires once in the repeated hour, at the
  first occurrence; jobs with ``*`` in the hour field fire at every real occurrence.
- Missed slots after downtime collapse: a schedule is due when its *latest* slot at or before
  ``now`` is later than the last slot it ran, so it runs once, not once per missed slot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

from .config import Schedule

_EPSILON = timedelta(microseconds=1)


def _fixed_hour(cron: str) -> bool:
    return cron.split()[1] != "*"


def _is_repeat(slot: datetime) -> bool:
    """True for the second occurrence of a wall-clock time in a fall-back hour."""
    earlier = (slot.astimezone(UTC) - timedelta(hours=1)).astimezone(slot.tzinfo)
    return earlier.replace(tzinfo=None) == slot.replace(tzinfo=None)


def latest_slot(schedule: Schedule, now: datetime) -> datetime:
    """The latest slot at or before ``now`` (aware UTC)."""
    local = now.astimezone(schedule.tz) + _EPSILON
    it = croniter(schedule.cron, local)
    slot = it.get_prev(datetime)
    while _fixed_hour(schedule.cron) and _is_repeat(slot):
        slot = it.get_prev(datetime)
    return slot.astimezone(UTC)


def next_slot(schedule: Schedule, after: datetime) -> datetime:
    """The first slot strictly after ``after`` (aware UTC)."""
    it = croniter(schedule.cron, after.astimezone(schedule.tz))
    slot = it.get_next(datetime)
    while _fixed_hour(schedule.cron) and _is_repeat(slot):
        slot = it.get_next(datetime)
    return slot.astimezone(UTC)


def due_slot(schedule: Schedule, now: datetime, last_slot: datetime | None) -> datetime | None:
    """The slot to run now, or None. A schedule never run before runs its latest slot once."""
    if not schedule.enabled:
        return None
    slot = latest_slot(schedule, now)
    if last_slot is not None and slot <= last_slot:
        return None
    return slot
