"""Bounded labels: long text is shortened with an ellipsis wherever it is shown.

Page paths, campaign names and breakdown values come from users. One 1 MB ``utm_campaign``
made a report's PDF time out, so every place that *shows* a label (HTML tables, KPI tiles,
chart axes and legends, email tables, Prometheus label values) passes it through
:func:`shorten`. The full value always stays in the CSV and JSON files.

The limit is ``FAWKES_ANALYTICS_MAX_LABEL_LENGTH`` characters (default 80, at least 8).
"""

from __future__ import annotations

from . import settings
from .errors import ParameterError

MAX_LABEL_ENV = "FAWKES_ANALYTICS_MAX_LABEL_LENGTH"
DEFAULT_MAX_LABEL = 80
ELLIPSIS = "…"


def max_label_length() -> int:
    """The configured limit (``$FAWKES_ANALYTICS_MAX_LABEL_LENGTH``, default 80)."""
    raw = settings.get("MAX_LABEL_LENGTH")
    if not raw:
        return DEFAULT_MAX_LABEL
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 8:
        raise ParameterError(MAX_LABEL_ENV, f"{raw!r} is not a label length", "a whole number >= 8")
    return value


def shorten(value: object, limit: int | None = None) -> str:
    """``value`` as text of at most ``limit`` characters, ending in an ellipsis when cut."""
    text = "" if value is None else str(value)
    limit = limit or max_label_length()
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS
