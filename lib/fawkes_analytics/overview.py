"""The one-page summary of every area: the payload of the overview report, dashboard and metrics.

``build_overview`` computes every area of the registry (``areas.AREAS``) that belongs in the
overview, with the same compute functions the area reports use, so the overview can never
disagree with them. Its ``to_dict()`` is the complete dashboard payload (``data.json`` of the
overview report, under ``results["overview"]``) and ``Overview.from_dict`` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import areas
from .kpi import Kpi
from .results import Result, jsonable
from .timerange import TimeRange

if TYPE_CHECKING:  # the data layer (Ibis) only where the overview is computed
    from .catalog import Catalog
    from .sources import Source


@dataclass(eq=False)
class Overview(Result):
    """Every overview area for one time range: ``overview.usage``, ``overview.funnels``, ...

    ``results`` maps an area name to its result (``{name: result}`` for funnels and
    experiments); each area is also an attribute of the same name.
    """

    time_range: TimeRange
    results: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        results = self.__dict__.get("results") or {}
        if name in results:
            return results[name]
        raise AttributeError(f"the overview has no area {name!r} (it has: {', '.join(results)})")

    @property
    def kpis(self) -> list[Kpi]:
        """The overview's tiles: the KPIs of every area that shows them in the overview."""
        return [
            kpi
            for area in areas.AREAS
            if area.overview_kpis and area.name in self.results
            for kpi in self.area_kpis(area.name)
        ]

    def area_kpis(self, name: str) -> list[Kpi]:
        """The KPIs of one area of the overview (tagged with the area)."""
        return areas.area(name).kpis_of(self.results[name])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time_range": self.time_range.to_dict(),
            "kpis": {k.name: jsonable(k) for k in self.kpis},
        }
        for area in areas.AREAS:
            if area.name in self.results:
                out[area.name] = area.dump(self.results[area.name])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Overview:
        """The overview whose ``to_dict()`` is ``data`` (areas missing from it are left out)."""
        results = {area.name: area.load(data[area.name]) for area in areas.AREAS if data.get(area.name) is not None}
        return cls(TimeRange.from_dict(data["time_range"]), results)

    def to_frames(self) -> dict[str, pd.DataFrame]:
        frames: dict[str, pd.DataFrame] = {}
        for area in areas.AREAS:
            if area.name not in self.results:
                continue
            for item, result in area.items(self.results[area.name]):
                prefix = f"{area.item}_{item}" if area.item else area.name
                frames |= {f"{prefix}_{name}": frame for name, frame in result.to_frames().items()}
        return frames


def build_overview(
    source: Source,
    catalog: Catalog,
    time_range: TimeRange,
    experiments_as_of: datetime | None = None,
    only: Iterable[str] | None = None,
) -> Overview:
    """Compute the overview (or ``only`` the areas named); experiments are read cumulatively
    up to the end of the range."""
    wanted = set(only) if only is not None else None
    results = {
        area.name: area.run(source, catalog, time_range, as_of=experiments_as_of)
        for area in areas.AREAS
        if area.in_overview and (wanted is None or area.name in wanted)
    }
    return Overview(time_range, results)
