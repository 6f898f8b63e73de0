"""The one-page summary of every area: the payload of the overview report and dashboard.

``build_overview`` computes usage, feature adoption, segments, the funnels and every
experiment of the catalog for one time range, with the same library calls the area reports
use, so the overview can never disagree with them. Its ``to_dict()`` is the complete
dashboard payload (``data.json`` of the overview report) that Voilà reads on first paint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from .catalog import Catalog
from .experiments import ExperimentResult, analyze_experiment
from .metrics import FeatureAdoption, UsageTrends, UserSegments, feature_adoption, usage_trends, user_segments
from .metrics.funnels import FunnelResult, funnel_reports
from .metrics.kpis import Kpi
from .results import Result, jsonable
from .sources import Source
from .timerange import TimeRange


@dataclass
class Overview(Result):
    """Every area for one time range."""

    time_range: TimeRange
    usage: UsageTrends
    features: FeatureAdoption
    segments: UserSegments
    funnels: dict[str, FunnelResult]
    experiments: dict[str, ExperimentResult]

    @property
    def kpis(self) -> list[Kpi]:
        return list(self.usage.kpis)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_range": self.time_range.to_dict(),
            "kpis": {k.name: jsonable(k) for k in self.kpis},
            "usage": self.usage.to_dict(),
            "features": self.features.to_dict(),
            "segments": self.segments.to_dict(),
            "funnels": {name: result.to_dict() for name, result in self.funnels.items()},
            "experiments": {name: result.to_dict() for name, result in self.experiments.items()},
        }

    def to_frames(self) -> dict[str, pd.DataFrame]:
        frames: dict[str, pd.DataFrame] = {}
        parts: dict[str, Result] = {"usage": self.usage, "features": self.features, "segments": self.segments}
        parts |= {f"funnel_{n}": r for n, r in self.funnels.items()} | {
            f"experiment_{n}": r for n, r in self.experiments.items()
        }
        for prefix, result in parts.items():
            frames |= {f"{prefix}_{name}": frame for name, frame in result.to_frames().items()}
        return frames


def build_overview(
    source: Source, catalog: Catalog, time_range: TimeRange, experiments_as_of: datetime | None = None
) -> Overview:
    """Compute the overview; experiments are read cumulatively up to the end of the range."""
    as_of = experiments_as_of or time_range.end
    return Overview(
        time_range=time_range,
        usage=usage_trends(source, time_range),
        features=feature_adoption(source, catalog, time_range),
        segments=user_segments(source, catalog, time_range),
        funnels=funnel_reports(source, catalog.funnels.values(), time_range),
        experiments={e: analyze_experiment(source, catalog, e, as_of=as_of) for e in catalog.experiment_ids},
    )
