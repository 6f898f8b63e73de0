"""Schedules: load ``schedules/*.yaml``, decide what is due, run it, keep its history.

Public API: :func:`load_schedules`, :class:`Schedule`, :func:`due_slot`,
:class:`Scheduler` (``run_once()`` / ``serve()``), :func:`history.collect`, and
:func:`register_cli` for the ``schedule`` and ``history`` commands.

Names are imported from their modules when first used, so ``schedule --check`` loads the
configuration code without the scheduler and its delivery stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cli import register_cli
    from .config import EmailSpec, Schedule, Threshold, load_schedule, load_schedules, parse_duration, parse_schedule
    from .due import due_slot, latest_slot, next_slot
    from .scheduler import Scheduler, SlotResult, SystemClock

_WHERE = {
    "register_cli": "cli",
    "EmailSpec": "config",
    "Schedule": "config",
    "Threshold": "config",
    "load_schedule": "config",
    "load_schedules": "config",
    "parse_duration": "config",
    "parse_schedule": "config",
    "due_slot": "due",
    "latest_slot": "due",
    "next_slot": "due",
    "Scheduler": "scheduler",
    "SlotResult": "scheduler",
    "SystemClock": "scheduler",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


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
