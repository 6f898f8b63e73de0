"""Feedback: Net Promoter Score and rating distribution, over time and by category.

NPS (Bain / Satmetrix definition): among NPS responses (``kind`` 'nps', or no kind) scored
0-10, promoters score 9-10, passives 7-8, detractors 0-6; NPS = % promoters - % detractors,
from -100 to 100; its change against the previous period is in points. With no responses
the NPS is None ("not enough data"), never 0 or NaN. Ratings (``kind`` 'rating') are shown
as a distribution of scores with their mean, per bucket of the reporting time zone and per
category (responses without a category are grouped under "(none)").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis.expr.types as ir
import pandas as pd

from ..kpi import POINTS, Kpi, KpiSpec, percent_change
from ..results import Result, point_change
from ..rollups.answers import kept
from ..rollups.derive import SLOT_SECONDS
from ..rollups.tables import tables_for
from ..sources.base import Source
from ..timerange import TimeRange
from . import buckets

NONE_LABEL = "(none)"


# NPS runs from -100 to 100; its change is in points.
KPIS = (
    KpiSpec("nps", "Net promoter score", "", "score", change_unit=POINTS),
    KpiSpec("responses", "Survey responses"),
)
KPI_NAMES = {"nps": "nps", "responses": "nps_responses"}  # the names reports and data.json use


@dataclass(eq=False)
class FeedbackSummary(Result):
    """NPS with its previous period, NPS over time and by category, rating distributions.

    ``previous`` and ``change`` hold the previous period's ``nps`` and ``responses`` and their
    changes (NPS in points, responses in percent).
    """

    time_range: TimeRange
    granularity: str
    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    ratings: int
    rating_mean: float | None
    nps_timeseries: pd.DataFrame
    nps_by_category: pd.DataFrame
    rating_distribution: pd.DataFrame
    rating_timeseries: pd.DataFrame
    rating_by_category: pd.DataFrame
    previous: dict[str, float | None] = field(default_factory=dict)
    change: dict[str, float | None] = field(default_factory=dict)

    @property
    def nps_previous(self) -> float | None:
        """The older name of ``previous["nps"]``."""
        return self.previous.get("nps")

    @property
    def nps_change(self) -> float | None:
        """The older name of ``change["nps"]``."""
        return self.change.get("nps")

    @property
    def kpis(self) -> list[Kpi]:
        """The NPS and the number of NPS responses, against the previous period."""
        return [
            spec.of(getattr(self, spec.name), self.previous.get(spec.name), name=KPI_NAMES[spec.name]) for spec in KPIS
        ]


def nps_score(promoters: int, detractors: int, responses: int) -> float | None:
    """% promoters - % detractors, or None without responses."""
    return 100.0 * (promoters - detractors) / responses if responses else None


def _nps_counts(table: ir.Table) -> dict[str, ir.Value]:
    """Responses by NPS group of a table of ``score, responses`` rows (counts per score)."""
    n = table.responses
    return {
        "responses": n.sum(),
        "promoters": n.sum(where=table.score >= 9),
        "passives": n.sum(where=(table.score >= 7) & (table.score <= 8)),
        "detractors": n.sum(where=table.score <= 6),
    }


def _with_nps(frame: pd.DataFrame) -> pd.DataFrame:
    counts = ["responses", "promoters", "passives", "detractors"]
    frame[counts] = frame[counts].apply(pd.to_numeric).fillna(0).astype("int64")
    frame["nps"] = [
        nps_score(p, d, n) for p, d, n in zip(frame["promoters"], frame["detractors"], frame["responses"], strict=True)
    ]
    return frame


@kept
def feedback_summary(source: Source, time_range: TimeRange, granularity: str | None = None) -> FeedbackSummary:
    """NPS and ratings for ``time_range`` (NPS also for the previous period)."""
    granularity = buckets.check_granularity(granularity or time_range.default_granularity())
    prev = time_range.previous()
    first, last = int(time_range.start.timestamp()) // SLOT_SECONDS, int(time_range.end.timestamp()) // SLOT_SECONDS
    prev_first = int(prev.start.timestamp()) // SLOT_SECONDS
    fb = tables_for(source, time_range.end).table("feedback_slots", prev.start, time_range.end)
    fb = fb.mutate(category=fb.category.fill_null(NONE_LABEL))
    both = fb.filter(fb.slot >= prev_first, fb.slot < last)
    nps_rows = both.filter(both.kind == "nps")
    periods = nps_rows.group_by(current=nps_rows.slot >= first).aggregate(**_nps_counts(nps_rows)).execute()
    cur = periods[periods["current"]]
    old = periods[~periods["current"].astype(bool)]

    def pick(frame: pd.DataFrame, name: str) -> int:
        value = frame[name].iloc[0] if len(frame) else None
        return 0 if value is None or pd.isna(value) else int(value)

    nps_now = nps_score(pick(cur, "promoters"), pick(cur, "detractors"), pick(cur, "responses"))
    nps_old = nps_score(pick(old, "promoters"), pick(old, "detractors"), pick(old, "responses"))

    in_range = both.filter(both.slot >= first)
    nps_in = in_range.filter(in_range.kind == "nps")
    cal = buckets.calendar(time_range.start, time_range.end, time_range.tz, granularity)
    nb = cal.assign_slots(nps_in)
    series = _with_nps(cal.label(nb.group_by("bucket").aggregate(**_nps_counts(nb)).execute()))
    by_category = _with_nps(nps_in.group_by("category").aggregate(**_nps_counts(nps_in)).execute())
    by_category = by_category.sort_values("category").reset_index(drop=True)

    rated = in_range.filter(in_range.kind == "rating")
    dist = (
        rated.group_by("score")
        .aggregate(responses=rated.responses.sum())
        .execute()
        .sort_values("score")
        .reset_index(drop=True)
    )
    total = int(dist["responses"].sum()) if len(dist) else 0
    dist["share"] = 100.0 * dist["responses"] / total if total else []
    mean = float((dist["score"] * dist["responses"]).sum() / total) if total else None
    rb = cal.assign_slots(rated)
    rating_series = rb.group_by(["bucket", "score"]).aggregate(responses=rb.responses.sum()).execute()
    rating_series = (
        cal.buckets.merge(rating_series, on="bucket", how="inner")
        .sort_values(["bucket", "score"])
        .reset_index(drop=True)
    )
    rating_cat = rated.group_by(["category", "score"]).aggregate(responses=rated.responses.sum()).execute()
    rating_cat = rating_cat.sort_values(["category", "score"]).reset_index(drop=True)
    return FeedbackSummary(
        time_range=time_range,
        granularity=granularity,
        responses=pick(cur, "responses"),
        promoters=pick(cur, "promoters"),
        passives=pick(cur, "passives"),
        detractors=pick(cur, "detractors"),
        nps=nps_now,
        ratings=total,
        rating_mean=mean,
        nps_timeseries=series[["bucket", "start", "responses", "promoters", "passives", "detractors", "nps"]],
        nps_by_category=by_category[["category", "responses", "promoters", "passives", "detractors", "nps"]],
        rating_distribution=dist,
        rating_timeseries=rating_series,
        rating_by_category=rating_cat,
        previous={"nps": nps_old, "responses": pick(old, "responses")},
        change={
            "nps": point_change(nps_now, nps_old),
            "responses": percent_change(pick(cur, "responses"), pick(old, "responses")),
        },
    )


__all__ = ["FeedbackSummary", "feedback_summary", "nps_score"]
