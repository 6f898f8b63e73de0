"""Honest degradation: run from the last good data, and say so, when a source is down.

A source that cannot be reached does not stop the report if an earlier answer is on disk
(the HTTP response cache keeps every validated response). The report then runs on that
data and carries a ``SourceStatus`` whose ``banner`` says so and names what it shows:
"source unavailable, data as of <time> from run <run id> (covering <range>)";
reports print it above everything else. With no earlier data there is nothing honest to
show, so ``SourceUnavailable`` is raised instead.

The last good answer is found *by meaning*, not by the exact request: the newest answer to
the same query (same report, endpoint, metrics, dimensions, filters) for the same range
label ("24h", "previous 7d", ...), whatever its exact timestamps. A 24h report a second
later, or a 7d report the next day, therefore falls back to the last good 24h or 7d data.
A custom range means its own start and end, so it only falls back to the same custom range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..errors import SourceUnavailable

T = TypeVar("T")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Fallback:
    """One answer served from last good data: where it was asked, from when, from which run."""

    endpoint: str
    data_as_of: datetime
    reason: str
    origin: Mapping[str, Any] = field(default_factory=dict)  # run_id, report, range (start, end)


@dataclass(frozen=True)
class SourceStatus:
    """Whether a source answered live, or the data is an older copy and from when."""

    source: str
    available: bool = True
    data_as_of: datetime | None = None
    reason: str | None = None
    endpoints: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    data_range: tuple[str, str] | None = None

    @property
    def banner(self) -> str | None:
        """The prominent line reports show when data is not live; None when all is well."""
        if self.available:
            return None
        when = _when(self.data_as_of) if self.data_as_of else "unknown"
        text = f"source unavailable, data as of {when}"
        if self.runs:
            text += f" from run {', '.join(self.runs)}"
        if self.data_range:
            start, end = (_when(datetime.fromisoformat(v)) for v in self.data_range)
            text += f" (covering {start} to {end})"
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
            "runs": list(self.runs),
            "data_range": list(self.data_range) if self.data_range else None,
            "banner": self.banner,
        }


@dataclass
class StatusTracker:
    """Collects, over one source's requests, which answers came from last good data."""

    source: str
    fallbacks: list[Fallback] = field(default_factory=list)

    def record_fallback(
        self, endpoint: str, data_as_of: datetime, reason: str, origin: Mapping[str, Any] | None = None
    ) -> None:
        self.fallbacks.append(Fallback(endpoint, data_as_of, reason, dict(origin or {})))

    def reset(self) -> None:
        self.fallbacks.clear()

    @property
    def status(self) -> SourceStatus:
        """Available unless some answer was a fallback; then as of the oldest such answer."""
        if not self.fallbacks:
            return SourceStatus(self.source)
        oldest = min(self.fallbacks, key=lambda item: item.data_as_of)
        runs = tuple(dict.fromkeys(f.origin["run_id"] for f in self.fallbacks if f.origin.get("run_id")))
        covered = oldest.origin.get("range")
        return SourceStatus(
            self.source,
            available=False,
            data_as_of=oldest.data_as_of,
            reason=oldest.reason,
            endpoints=tuple(dict.fromkeys(f.endpoint for f in self.fallbacks)),
            runs=runs,
            data_range=tuple(covered) if covered else None,
        )


def with_last_good(
    fetch: Callable[[], T],
    last_good: Callable[[], tuple[T, datetime] | tuple[T, datetime, Mapping[str, Any]] | None],
    tracker: StatusTracker,
    endpoint: str,
) -> tuple[T, datetime, bool]:
    """Call ``fetch``; if the source is unavailable, use ``last_good`` and record it.

    ``last_good`` returns ``(value, as_of)`` or ``(value, as_of, origin)`` where origin names
    the run and range the data came from. Returns ``(value, as_of, is_fallback)``. Raises
    ``SourceUnavailable`` naming the endpoint when the source is down and there is no
    earlier data.
    """
    try:
        return fetch(), datetime.now(UTC), False
    except SourceUnavailable as exc:
        previous = last_good()
        if previous is None:
            raise SourceUnavailable(f"{exc}; no earlier data for {endpoint} to fall back on") from exc
        value, as_of, *rest = previous
        tracker.record_fallback(endpoint, as_of, str(exc), rest[0] if rest else None)
        return value, as_of, True


__all__ = ["Fallback", "SourceStatus", "StatusTracker", "with_last_good"]
