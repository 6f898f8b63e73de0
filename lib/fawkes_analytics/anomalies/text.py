"""The sentence that states a flag, e.g. "Pageviews on Tue 24 Nov were 38% below the expected 41,200".

Counts and durations are compared in percent, rates and NPS in points, as SEMANTICS.md
compares them with the previous period. Expected values are rounded to three significant
figures (an expectation is not exact to the unit); observed rates keep one decimal.
"""

from __future__ import annotations

import math
from datetime import date

from .kpis import COUNT, DURATION, RATE, KpiSpec


def day_label(day: date) -> str:
    """'Tue 24 Nov' (English names, whatever the locale)."""
    weekdays = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{weekdays[day.weekday()]} {day.day} {months[day.month - 1]}"


def significant(value: float, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant figures, with thousands separators: 41,200."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    exponent = math.floor(math.log10(abs(value)))
    rounded = round(value, digits - 1 - exponent)
    decimals = max(0, digits - 1 - exponent)
    return f"{rounded:,.{decimals}f}"


def duration_label(seconds: float) -> str:
    """'4 min 12 s' (or '48 s' under a minute)."""
    whole = int(round(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def value_label(kpi: KpiSpec, value: float, expected: bool = False) -> str:
    """A KPI value as a reader expects it: counts to 3 significant figures when expected."""
    if kpi.kind == COUNT:
        return significant(value) if expected else f"{value:,.0f}"
    if kpi.kind == DURATION:
        return duration_label(value)
    if kpi.kind == RATE:
        return f"{value:.1f}%"
    return f"{value:.0f}"


def _amount(value: float) -> str:
    magnitude = abs(value)
    return f"{magnitude:.0f}" if magnitude >= 10 or magnitude == round(magnitude) else f"{magnitude:.1f}"


def flag_sentence(kpi: KpiSpec, day: date, observed: float, expected: float, change: float) -> str:
    """One sentence per flag: what, when, how far from what was expected."""
    side = "above" if change > 0 else "below"
    verb = "were" if kpi.kind == COUNT else "was"
    when = day_label(day)
    if kpi.change_unit == "percent":
        return f"{kpi.label} on {when} {verb} {_amount(change)}% {side} the expected {value_label(kpi, expected, True)}"
    points = "point" if _amount(change) == "1" else "points"
    return (
        f"{kpi.label} on {when} {verb} {value_label(kpi, observed)}, {_amount(change)} {points} {side} "
        f"the expected {value_label(kpi, expected, True)}"
    )
