"""The KPIs that are checked for unusual changes, with what a reader needs to show them.

Issue 21 names them: visitors, visits, pageviews, bounce rate, visit duration, each
funnel's conversion, each feature's adoption and NPS. Each ``KpiSpec`` says how its daily
value behaves, which decides how it is modelled and worded:

- ``count`` (visitors, visits, pageviews) and ``duration`` (visit duration): positive
  quantities whose weekly cycle and noise grow with their level; modelled on the log scale,
  changes are stated in percent ("38% below the expected 41,200");
- ``rate`` (bounce rate, conversion, adoption, in percent) and ``score`` (NPS, -100..100):
  modelled as they are, changes are stated in points ("6.2 points above the expected 19.9%").

KPI names are stable identifiers (Prometheus labels, analytics.yaml sensitivity keys):
``visitors``, ``visits``, ``pageviews``, ``bounce_rate``, ``visit_duration``,
``conversion.<funnel>``, ``adoption.<feature>``, ``nps``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..catalog import Catalog

COUNT, DURATION, RATE, SCORE = "count", "duration", "rate", "score"
KINDS = (COUNT, DURATION, RATE, SCORE)
USAGE = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")


@dataclass(frozen=True)
class KpiSpec:
    """One daily KPI: identity, how it is shown, how it behaves.

    ``unit`` is "" for counts, "%" for rates, "s" for durations, "points" for NPS;
    ``higher_is_better`` says whether a rise is good news (False for the bounce rate);
    ``forecast`` whether issue 21 asks for a 14-day forecast of it (usage and conversions);
    ``settle_days`` how many days after a day its value is final (a funnel's conversion
    window: people who entered today may still convert for that long).
    """

    name: str
    label: str
    kind: str
    unit: str
    higher_is_better: bool = True
    forecast: bool = False
    settle_days: int = 0

    @property
    def log_scale(self) -> bool:
        """Whether the model works on log values (counts and durations)."""
        return self.kind in (COUNT, DURATION)

    @property
    def change_unit(self) -> str:
        """How a change is stated: "percent" (counts, durations) or "points" (rates, NPS)."""
        return "percent" if self.log_scale else "points"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> KpiSpec:
        return cls(**raw)


def usage_kpis() -> list[KpiSpec]:
    return [
        KpiSpec("visitors", "Visitors", COUNT, "", forecast=True),
        KpiSpec("visits", "Visits", COUNT, "", forecast=True),
        KpiSpec("pageviews", "Pageviews", COUNT, "", forecast=True),
        KpiSpec("bounce_rate", "Bounce rate", RATE, "%", higher_is_better=False, forecast=True),
        KpiSpec("visit_duration", "Visit duration", DURATION, "s", forecast=True),
    ]


def all_kpis(catalog: Catalog) -> list[KpiSpec]:
    """Every KPI of issue 21 for ``catalog``: usage, each (ordered or strict) funnel, each feature, NPS."""
    funnels = [
        KpiSpec(
            f"conversion.{f.name}",
            f"{f.title} conversion",
            RATE,
            "%",
            forecast=True,
            settle_days=max(1, -(-int(f.window.total_seconds()) // 86_400)),
        )
        for f in catalog.funnels.values()
        if f.order != "unordered"  # a sliding window per period: one funnel pass per day (series.py)
    ]
    features = [KpiSpec(f"adoption.{f.name}", f"{f.title} adoption", RATE, "%") for f in catalog.features.values()]
    return [*usage_kpis(), *funnels, *features, KpiSpec("nps", "NPS", SCORE, "points")]
