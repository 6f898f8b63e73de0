"""Live recompute for a viewer who changes a control: the same library calls the reports use.

The result has the shape of the published ``data.json`` areas (``Overview.to_dict()``), so
the dashboard renders published and live numbers with one set of views. Only the areas a
page shows are computed; results are cached per (page, range, segment, funnel, experiment)
for the life of the kernel, and ``clear()`` forgets them (the Refresh button).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import catalog as catalog_module
from .. import sources, timerange
from ..results import jsonable
from .published import AREAS as ALL_AREAS


@dataclass
class LiveCompute:
    """Opens the configured source and catalog on first use and computes page areas."""

    source_url: str | None = None
    catalog_path: str | None = None
    _source: Any = None
    _catalog: Any = None
    _cache: dict[tuple, dict[str, Any]] = field(default_factory=dict)

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
    ) -> dict[str, Any]:
        """Compute the wanted areas for ``time_range`` (a label such as '30d').

        ``segment`` restricts usage and feature adoption to one engagement segment;
        ``funnel`` / ``experiment`` limit those areas to one funnel or experiment.
        """
        wanted = tuple(a for a in ALL_AREAS if a in set(wanted))
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
    ) -> dict[str, Any]:
        from ..experiments import analyze_experiment
        from ..metrics import feature_adoption, feedback_summary, usage_trends, user_segments
        from ..metrics.funnels import funnel_report
        from ..overview import build_overview
        from ..views import feedback_kpis, funnel_kpis

        source, catalog = self.source, self.catalog
        resolved = self.resolve(label, tz)
        out: dict[str, Any] = {"time_range": resolved.to_dict(), "data_as_of": jsonable(source.data_as_of())}
        whole = set(wanted) == set(ALL_AREAS)
        if whole and segment is None and funnel is None and experiment is None:
            overview = build_overview(source, catalog, resolved)
            usage, funnels = overview.usage, overview.funnels
            out |= overview.to_dict()
        else:
            usage = funnels = None
            if "usage" in wanted or "kpis" in wanted:
                usage = usage_trends(source, resolved, segment=segment, catalog=catalog)
                out["usage"] = usage.to_dict()
            if "features" in wanted:
                out["features"] = feature_adoption(source, catalog, resolved, segment=segment).to_dict()
            if "segments" in wanted:
                out["segments"] = user_segments(source, catalog, resolved).to_dict()
            if "funnels" in wanted:
                names = [funnel] if funnel else list(catalog.funnels)
                funnels = {n: funnel_report(source, catalog.funnels[n], resolved) for n in names}
                out["funnels"] = {n: r.to_dict() for n, r in funnels.items()}
            if "experiments" in wanted:
                ids = [experiment] if experiment else list(catalog.experiment_ids)
                out["experiments"] = {
                    e: analyze_experiment(source, catalog, e, as_of=resolved.end).to_dict() for e in ids
                }
        if "kpis" in wanted and usage is not None:
            kpis = list(usage.kpis)
            if whole and funnels:  # the overview report's tiles: usage, funnel conversion, NPS
                kpis += funnel_kpis(funnels) + feedback_kpis(feedback_summary(source, resolved))
            out["kpis"] = {k.name: jsonable(k) for k in kpis}
        return out
