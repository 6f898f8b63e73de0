"""Experiment definitions from ``analytics.yaml`` (``catalog.experiments_raw``), validated.

An experiment names its control, the planned split, its metrics and the decision rules.
Every mistake raises ``ConfigError`` naming the file and the key (``experiments[1].metrics[0].kind``)
so the data scientist editing the catalog knows exactly what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, ParameterError

METRIC_KINDS = ("conversion", "count", "sum", "ratio")
ALTERNATIVES = ("two-sided", "greater", "less")
CORRECTIONS = ("holm", "bh", "none")
READOUTS = ("frequentist", "bayesian", "sequential")


@dataclass(frozen=True)
class Measure:
    """What one user contributes: a count of ``event`` or a sum of its numeric ``property``.

    ``column`` names a column of a per-user table instead (CSV experiment sources).
    """

    event: str | None = None
    property: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class Covariate:
    """CUPED covariate: the same kind of measure over ``days`` before assignment."""

    measure: Measure
    days: int


@dataclass(frozen=True)
class Metric:
    """One experiment metric.

    kind: ``conversion`` (did the event happen within ``window_days`` of assignment: 0/1),
    ``count`` (number of events), ``sum`` (sum of a numeric event property), ``ratio``
    (sum of ``numerator`` over sum of ``denominator``, both per-user measures).
    ``higher_is_better`` false marks metrics where a decrease is the good outcome.
    ``cap_percentile`` winsorises per-user values of count/sum metrics at that percentile.
    """

    name: str
    kind: str
    measure: Measure
    window_days: int = 14
    denominator: Measure | None = None
    covariate: Covariate | None = None
    higher_is_better: bool = True
    cap_percentile: float | None = None


@dataclass(frozen=True)
class Rules:
    """How to read the experiment and when to recommend ship / keep running / stop.

    ``decision`` names the one readout that decides (frequentist: Welch t; sequential:
    always-valid; bayesian: chance to beat control >= ``min_chance_to_beat``). ``alternative``
    applies to the primary metric only; guardrails are always tested one-sided for harm. The
    rules in words, in the order they apply, are ``recommend.describe_rules``.
    """

    primary_metric: str
    alpha: float = 0.05
    alternative: str = "two-sided"
    correction: str = "holm"
    decision: str = "frequentist"
    min_sample_per_variant: int = 100
    min_chance_to_beat: float = 0.95
    guardrail_metrics: tuple[str, ...] = ()
    power: float = 0.8
    target_lift: float = 0.05
    sequential_tuning: float = 5000.0
    srm_threshold: float = 0.001
    prior_mean: float = 0.0
    prior_sd: float | None = None


@dataclass(frozen=True)
class Experiment:
    """One experiment as declared in the catalog."""

    id: str
    name: str
    control: str
    split: dict[str, float]
    metrics: tuple[Metric, ...]
    rules: Rules
    hypothesis: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def variants(self) -> list[str]:
        """Control first, then the treatments in declared order."""
        return [self.control] + [v for v in self.split if v != self.control]

    @property
    def treatments(self) -> list[str]:
        return [v for v in self.split if v != self.control]

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise ParameterError("metric", f"experiment {self.id!r} has no metric {name!r}", [m.name for m in self.metrics])


def _number(
    raw: dict,
    key: str,
    default: Any,
    path: str,
    where: str,
    lo: float | None = None,
    hi: float | None = None,
    open_lo: bool = False,
    integer: bool = False,
) -> Any:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(path, f"{where}.{key}", f"{value!r} is not a number")
    if integer and int(value) != value:
        raise ConfigError(path, f"{where}.{key}", f"{value!r} must be a whole number")
    if lo is not None and (value <= lo if open_lo else value < lo):
        raise ConfigError(path, f"{where}.{key}", f"{value!r} must be {'>' if open_lo else '>='} {lo:g}")
    if hi is not None and value > hi:
        raise ConfigError(path, f"{where}.{key}", f"{value!r} must be <= {hi:g}")
    return int(value) if integer else float(value)


def _choice(raw: dict, key: str, default: str, allowed: tuple[str, ...], path: str, where: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError(path, f"{where}.{key}", f"{value!r} is not allowed (allowed: {', '.join(allowed)})")
    return str(value)


def _measure(raw: Any, path: str, where: str, default_event: str | None = None) -> Measure:
    if isinstance(raw, str):
        return Measure(event=raw)
    if not isinstance(raw, dict):
        raise ConfigError(path, where, "must be an event name or {event: ..., property: ...} or {column: ...}")
    event, prop, column = raw.get("event", default_event), raw.get("property"), raw.get("column")
    if event is None and column is None:
        raise ConfigError(path, f"{where}.event", "is required (or 'column' for a per-user table)")
    for key, value in (("event", event), ("property", prop), ("column", column)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(path, f"{where}.{key}", f"{value!r} must be a non-empty name")
    return Measure(event, prop, column)


def parse_metric(raw: Any, path: str, where: str) -> Metric:
    """Parse one metric mapping (see ``Metric``)."""
    if not isinstance(raw, dict):
        raise ConfigError(path, where, "must be a mapping with name and kind")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ConfigError(path, f"{where}.name", "is required")
    kind = _choice(raw, "kind", "", METRIC_KINDS, path, where) if "kind" in raw else None
    if kind is None:
        raise ConfigError(path, f"{where}.kind", f"is required (allowed: {', '.join(METRIC_KINDS)})")
    window = _number(raw, "window_days", 14, path, where, lo=0, open_lo=True, integer=True)
    denominator = None
    if kind == "ratio":
        if "numerator" not in raw:
            raise ConfigError(path, f"{where}.numerator", "is required for a ratio metric")
        if "denominator" not in raw:
            raise ConfigError(path, f"{where}.denominator", "is required for a ratio metric")
        measure = _measure(raw["numerator"], path, f"{where}.numerator")
        denominator = _measure(raw["denominator"], path, f"{where}.denominator")
    else:
        measure = _measure({k: raw[k] for k in ("event", "property", "column") if k in raw}, path, where)
        if kind == "sum" and measure.property is None and measure.column is None:
            raise ConfigError(
                path, f"{where}.property", "is required for a sum metric (the numeric event property to add up)"
            )
    covariate = None
    cov_raw = raw.get("covariate")
    if cov_raw not in (None, False):
        if kind == "ratio":
            raise ConfigError(
                path, f"{where}.covariate", "CUPED is supported for conversion, count and sum metrics only"
            )
        cov = {} if cov_raw is True else cov_raw
        if not isinstance(cov, dict):
            raise ConfigError(path, f"{where}.covariate", "must be true or {days: N, event: ..., property: ...}")
        days = _number(cov, "days", window, path, f"{where}.covariate", lo=0, open_lo=True, integer=True)
        cov_measure = Measure(cov.get("event", measure.event), cov.get("property", measure.property), cov.get("column"))
        covariate = Covariate(cov_measure, days)
    higher = raw.get("higher_is_better", True)
    if not isinstance(higher, bool):
        raise ConfigError(path, f"{where}.higher_is_better", "must be true or false")
    cap = _number(raw, "cap_percentile", None, path, where, lo=50, hi=100)
    if cap is not None and kind == "conversion":
        raise ConfigError(
            path, f"{where}.cap_percentile", "capping applies to count, sum and ratio metrics, not conversions"
        )
    return Metric(str(raw["name"]), kind, measure, window, denominator, covariate, higher, cap)


def parse_rules(raw: Any, metrics: tuple[Metric, ...], path: str, where: str) -> Rules:
    """Parse the ``rules`` mapping; the primary metric defaults to the first metric."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(path, where, "must be a mapping")
    names = [m.name for m in metrics]
    primary = raw.get("primary_metric", names[0])
    if primary not in names:
        raise ConfigError(
            path, f"{where}.primary_metric", f"{primary!r} is not one of the metrics ({', '.join(names)})"
        )
    guards = raw.get("guardrail_metrics", []) or []
    if not isinstance(guards, list) or any(g not in names for g in guards):
        raise ConfigError(path, f"{where}.guardrail_metrics", f"must list metric names among {', '.join(names)}")
    if primary in guards:
        raise ConfigError(
            path, f"{where}.guardrail_metrics", f"{primary!r} is the primary metric; a guardrail must be another metric"
        )
    sequential = raw.get("sequential", {}) or {}
    prior = raw.get("prior", {}) or {}
    if not isinstance(sequential, dict):
        raise ConfigError(path, f"{where}.sequential", "must be a mapping {tuning: N}")
    if not isinstance(prior, dict):
        raise ConfigError(path, f"{where}.prior", "must be a mapping {mean: m, sd: s}")
    return Rules(
        primary_metric=str(primary),
        alpha=_number(raw, "alpha", 0.05, path, where, lo=0, hi=0.4, open_lo=True),
        alternative=_choice(raw, "alternative", "two-sided", ALTERNATIVES, path, where),
        correction=_choice(raw, "correction", "holm", CORRECTIONS, path, where),
        decision=_choice(raw, "decision", "frequentist", READOUTS, path, where),
        min_sample_per_variant=_number(raw, "min_sample_per_variant", 100, path, where, lo=1, integer=True),
        min_chance_to_beat=_number(raw, "min_chance_to_beat", 0.95, path, where, lo=0.5, hi=1, open_lo=True),
        guardrail_metrics=tuple(str(g) for g in guards),
        power=_number(raw, "power", 0.8, path, where, lo=0, hi=0.999, open_lo=True),
        target_lift=_number(raw, "target_lift", 0.05, path, where, lo=0, open_lo=True),
        sequential_tuning=_number(sequential, "tuning", 5000, path, f"{where}.sequential", lo=0, open_lo=True),
        srm_threshold=_number(raw, "srm_threshold", 0.001, path, where, lo=0, hi=0.5, open_lo=True),
        prior_mean=_number(prior, "mean", 0.0, path, f"{where}.prior"),
        prior_sd=_number(prior, "sd", None, path, f"{where}.prior", lo=0, open_lo=True),
    )


def parse_experiment(raw: Any, path: str = "analytics.yaml", where: str = "experiments[0]") -> Experiment:
    """Parse and validate one experiment mapping from the catalog."""
    if not isinstance(raw, dict):
        raise ConfigError(path, where, "must be a mapping")
    for key in ("id", "control", "split", "metrics"):
        if key not in raw:
            raise ConfigError(path, f"{where}.{key}", "is required")
    split = raw["split"]
    if not isinstance(split, dict) or len(split) < 2:
        raise ConfigError(
            path,
            f"{where}.split",
            "must map at least two variants to their planned share, e.g. {control: 0.5, treatment: 0.5}",
        )
    for variant, share in split.items():
        if isinstance(share, bool) or not isinstance(share, (int, float)) or share <= 0:
            raise ConfigError(path, f"{where}.split.{variant}", f"{share!r} must be a positive share")
    total = float(sum(split.values()))
    if abs(total - 1.0) > 0.011:
        raise ConfigError(path, f"{where}.split", f"shares add up to {total:g}, not 1")
    control = str(raw["control"])
    if control not in split:
        raise ConfigError(
            path, f"{where}.control", f"{control!r} is not a variant of the split ({', '.join(map(str, split))})"
        )
    metrics_raw = raw["metrics"]
    if not isinstance(metrics_raw, list) or not metrics_raw:
        raise ConfigError(path, f"{where}.metrics", "must be a non-empty list")
    metrics = tuple(parse_metric(m, path, f"{where}.metrics[{i}]") for i, m in enumerate(metrics_raw))
    seen: set[str] = set()
    for i, m in enumerate(metrics):
        if m.name in seen:
            raise ConfigError(path, f"{where}.metrics[{i}].name", f"{m.name!r} is defined twice")
        seen.add(m.name)
    rules = parse_rules(raw.get("rules"), metrics, path, f"{where}.rules")
    known = {"id", "name", "hypothesis", "control", "split", "metrics", "rules"}
    return Experiment(
        id=str(raw["id"]),
        name=str(raw.get("name", raw["id"])),
        control=control,
        split={str(k): float(v) / total for k, v in split.items()},
        metrics=metrics,
        rules=rules,
        hypothesis=str(raw.get("hypothesis", "")),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def parse_experiments(raw: list[Any], path: str = "analytics.yaml") -> dict[str, Experiment]:
    """Parse every experiment of the catalog, keyed by id (ids must be unique)."""
    out: dict[str, Experiment] = {}
    for i, item in enumerate(raw or []):
        experiment = parse_experiment(item, path, f"experiments[{i}]")
        if experiment.id in out:
            raise ConfigError(path, f"experiments[{i}].id", f"{experiment.id!r} is defined twice")
        out[experiment.id] = experiment
    return out


def experiment_from_catalog(catalog: Any, experiment_id: str | None = None) -> Experiment:
    """The experiment ``experiment_id`` of a ``Catalog`` (the only one when id is None)."""
    experiments = parse_experiments(catalog.experiments_raw, getattr(catalog, "path", "analytics.yaml"))
    if experiment_id is None:
        if len(experiments) != 1:
            raise ParameterError("experiment_id", "the catalog has several experiments; name one", sorted(experiments))
        return next(iter(experiments.values()))
    if experiment_id not in experiments:
        raise ParameterError("experiment_id", f"unknown experiment {experiment_id!r}", sorted(experiments))
    return experiments[experiment_id]
