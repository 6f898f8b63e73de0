"""The catalog: ``analytics.yaml``, where data scientists define what the reports measure.

It holds features (which events count as use), funnels, segment rules, experiments, KPI
thresholds, the sensitivity of the unusual-change flags and how many runs each report keeps.
Loading validates the whole file against
``schemas/analytics.schema.json`` (unknown keys and wrong types are refused), then checks what
a schema cannot say; every ``ConfigError`` names the file, the line, the key and what is
allowed. Experiments and segment rules keep their raw mapping here and are parsed by their
own modules (``experiments.config``, ``metrics.segments``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from . import config_files, settings
from .errors import ConfigError

DEFAULT_PATH = settings.PROJECT_ROOT / "analytics.yaml"
FUNNEL_ORDERS = ("ordered", "strict", "unordered")
# An events column or a JSON property key, PostHog's "$"-prefixed standard names included ($browser, $os, ...)
BREAKDOWN_NAME = re.compile(r"^\$?[A-Za-z_][A-Za-z0-9_.\-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SENSITIVITY_LEVELS = ("low", "medium", "high")
DAILY_KPIS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "nps")  # see anomalies.kpis


def parse_duration(value: object, path: str, key: str) -> timedelta:
    """Read '14d', '2h', '30m', '45s' or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(
            path,
            key,
            f"{value!r} is not a duration (allowed: a positive number of seconds or '<n>s|m|h|d|w', e.g. '14d')",
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@dataclass(frozen=True)
class Feature:
    """A tracked product feature: using it means emitting one of ``events``."""

    name: str
    title: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class FunnelStep:
    event: str
    label: str


@dataclass(frozen=True)
class Exclusion:
    """An event that, between step ``from_step`` and ``to_step`` (1-based), voids an attempt."""

    event: str
    from_step: int
    to_step: int


@dataclass(frozen=True)
class Funnel:
    name: str
    title: str
    steps: tuple[FunnelStep, ...]
    order: str = "ordered"
    window: timedelta = timedelta(days=14)
    exclusions: tuple[Exclusion, ...] = ()
    breakdown: str | None = None

    @classmethod
    def of(
        cls,
        *steps: str | tuple[str, str],
        window: str | float | timedelta = "14d",
        order: str = "ordered",
        exclude: dict[str, tuple[int, int]] | None = None,
        breakdown: str | None = None,
        name: str = "funnel",
        title: str | None = None,
    ) -> Funnel:
        """A funnel in one line, for notebooks.

        ``Funnel.of("sign_up", "profile_setup", "first_deployment", window="14d",
        exclude={"account_deleted": (1, 3)})``: steps are event names (or ``(event, label)``
        pairs), ``window`` a duration ('14d', '2h', seconds or a ``timedelta``), ``exclude``
        maps an exclusion event to the steps it spans, numbered from 1 as in analytics.yaml.
        Bad arguments raise ``ParameterError`` naming the argument.
        """
        from .errors import ParameterError

        parsed = []
        for i, step in enumerate(steps):
            if isinstance(step, str) and step:
                parsed.append(FunnelStep(step, step.replace("_", " ").capitalize()))
            elif isinstance(step, tuple) and len(step) == 2 and all(isinstance(x, str) and x for x in step):
                parsed.append(FunnelStep(step[0], step[1]))
            else:
                raise ParameterError(f"steps[{i}]", f"{step!r} is not an event name or an (event, label) pair")
        if len(parsed) < 2:
            raise ParameterError("steps", f"a funnel needs at least two steps, got {len(parsed)}")
        if order not in FUNNEL_ORDERS:
            raise ParameterError("order", f"{order!r} is not a funnel order", ", ".join(FUNNEL_ORDERS))
        if isinstance(window, timedelta):
            if window <= timedelta(0):
                raise ParameterError("window", f"{window!r} is not a positive duration")
            span = window
        else:
            try:
                span = parse_duration(window, "Funnel.of", "window")
            except ConfigError as exc:
                raise ParameterError("window", exc.problem) from None
        exclusions = []
        for event, span_steps in (exclude or {}).items():
            ok = isinstance(span_steps, tuple) and len(span_steps) == 2 and all(isinstance(x, int) for x in span_steps)
            if not isinstance(event, str) or not event or not ok:
                raise ParameterError("exclude", f"{event!r}: {span_steps!r} is not event: (from_step, to_step)")
            start, stop = span_steps
            if not 1 <= start < stop <= len(parsed):
                raise ParameterError(
                    "exclude",
                    f"{event!r}: from_step and to_step must satisfy 1 <= from_step < to_step <= {len(parsed)}",
                )
            exclusions.append(Exclusion(event, start, stop))
        if breakdown is not None and not BREAKDOWN_NAME.match(breakdown):
            raise ParameterError(
                "breakdown", f"{breakdown!r} is not a column or property name", "an events column or a properties key"
            )
        default_title = " → ".join(step.label for step in parsed)
        return cls(name, title or default_title, tuple(parsed), order, span, tuple(exclusions), breakdown)


@dataclass
class Catalog:
    """Everything ``analytics.yaml`` defines, validated."""

    path: str
    features: dict[str, Feature]
    funnels: dict[str, Funnel]
    adoption_trend_threshold_pct: float = 10.0
    segments_raw: dict[str, Any] = field(default_factory=dict)
    experiments_raw: list[dict[str, Any]] = field(default_factory=list)
    kpis: dict[str, dict[str, float]] = field(default_factory=dict)
    engagement_event: str = "engagement"  # keeps a session open, counts nowhere (Plausible)
    retention: dict[str, Any] = field(default_factory=dict)  # report -> retention.RetentionPolicy
    default_retention: Any = None  # retention.RetentionPolicy, or None for the built-in default
    anomaly_sensitivity: dict[str, str | float] = field(default_factory=dict)  # KPI or "default" -> level

    def funnel(self, name: str) -> Funnel:
        from .errors import ParameterError

        if name not in self.funnels:
            raise ParameterError("funnel", f"unknown funnel {name!r}", sorted(self.funnels))
        return self.funnels[name]

    @property
    def experiment_ids(self) -> list[str]:
        return [str(e.get("id")) for e in self.experiments_raw]


def _require(mapping: dict, key: str, path: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ConfigError(path, f"{where}.{key}" if where else key, "is required")
    return mapping[key]


def _parse_feature(raw: Any, path: str, where: str) -> Feature:
    name = str(_require(raw, "name", path, where))
    events = raw.get("events", [name])
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ConfigError(path, f"{where}.events", "must be a non-empty list of event names")
    return Feature(name, str(raw.get("title", name.replace("_", " ").capitalize())), tuple(events))


def _parse_funnel(raw: Any, path: str, where: str) -> Funnel:
    name = str(_require(raw, "name", path, where))
    steps_raw = _require(raw, "steps", path, where)
    if not isinstance(steps_raw, list) or len(steps_raw) < 2:
        raise ConfigError(path, f"{where}.steps", "must list at least two steps")
    steps = []
    for i, step in enumerate(steps_raw):
        if isinstance(step, str):
            steps.append(FunnelStep(step, step.replace("_", " ").capitalize()))
        elif isinstance(step, dict) and isinstance(step.get("event"), str):
            steps.append(FunnelStep(step["event"], str(step.get("label", step["event"]))))
        else:
            raise ConfigError(path, f"{where}.steps[{i}]", "must be an event name or {event: ..., label: ...}")
    order = raw.get("order", "ordered")
    if order not in FUNNEL_ORDERS:
        raise ConfigError(path, f"{where}.order", f"{order!r} is not allowed (allowed: {', '.join(FUNNEL_ORDERS)})")
    window = parse_duration(raw.get("window", "14d"), path, f"{where}.window")
    exclusions = []
    for i, ex in enumerate(raw.get("exclusions", []) or []):
        key = f"{where}.exclusions[{i}]"
        event = _require(ex, "event", path, key)
        start, stop = int(ex.get("from_step", 1)), int(ex.get("to_step", len(steps)))
        if not 1 <= start < stop <= len(steps):
            raise ConfigError(path, key, f"from_step and to_step must satisfy 1 <= from_step < to_step <= {len(steps)}")
        exclusions.append(Exclusion(str(event), start, stop))
    breakdown = raw.get("breakdown")
    return Funnel(
        name,
        str(raw.get("title", name.replace("_", " ").capitalize())),
        tuple(steps),
        order,
        window,
        tuple(exclusions),
        str(breakdown) if breakdown else None,
    )


def _unique(items: list, path: str, key: str) -> dict:
    out: dict = {}
    for item in items:
        if item.name in out:
            raise ConfigError(path, key, f"name {item.name!r} is defined twice")
        out[item.name] = item
    return out


def report_retention(report: str, catalog: Catalog | None = None) -> Any:
    """The retention policy of ``report``: the catalog's ``retention.reports.<report>``, its
    default, else the built-in default (a ``retention.RetentionPolicy``)."""
    from .retention import report_policy

    return report_policy(report, catalog or load())


def load(path: str | os.PathLike | None = None) -> Catalog:
    """Load and validate the catalog (``FAWKES_ANALYTICS_CATALOG`` or the project's analytics.yaml)."""
    path = settings.resolve_path(path) if path else settings.catalog_path()
    config = config_files.load(path, "analytics")
    try:
        return _parse(config.data or {}, str(path))
    except ConfigError as exc:
        raise config_files.with_line(exc, config) from None


def _parse_retention(raw: Any, where: str) -> tuple[dict[str, Any], Any]:
    from .retention import RetentionPolicy

    raw = raw or {}
    default = RetentionPolicy.parse(raw["default"], where, "retention.default") if "default" in raw else None
    reports = {
        name: RetentionPolicy.parse(policy, where, f"retention.reports.{name}")
        for name, policy in (raw.get("reports") or {}).items()
    }
    return reports, default


def _parse_sensitivity(raw: Any, where: str, features: dict, funnels: dict) -> dict[str, str | float]:
    """``anomalies.sensitivity``: a level or robust z threshold per known KPI (or ``default``)."""
    levels = ((raw or {}).get("sensitivity") or {}) if isinstance(raw, dict) else {}
    known = ["default", *DAILY_KPIS, *(f"conversion.{f}" for f in funnels), *(f"adoption.{f}" for f in features)]
    for kpi, level in levels.items():
        key = f"anomalies.sensitivity.{kpi}"
        if kpi not in known:
            raise ConfigError(where, key, f"unknown KPI {kpi!r} (allowed: {', '.join(known)})")
        if level not in SENSITIVITY_LEVELS and not (isinstance(level, (int, float)) and not isinstance(level, bool)):
            raise ConfigError(
                where, key, f"{level!r} is not allowed (allowed: {', '.join(SENSITIVITY_LEVELS)} or a number)"
            )
    return dict(levels)


def _parse(raw: dict[str, Any], where: str) -> Catalog:
    features = _unique(
        [_parse_feature(f, where, f"features[{i}]") for i, f in enumerate(raw.get("features", []) or [])],
        where,
        "features",
    )
    funnels = _unique(
        [_parse_funnel(f, where, f"funnels[{i}]") for i, f in enumerate(raw.get("funnels", []) or [])], where, "funnels"
    )
    adoption = raw.get("adoption", {}) or {}
    threshold = adoption.get("trend_threshold_pct", 10.0)
    web = raw.get("web", {}) or {}
    engagement = str(web.get("engagement_event", "engagement")).strip()
    experiments = raw.get("experiments", []) or []
    retention, default_retention = _parse_retention(raw.get("retention"), where)
    return Catalog(
        where,
        features,
        funnels,
        float(threshold),
        raw.get("segments", {}) or {},
        experiments,
        raw.get("kpis", {}) or {},
        engagement,
        retention,
        default_retention,
        _parse_sensitivity(raw.get("anomalies"), where, features, funnels),
    )
