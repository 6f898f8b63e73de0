"""Live recompute for a viewer who changes a control: the registry's compute functions.

The result is an ``Overview`` holding the areas a page shows, the same type the published
run is rebuilt into, so the dashboard renders published and live numbers with one set of
views. Results are cached per (areas, range, time zone, segment, funnel, experiment) for
the life of the kernel, and ``clear()`` forgets them (the Refresh button).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import areas, sources, timerange
from .. import catalog as catalog_module


@dataclass(frozen=True)
class LiveResult:
    """A live recompute: the overview of the wanted areas and how fresh the data was."""

    overview: Any  # overview.Overview
    data_as_of: datetime | None


@dataclass
class LiveCompute:
    """Opens the configured source and catalog on first use and computes page areas."""

    source_url: str | None = None
    catalog_path: str | None = None
    _source: Any = None
    _catalog: Any = None
    _cache: dict[tuple, LiveResult] = field(default_factory=dict)

    @property
    def source(self) -> sources.Source:
        if self._source is None:
            self._source = sources.connect(self.source_url)
        return self._source

    @property
    def catalog(self) -> catalog_module.Catalog:
        if self._catalog is None:
            self._catalog = catalog_module.load(self.catalog_path)
        return self._catalog

    def clear(self) -> None:
        """Forget cached results and reconnect next time (new data may have arrived)."""
        self._cache.clear()
        self._source = None
        self._catalog = None

    def resolve(self, label: str, tz: str = "UTC") -> timerange.TimeRange:
        """The range ending at the data's default as-of time (the end of demo data)."""
        return timerange.resolve(label, tz=tz, as_of=self.source.default_as_of())

    def areas(
        self,
        wanted: Iterable[str],
        time_range: str,
        *,
        tz: str = "UTC",
        segment: str | None = None,
        funnel: str | None = None,
        experiment: str | None = None,
    ) -> LiveResult:
        """Compute the wanted areas for ``time_range`` (a label such as '30d').

        ``segment`` restricts the areas that accept one (usage, feature adoption) to one
        engagement segment; ``funnel`` / ``experiment`` limit those areas to one item.
        """
        wanted = tuple(a.name for a in areas.AREAS if a.name in set(wanted))
        key = (wanted, time_range, tz, segment, funnel, experiment)
        if key not in self._cache:
            self._cache[key] = self._compute(wanted, time_range, tz, segment, funnel, experiment)
        return self._cache[key]

    def _compute(
        self,
        wanted: tuple[str, ...],
        label: str,
        tz: str,
        segment: str | None,
        funnel: str | None,
        experiment: str | None,
    ) -> LiveResult:
        from ..overview import Overview

        source, catalog = self.source, self.catalog
        resolved = self.resolve(label, tz)
        options = {
            "segment": segment,
            "names": [funnel] if funnel else None,
            "ids": [experiment] if experiment else None,
        }
        results = {name: areas.area(name).run(source, catalog, resolved, **options) for name in wanted}
        return LiveResult(Overview(resolved, results), source.data_as_of())
