"""Schedules: load ``schedules/*.yaml``, decide what is due, run it, keep its history.

Public API: :func:`load_schedules`, :class:`Schedule`, :func:`due_slot`,
:class:`Scheduler` (``run_once()`` / ``serve()``), :func:`history.collect`, and
:func:`register_cli` for the ``schedule`` and ``history`` commands.
"""

from __future__ import annotations

from .cli import register_cli
from .config import EmailSpec, Schedule, Threshold, load_schedule, load_schedules, parse_duration, parse_schedule
from .due import due_slot, latest_slot, next_slot
from .scheduler import Scheduler, SlotResult, SystemClock

__all__ = [
    "EmailSpec",
    "Schedule",
    "Scheduler",
    "SlotResult",
    "SystemClock",
    "Threshold",
    "due_slot",
    "latest_slot",
    "load_schedule",
    "load_schedules",
    "next_slot",
    "parse_duration",
    "parse_schedule",
    "register_cli",
]
