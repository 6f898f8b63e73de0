"""Engagement segments from rules in ``analytics.yaml`` and the power-user curve (L7/L28).

Rule vocabulary (``segments.rules``, tried in order; a user joins the first segment whose
rule matches, so each user is in exactly one segment). Every window counts back from the end
of the report range in whole 24-hour days ("the last 7 days" is ``[end - 7 x 24 h, end)``):

- ``first_seen_within_days: N``       first event ever lies in the last N days
- ``active_within_days: N``           at least one event in the last N days
- ``inactive_within_days: N``         no event in the last N days
- ``active_days_in_last_N_at_least: K``  events on at least K of the last N days
- ``engagement_at_least: X``          engagement score (0-10) of at least X
- ``engagement_percentile_at_least: P``  score percent rank (0-100) of at least P among the
  population: ``90`` is the top decile. Users with equal scores share a rank.
- ``any: [conditions]`` / ``all: [conditions]``: either / every condition holds (conditions
  are mappings of the keys above, and may nest).
Several keys in one rule must all hold; a rule with only a ``name`` matches everyone.

Population: users with any event in the horizon, the largest window any rule names (at
least 28 days). A user no rule matches is put in segment ``other`` (absent with the default
rules, whose last rule takes every active user).

Activity comes from the derived tables (``rollups``): an active day is a 24-hour day with any
kept event, engagement events included; ``events`` counts session events (pageviews and
custom events, not engagement events); a user's first event is their first kept event.

Engagement score (0-10), over the horizon, monotone in each input::

    10 * (0.5 * active_days / horizon_days
          + 0.3 * min(ln(1 + events) / ln(1 + 1000), 1)
          + 0.2 * features_used / number_of_catalog_features)

Power-user curve: users by number of active days among the last 7 (L7) and 28 (L28) days.

KPIs: the users in scope and the size of each segment, against the previous period when
``user_segments(..., compare=True)`` computed it (``previous`` and ``change``, keyed
``population`` and by segment name). Whether a growing segment is good news depends on the
segment: more new and power users is good, more at-risk users is bad, the rest is neutral.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from ..catalog import Catalog
from ..errors import ConfigError, ParameterError
from ..kpi import HIGHER_IS_BETTER, LOWER_IS_BETTER, NEUTRAL, Kpi, KpiSpec, percent_change
from ..results import Result
from ..rollups.answers import kept
from ..rollups.derive import SLOT_SECONDS
from ..rollups.tables import tables_for
from ..sources.base import Source
from ..timerange import TimeRange
from .materialise import materialised

OTHER = "other"
MIN_HORIZON_DAYS = 28
EVENTS_SATURATION = 1000
WEIGHTS = {"active_days": 0.5, "events": 0.3, "features": 0.2}
DAY = 86400

DEFAULT_RULES: list[dict[str, Any]] = [
    {"name": "new", "first_seen_within_days": 7},
    {"name": "at_risk", "active_within_days": 28, "inactive_within_days": 14},
    {"name": "power", "any": [{"active_days_in_last_7_at_least": 4}, {"engagement_percentile_at_least": 90}]},
    {"name": "regular", "active_within_days": 28},
]
_ACTIVE_DAYS = re.compile(r"^active_days_in_last_(\d+)_at_least$")
_SIMPLE = {
    "first_seen_within_days": "days",
    "active_within_days": "days",
    "inactive_within_days": "days",
    "engagement_at_least": "score",
    "engagement_percentile_at_least": "percent",
}


@dataclass(frozen=True)
class Condition:
    """One test on a user's activity, or a combination (``any``/``all``) of tests."""

    kind: str
    value: float = 0.0
    window: int = 0
    parts: tuple[Condition, ...] = ()

    def windows(self) -> set[int]:
        own = {int(self.value)} if self.kind.endswith("within_days") else set()
        if self.window:
            own.add(self.window)
        return own.union(*(p.windows() for p in self.parts))

    def expr(self, users: ir.Table) -> ir.BooleanValue:
        if self.kind in ("any", "all"):
            parts = [p.expr(users) for p in self.parts]
            out = parts[0]
            for p in parts[1:]:
                out = (out | p) if self.kind == "any" else (out & p)
            return out
        days = int(self.value)
        if self.kind == "first_seen_within_days":
            return users.first_idx < days
        if self.kind == "active_within_days":
            return users.last_idx < days
        if self.kind == "inactive_within_days":
            return users.last_idx >= days
        if self.kind == "active_days":
            return users[f"days_{self.window}"] >= self.value
        if self.kind == "engagement_at_least":
            return users.engagement >= self.value
        return users.engagement_percentile >= self.value  # engagement_percentile_at_least


@dataclass(frozen=True)
class Rule:
    name: str
    condition: Condition | None  # None matches everyone


def _number(value: Any, path: str, key: str, low: float, high: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(path, key, f"{value!r} is not allowed (allowed: a number {bound})")
    return float(value)


def _parse_conditions(raw: Any, path: str, where: str) -> list[Condition]:
    if not isinstance(raw, dict):
        raise ConfigError(path, where, "a condition must be a mapping such as {active_within_days: 28}")
    out = []
    for key, value in raw.items():
        if key == "name":
            continue
        at = f"{where}.{key}"
        if key in ("any", "all"):
            if not isinstance(value, list) or not value:
                raise ConfigError(path, at, "must be a non-empty list of conditions")
            parts = tuple(
                _combine(_parse_conditions(v, path, f"{at}[{i}]"), path, f"{at}[{i}]") for i, v in enumerate(value)
            )
            out.append(Condition(key, parts=parts))
        elif (match := _ACTIVE_DAYS.match(str(key))) is not None:
            window = int(match.group(1))
            if window < 1:
                raise ConfigError(path, at, "the window must be at least 1 day")
            out.append(Condition("active_days", _number(value, path, at, 1, window), window))
        elif key in _SIMPLE:
            kind = _SIMPLE[key]
            if kind == "days":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(path, at, f"{value!r} is not allowed (allowed: a whole number of days >= 1)")
                out.append(Condition(key, float(value)))
            else:
                out.append(Condition(key, _number(value, path, at, 0, 10 if kind == "score" else 100)))
        else:
            allowed = ", ".join([*_SIMPLE, "active_days_in_last_<N>_at_least", "any", "all"])
            raise ConfigError(path, at, f"unknown condition {key!r} (allowed: {allowed})")
    return out


def _combine(conditions: list[Condition], path: str, where: str) -> Condition:
    if not conditions:
        raise ConfigError(path, where, "a condition inside any/all needs at least one key")
    return conditions[0] if len(conditions) == 1 else Condition("all", parts=tuple(conditions))


def parse_rules(catalog: Catalog) -> list[Rule]:
    """The segment rules of ``catalog`` (the SEMANTICS.md defaults when none are given)."""
    raw = catalog.segments_raw or {}
    path = catalog.path
    if not isinstance(raw, dict):
        raise ConfigError(path, "segments", "must be a mapping with a 'rules' list")
    rules_raw = raw.get("rules", DEFAULT_RULES)
    if not isinstance(rules_raw, list) or not rules_raw:
        raise ConfigError(path, "segments.rules", "must be a non-empty list of rules")
    rules, seen = [], set()
    for i, item in enumerate(rules_raw):
        where = f"segments.rules[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ConfigError(path, f"{where}.name", "every rule needs a name")
        name = item["name"]
        if name in seen or name == OTHER:
            raise ConfigError(
                path, f"{where}.name", f"name {name!r} is {'reserved' if name == OTHER else 'defined twice'}"
            )
        seen.add(name)
        conditions = _parse_conditions(item, path, where)
        rules.append(
            Rule(
                name,
                (conditions[0] if len(conditions) == 1 else Condition("all", parts=tuple(conditions)))
                if conditions
                else None,
            )
        )
    return rules


def horizon_days(rules: list[Rule]) -> int:
    """Days of history the rules look at (at least 28, for L28 and the engagement score)."""
    windows = {w for r in rules if r.condition for w in r.condition.windows()}
    return max([MIN_HORIZON_DAYS, *windows])


def _active_day_windows(rules: list[Rule]) -> set[int]:
    def walk(c: Condition) -> set[int]:
        own = {c.window} if c.kind == "active_days" else set()
        return own.union(*(walk(p) for p in c.parts))

    return {7, 28}.union(*(walk(r.condition) for r in rules if r.condition))


def user_activity(source: Source, catalog: Catalog, time_range: TimeRange, rules: list[Rule] | None = None) -> ir.Table:
    """Per-user activity, engagement score and segment over the horizon (an Ibis expression).

    Columns: user_id, first_idx / last_idx (24-hour days back from the range end of the first
    event ever and of the latest event), events, days_7, days_28 (and other windows the rules
    use), features_used, engagement, engagement_percentile, segment.
    """
    rules = rules if rules is not None else parse_rules(catalog)
    horizon = horizon_days(rules)
    window_start = time_range.end - timedelta(days=horizon)
    end_epoch = math.ceil(time_range.end.timestamp())
    first_slot, last_slot = (
        int(window_start.timestamp()) // SLOT_SECONDS,
        int(time_range.end.timestamp()) // SLOT_SECONDS,
    )
    tables = tables_for(source, time_range.end, catalog)
    recent = tables.table("user_slots", window_start, time_range.end)
    recent = recent.filter(recent.slot >= first_slot, recent.slot < last_slot)
    # Day index back from the end: exact per slot, as the end is a whole quarter hour.
    recent = recent.mutate(idx=((end_epoch - 1 - recent.slot * SLOT_SECONDS) // DAY).cast("int64"))
    day_windows = sorted(_active_day_windows(rules))
    # One row per user and active day first; the per-user figures are plain sums of it.
    daily = recent.group_by(["user_id", "idx"]).aggregate(n=recent.events.sum())
    stats = daily.group_by("user_id").aggregate(
        events=daily.n.sum(),
        last_idx=daily.idx.min(),
        active_days=daily.count(),
        **{f"days_{n}": (daily.idx < n).cast("int64").sum() for n in day_windows},
    )
    n_features = len(catalog.features)
    if n_features:
        pairs = [(f.name, e) for f in catalog.features.values() for e in f.events]
        fmap = ibis.memtable(
            pd.DataFrame(pairs, columns=["feature", "event_name"]), schema={"feature": "string", "event_name": "string"}
        )
        named = tables.table("event_slots", window_start, time_range.end)
        named = named.filter(named.slot >= first_slot, named.slot < last_slot)
        used = named.select("user_id", "event_name").join(fmap, "event_name")
        feats = used.group_by("user_id").aggregate(features_used=used.feature.nunique())
        stats = stats.left_join(feats, "user_id").drop("user_id_right")
        features_used = stats.features_used.fill_null(0)
    else:
        features_used = ibis.literal(0)
    stats = stats.mutate(features_used=features_used.cast("int64"))
    first = tables.table("users", None, time_range.end).rename(first_seen="first_ts")
    stats = stats.join(first, "user_id")
    first_idx = ((end_epoch - 1 - stats.first_seen.epoch_seconds()) // DAY).cast("int64")
    event_part = ((stats.events.cast("float64") + 1).ln() / math.log(1 + EVENTS_SATURATION)).clip(upper=1.0)
    engagement = 10.0 * (
        WEIGHTS["active_days"] * stats.active_days.cast("float64") / horizon
        + WEIGHTS["events"] * event_part
        + WEIGHTS["features"] * stats.features_used.cast("float64") / max(n_features, 1)
    )
    users = stats.mutate(first_idx=first_idx, engagement=engagement)
    users = users.mutate(engagement_percentile=100.0 * ibis.percent_rank().over(order_by=users.engagement))
    branches = [(r.condition.expr(users) if r.condition else ibis.literal(True), r.name) for r in rules]
    return users.mutate(segment=ibis.cases(*branches, else_=OTHER))


def users_in_segment(source: Source, catalog: Catalog | None, time_range: TimeRange, segment: str) -> ir.Table:
    """The users (one ``user_id`` column) of ``segment`` at the end of ``time_range``."""
    if catalog is None:
        raise ParameterError("catalog", "filtering by segment needs the catalog that defines the segments")
    rules = parse_rules(catalog)
    names = [r.name for r in rules] + [OTHER]
    if segment not in names:
        raise ParameterError("segment", f"unknown segment {segment!r}", names)
    users = user_activity(source, catalog, time_range, rules)
    return users.filter(users.segment == segment).select("user_id")


def restrict(table: ir.Table, users: ir.Table) -> ir.Table:
    """Rows of ``table`` (events, sessions, ...) whose ``user_id`` is in ``users``."""
    return table.semi_join(users, "user_id")


POPULATION_KPI = KpiSpec("segment_population", "Users in scope")
SEGMENT_DIRECTIONS = {"new": HIGHER_IS_BETTER, "power": HIGHER_IS_BETTER, "at_risk": LOWER_IS_BETTER}


def segment_kpi(segment: str) -> KpiSpec:
    """The KPI of one segment's size: 'At risk users', lower is better; unknown segments are neutral."""
    label = f"{segment.replace('_', ' ').capitalize()} users"
    return KpiSpec(f"segment_{segment}", label, direction=SEGMENT_DIRECTIONS.get(segment, NEUTRAL))


@dataclass(eq=False)
class UserSegments(Result):
    """Segment sizes, shares and activity; engagement score spread; the power-user curve."""

    time_range: TimeRange
    horizon_days: int
    population: int
    rules: list[str]
    segments: pd.DataFrame
    power_curve: pd.DataFrame
    engagement_histogram: pd.DataFrame
    previous: dict[str, float] = field(default_factory=dict)
    change: dict[str, float | None] = field(default_factory=dict)

    @property
    def kpis(self) -> list[Kpi]:
        """Users in scope and each segment's size, with the previous period when it was computed."""
        kpis = [POPULATION_KPI.of(self.population, self.previous.get("population"))]
        kpis += [segment_kpi(r.segment).of(r.users, self.previous.get(r.segment)) for r in self.segments.itertuples()]
        return kpis


@kept
def user_segments(source: Source, catalog: Catalog, time_range: TimeRange, *, compare: bool = False) -> UserSegments:
    """Assign each user active in the horizon to one segment and describe the segments.

    ``compare`` also computes the previous period, for the KPIs' comparison.
    """
    rules = parse_rules(catalog)
    with materialised(user_activity(source, catalog, time_range, rules)) as users:
        current = _describe(users, rules, time_range)
    if not compare:
        return current
    return compared(current, user_segments(source, catalog, time_range.previous()))


def compared(current: UserSegments, before: UserSegments) -> UserSegments:
    """``current`` with the previous period's population and segment sizes, and the changes."""
    sizes = dict(zip(before.segments["segment"], before.segments["users"].astype(int), strict=True))
    previous = {"population": before.population} | {name: sizes.get(name, 0) for name in current.segments["segment"]}
    now = {"population": current.population} | dict(
        zip(current.segments["segment"], current.segments["users"].astype(int), strict=True)
    )
    change = {name: percent_change(now.get(name, 0), old) for name, old in previous.items()}
    return replace(current, previous=previous, change=change)


def _describe(users: ir.Table, rules: list[Rule], time_range: TimeRange) -> UserSegments:
    """Segment sizes and activity, the power-user curve and the engagement histogram."""
    per = (
        users.group_by("segment")
        .aggregate(
            users=users.count(),
            mean_engagement=users.engagement.mean(),
            mean_active_days=users.active_days.mean(),
            mean_events=users.events.mean(),
            mean_features_used=users.features_used.mean(),
            active_l7=(users.days_7 > 0).cast("int64").sum(),
        )
        .execute()
    )
    names = [r.name for r in rules] + ([OTHER] if OTHER in set(per["segment"]) else [])
    table = pd.DataFrame({"segment": names}).merge(per, on="segment", how="left")
    table["users"] = table["users"].fillna(0).astype("int64")
    table["active_l7"] = table["active_l7"].fillna(0).astype("int64")
    means = ["mean_engagement", "mean_active_days", "mean_events", "mean_features_used"]
    table[means] = table[means].astype("float64").fillna(0.0)
    population = int(table["users"].sum())
    table["share"] = 100.0 * table["users"] / population if population else 0.0
    table = table[["segment", "users", "share", *means, "active_l7"]]

    curve = []
    for window in (7, 28):
        name = f"days_{window}"
        active_users = users.filter(users[name] > 0)
        counts = active_users.group_by(days=active_users[name]).aggregate(users=active_users.count()).execute()
        grid = pd.DataFrame({"window": window, "days": range(1, window + 1)})
        merged = grid.merge(counts, on="days", how="left")
        merged["users"] = merged["users"].fillna(0).astype("int64")
        active = int(merged["users"].sum())
        merged["share"] = 100.0 * merged["users"] / active if active else 0.0
        curve.append(merged)
    power_curve = pd.concat(curve, ignore_index=True)

    score_bin = users.engagement.floor().clip(upper=9).cast("int64")
    hist = users.group_by(score=score_bin).aggregate(users=users.count()).execute()
    histogram = pd.DataFrame({"score": range(10)}).merge(hist, on="score", how="left")
    histogram["users"] = histogram["users"].fillna(0).astype("int64")
    histogram = histogram.rename(columns={"score": "score_from"})
    return UserSegments(
        time_range, horizon_days(rules), population, [r.name for r in rules], table, power_curve, histogram
    )
