"""Feature adoption: which share of active users used each catalog feature.

A feature (``analytics.yaml`` ``features``) is used by emitting any of its events. Per
feature and period:

- unique_users: distinct users with at least one of the feature's events;
- usage_count: number of those events;
- adoption_rate: 100 * unique_users / active users (distinct users with any event in the
  same period: Plausible's visitors, see ``usage``), in percent; 0 when there are no
  active users;
- trend: "up" / "down" when the adoption rate changed by more than
  ``catalog.adoption_trend_threshold_pct`` percent (relative, Plausible change rules: old 0
  and new > 0 is +100 %) against the previous period, otherwise "stable".

Each feature's previous-period values are ``<column>_previous``; the adoption rate's change is
``adoption_rate_change`` in percentage points (its KPI change) and ``adoption_rate_change_pct``
relative, in percent (what the trend reads). The time series
has the same numbers per hour/day/week bucket of the reporting time zone, with distinct users
counted per bucket by the engine. An event listed under two features counts for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd

from ..catalog import Catalog
from ..kpi import POINTS, Kpi, KpiSpec
from ..results import Result, percent_change, point_change
from ..rollups.answers import kept
from ..rollups.derive import SLOT_SECONDS
from ..rollups.tables import tables_for
from ..sources.base import Source
from ..timerange import TimeRange
from . import buckets

TREND_UP, TREND_DOWN, TREND_STABLE = "up", "down", "stable"
# One KPI per feature (named after it): its adoption rate, compared in percentage points,
# with the feature's trend (the threshold rule above) as the direction of the move.
ADOPTION_KPI = KpiSpec("adoption", "Adoption", "%", "percent", change_unit=POINTS)


@dataclass(eq=False)
class FeatureAdoption(Result):
    """Per-feature adoption with the previous period, a trend label and a time series."""

    time_range: TimeRange
    granularity: str
    threshold_pct: float
    active_users: int
    features: pd.DataFrame
    timeseries: pd.DataFrame
    segment: str | None = None
    previous: dict[str, float] = field(default_factory=dict)  # active_users of the previous period

    @property
    def active_users_previous(self) -> int:
        """The older name of ``previous["active_users"]``."""
        return int(self.previous["active_users"])

    @property
    def kpis(self) -> list[Kpi]:
        """One tile per feature: adoption rate, change in percentage points, the feature's trend."""
        return [
            ADOPTION_KPI.of(
                r.adoption_rate,
                r.adoption_rate_previous,
                change=r.adoption_rate_change,
                trend=r.trend,
                name=f"adoption_{r.feature}",
                label=r.title,
            )
            for r in self.features.itertuples()
        ]


def trend_label(change_pct: float | None, threshold_pct: float) -> str:
    """Up/down when the relative change exceeds the threshold (strictly), else stable."""
    if change_pct is None:
        return TREND_STABLE
    if change_pct > threshold_pct:
        return TREND_UP
    if change_pct < -threshold_pct:
        return TREND_DOWN
    return TREND_STABLE


def _feature_map(catalog: Catalog) -> ir.Table:
    pairs = [(f.name, e) for f in catalog.features.values() for e in f.events]
    frame = pd.DataFrame(pairs, columns=["feature", "event_name"])
    return ibis.memtable(frame, schema={"feature": "string", "event_name": "string"})


@kept
def feature_adoption(
    source: Source,
    catalog: Catalog,
    time_range: TimeRange,
    granularity: str | None = None,
    *,
    segment: str | None = None,
) -> FeatureAdoption:
    """Adoption of every feature in ``catalog`` over ``time_range`` and its previous period."""
    granularity = buckets.check_granularity(granularity or time_range.default_granularity())
    prev = time_range.previous()
    tables = tables_for(source, time_range.end, catalog)
    first = int(time_range.start.timestamp() // SLOT_SECONDS)
    last, prev_first = int(time_range.end.timestamp() // SLOT_SECONDS), int(prev.start.timestamp() // SLOT_SECONDS)
    users = None
    if segment is not None:
        from .segments import users_in_segment

        users = users_in_segment(source, catalog, time_range, segment)

    def restricted(table: ir.Table) -> ir.Table:
        table = table.filter(table.slot >= prev_first, table.slot < last)
        return table if users is None else table.semi_join(users, "user_id")

    slots = restricted(tables.table("user_slots", prev.start, time_range.end))
    now = slots.slot >= first
    active = slots.aggregate(cur=slots.user_id.nunique(where=now), old=slots.user_id.nunique(where=~now)).execute()
    active_cur, active_old = int(active["cur"].iloc[0] or 0), int(active["old"].iloc[0] or 0)

    names = list(catalog.features)
    base = pd.DataFrame({"feature": names, "title": [catalog.features[n].title for n in names]})
    if names:
        fmap = _feature_map(catalog)
        events = restricted(tables.table("event_slots", prev.start, time_range.end))
        used = events.join(fmap, "event_name")
        is_cur = used.slot >= first
        uses = used.group_by(["feature", "user_id"]).aggregate(
            n=used.n.sum(where=is_cur), n_prev=used.n.sum(where=~is_cur)
        )
        uses = uses.mutate(n=uses.n.fill_null(0), n_prev=uses.n_prev.fill_null(0))
        per = (
            uses.group_by("feature")
            .aggregate(
                unique_users=(uses.n > 0).cast("int64").sum(),
                usage_count=uses.n.sum(),
                unique_users_previous=(uses.n_prev > 0).cast("int64").sum(),
                usage_count_previous=uses.n_prev.sum(),
            )
            .execute()
        )
    else:
        per = pd.DataFrame(
            columns=["feature", "unique_users", "usage_count", "unique_users_previous", "usage_count_previous"]
        )
    table = base.merge(per, on="feature", how="left")
    counts = ["unique_users", "usage_count", "unique_users_previous", "usage_count_previous"]
    table[counts] = table[counts].fillna(0).astype("int64")
    table["adoption_rate"] = [100.0 * u / active_cur if active_cur else 0.0 for u in table["unique_users"]]
    table["adoption_rate_previous"] = [
        100.0 * u / active_old if active_old else 0.0 for u in table["unique_users_previous"]
    ]
    table["adoption_rate_change_pct"] = [
        percent_change(n, o) for n, o in zip(table["adoption_rate"], table["adoption_rate_previous"], strict=True)
    ]
    table["adoption_rate_change"] = [
        point_change(n, o) for n, o in zip(table["adoption_rate"], table["adoption_rate_previous"], strict=True)
    ]
    table["trend"] = [trend_label(c, catalog.adoption_trend_threshold_pct) for c in table["adoption_rate_change_pct"]]
    table = table[
        [
            "feature",
            "title",
            "adoption_rate",
            "unique_users",
            "usage_count",
            "adoption_rate_previous",
            "unique_users_previous",
            "usage_count_previous",
            "adoption_rate_change",
            "adoption_rate_change_pct",
            "trend",
        ]
    ]
    return FeatureAdoption(
        time_range=time_range,
        granularity=granularity,
        threshold_pct=catalog.adoption_trend_threshold_pct,
        active_users=active_cur,
        features=table,
        timeseries=_timeseries(slots.filter(now), used.filter(is_cur), catalog, time_range, granularity)
        if names
        else _empty_series(),
        segment=segment,
        previous={"active_users": active_old},
    )


def _empty_series() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["bucket", "start", "feature", "active_users", "unique_users", "usage_count", "adoption_rate"]
    )


def _timeseries(
    slots: ir.Table, used: ir.Table, catalog: Catalog, time_range: TimeRange, granularity: str
) -> pd.DataFrame:
    """Active users and each feature's users and uses per bucket (slots and uses of the range)."""
    cal = buckets.calendar(time_range.start, time_range.end, time_range.tz, granularity)
    ev = cal.assign_slots(slots)
    active = ev.group_by("bucket").aggregate(active_users=ev.user_id.nunique()).execute()
    per_feature = cal.assign_slots(used)
    per = (
        per_feature.group_by(["bucket", "feature"])
        .aggregate(unique_users=per_feature.user_id.nunique(), usage_count=per_feature.n.sum())
        .execute()
    )
    grid = cal.buckets.merge(pd.DataFrame({"feature": list(catalog.features)}), how="cross")
    frame = grid.merge(active, on="bucket", how="left").merge(per, on=["bucket", "feature"], how="left")
    counts = ["active_users", "unique_users", "usage_count"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    active_f = frame["active_users"].astype("float64")
    frame["adoption_rate"] = (100.0 * frame["unique_users"] / active_f.where(active_f > 0)).fillna(0.0)
    return frame.sort_values(["bucket", "feature"]).reset_index(drop=True)[
        ["bucket", "start", "feature", "active_users", "unique_users", "usage_count", "adoption_rate"]
    ]
