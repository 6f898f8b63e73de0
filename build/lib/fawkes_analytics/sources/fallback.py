"""Honest degradation: run from the last good data, and say so, when a source is down.

A source that cannot be reached does not stop the report if an earlier answer is on disk
(the HTTP response cache keeps every validated response). The report then runs on that
data and carries a ``SourceStatus`` whose ``banner`` reads "source unavailable, data as of
<time>"; reports print it above everything else. With no earlier data there is nothing
honest to show, so ``SourceUnavailable`` is raised instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..errors import SourceUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class SourceStatus:
    """Whether a source answered live, or the data is an older copy and from when."""

    source: str
    available: bool = True
    data_as_of: datetime | None = None
    reason: str | None = None
    endpoints: tuple[str, ...] = ()

    @property
    def banner(self) -> str | None:
        """The prominent line reports show when data is not live; None when all is well."""
        if self.available:
            return None
        when = self.data_as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if self.data_as_of else "unknown"
        text = f"source unavailable, data as of {when}"
        if self.reason:
            text += f" ({self.source}: {self.reason})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "available": self.available,
            "data_as_of": self.data_as_of.isoformat() if self.data_as_of else None,
            "reason": self.reason,
            "endpoints": list(self.endpoints),
            "banner": self.banner,
        }


@dataclass
class StatusTracker:
    """Collects, over one source's requests, which answers came from last good data."""

    source: str
    fallbacks: list[tuple[str, datetime, str]] = field(default_factory=list)

    def record_fallback(self, endpoint: str, data_as_of: datetime, reason: str) -> None:
        self.fallbacks.append((endpoint, data_as_of, reason))

    def reset(self) -> None:
        self.fallbacks.clear()

    @property
    def status(self) -> SourceStatus:
        """Available unless some answer was a fallback; then as of the oldest such answer."""
        if not self.fallbacks:
            return SourceStatus(self.source)
        oldest = min(self.fallbacks, key=lambda item: item[1])
        return SourceStatus(
            self.source,
            available=False,
            data_as_of=oldest[1],
            reason=oldest[2],
            endpoints=tuple(dict.fromkeys(endpoint for endpoint, _, _ in self.fallbacks)),
        )


def with_last_good(
    fetch: Callable[[], T],
    last_good: Callable[[], tuple[T, datetime] | None],
    tracker: StatusTracker,
    endpoint: str,
) -> tuple[T, datetime, bool]:
    """Call ``fetch``; if the source is unavailable, use ``last_good`` and record it.

    Returns ``(value, as_of, is_fallback)``. Raises ``SourceUnavailable`` naming the
    endpoint when the source is down and there is no earlier data.
    """
    try:
        return fetch(), datetime.now(UTC), False
    except SourceUnavailable as exc:
        previous = last_good()
        if previous is None:
            raise SourceUnavailable(f"{exc}; no earlier data for {endpoint} to fall back on") from exc
        value, as_of = previous
        tracker.record_fallback(endpoint, as_of, str(exc))
        return value, as_of, True


__all__ = ["SourceStatus", "StatusTracker", "with_last_good"]
