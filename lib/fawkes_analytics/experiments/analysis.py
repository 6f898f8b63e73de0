"""``analyze_experiment``: the readout of one experiment in one ``ExperimentResult``.

Order of work: sufficient statistics in the engine (metric windows still open are left out)
-> sample ratio check over all observed variants -> one readout per metric and treatment
under the configured decision rule, adjusted for multiple testing (``readout.py``) -> power
of that same rule (``power.py``) -> recommendation from the declared rules
(``recommend.py``) -> whether more days are needed, consistent with the recommendation.
Degenerate cells give rows with a non-'ok' status and the reason, never NaN in JSON and never
an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ..results import Result
from .config import Experiment, experiment_from_catalog
from .inference import LESS, TWO_SIDED
from .moments import NotEnoughData, pair_arms
from .power import Plan, mde, power_at, total_users_needed
from .readout import decision_test, family_size, metric_alternative, metric_role, readout_table
from .recommend import DECIDED, INVESTIGATE, Recommendation, recommend
from .sources import EventsExperimentSource, as_experiment_source
from .srm import SRMResult, srm_check
from .sufficient import SufficientStats, naive_utc, window_closed_by

POWER_COLUMNS = [
    "metric",
    "variant",
    "role",
    "status",
    "reason",
    "test",
    "tests_in_family",
    "level",
    "target_lift",
    "power",
    "power_at_target_now",
    "mde_relative",
    "total_needed",
    "control_needed",
    "variant_needed",
    "window_days",
    "days_needed",
    "days_remaining",
]


@dataclass(eq=False)
class ExperimentResult(Result):
    """One experiment's readout. Show ``recommendation`` first, then its evidence, then diagnostics.

    ``results`` has one row per metric and treatment (control is the reference); ``users``
    the users per observed variant against the plan; ``windows`` per metric the users whose
    window had or had not ended; ``power`` the power of the decision rule per metric and
    treatment; ``timeline`` (when asked) the readout at the end of every day.
    """

    experiment_id: str
    name: str
    hypothesis: str
    control: str
    srm_status: str
    srm: SRMResult
    recommendation: Recommendation
    users: pd.DataFrame
    results: pd.DataFrame
    power: pd.DataFrame
    windows: pd.DataFrame
    excluded_multi_variant_users: int
    excluded_unknown_variant_users: int
    unknown_variants: dict[str, int]
    as_of: str | None
    first_assigned: str | None
    days_running: float | None
    settings: dict[str, Any]
    caps: dict[str, float] = field(default_factory=dict)
    timeline: pd.DataFrame | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def row(self, metric: str, variant: str | None = None) -> pd.Series:
        """The result row of ``metric`` for ``variant`` (the first treatment by default)."""
        frame = self.results[self.results.metric == metric]
        if variant is not None:
            frame = frame[frame.variant == variant]
        if frame.empty:
            raise KeyError(f"no result for metric {metric!r} variant {variant!r}")
        return frame.iloc[0]


def _sign(experiment: Experiment, metric) -> float:
    """The direction of the effect the row's test looks for (+1 up, -1 down)."""
    alternative = metric_alternative(experiment.rules, metric)
    if alternative == TWO_SIDED:
        return 1.0 if metric.higher_is_better else -1.0
    return -1.0 if alternative == LESS else 1.0


def _plan(experiment: Experiment, metric) -> Plan:
    rules = experiment.rules
    test = decision_test(rules, metric_alternative(rules, metric))
    level = rules.alpha / family_size(experiment, metric)
    return Plan(test, level, rules.power, rules.min_chance_to_beat, rules.prior_mean, rules.prior_sd)


def power_row(
    experiment: Experiment, metric, cells: pd.DataFrame, variant: str, users_total: int, days_running: float | None
) -> dict[str, Any]:
    """Power of the decision rule for one metric and treatment, and what reaching the target needs."""
    rules = experiment.rules
    plan = _plan(experiment, metric)
    row = {
        "metric": metric.name,
        "variant": variant,
        "role": metric_role(rules, metric),
        "test": plan.test.describe() if plan.test else f"chance to beat >= {rules.min_chance_to_beat:.0%}",
        "tests_in_family": family_size(experiment, metric),
        "level": plan.level if plan.test else None,
        "target_lift": rules.target_lift,
        "power": rules.power,
        "window_days": metric.window_days,
    }
    if experiment.control not in cells.index or variant not in cells.index:
        return row | {"status": "not computable", "reason": "no users with a complete window in a variant yet"}
    try:
        a, b = pair_arms(metric, cells.loc[experiment.control], cells.loc[variant], experiment.control, variant)
        if a.var <= 0 or a.unadjusted_mean == 0:
            raise NotEnoughData("the control has zero variance or a mean of 0")
        sign = _sign(experiment, metric)
        target = sign * rules.target_lift
        total = total_users_needed(
            a, b.var, target, experiment.split[experiment.control], experiment.split[variant], plan
        )
        row |= {
            "power_at_target_now": power_at(a, b.var, target, a.n, b.n, plan),
            "mde_relative": mde(a, b.var, a.n, b.n, plan, sign),
            "total_needed": total,
            "control_needed": int(round(total * experiment.split[experiment.control])),
            "variant_needed": int(round(total * experiment.split[variant])),
        }
    except NotEnoughData as exc:
        return row | {"status": "not computable", "reason": str(exc)}
    if days_running and users_total > 0:
        days = row["total_needed"] / (users_total / days_running) + metric.window_days
        row |= {"days_needed": days, "days_remaining": max(0.0, days - days_running)}
    return row | {"status": "running", "reason": ""}


def power_table(
    experiment: Experiment, stats: pd.DataFrame, users_total: int, days_running: float | None
) -> pd.DataFrame:
    """Power now and the users/days the target lift needs, per metric and treatment."""
    rows: list[dict[str, Any]] = []
    for metric in experiment.metrics:
        cells = stats[stats.metric == metric.name].set_index("variant")
        rows.extend(power_row(experiment, metric, cells, v, users_total, days_running) for v in experiment.treatments)
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def settle_power(power: pd.DataFrame, recommendation: Recommendation) -> pd.DataFrame:
    """Make 'days still needed' agree with the recommendation: no number once it is decided."""
    power = power.copy()
    if recommendation.decision in DECIDED or recommendation.decision == INVESTIGATE:
        status = "decision reached" if recommendation.decision in DECIDED else "investigate first"
        computable = power.status != "not computable"
        power.loc[computable, "status"] = status
        power.loc[computable, "reason"] = f"recommendation: {recommendation.decision}"
        power["days_remaining"] = None
        return power
    reached = (power.status == "running") & (power.days_remaining.astype(float) <= 0)
    power.loc[reached, "status"] = "planned sample reached"
    return power


def _users_table(experiment: Experiment, users: dict[str, int]) -> pd.DataFrame:
    variants = experiment.variants + [v for v in users if v not in experiment.split]
    total = sum(users.get(v, 0) for v in variants)
    return pd.DataFrame(
        {
            "variant": variants,
            "planned": [v in experiment.split for v in variants],
            "users": [users.get(v, 0) for v in variants],
            "share": [users.get(v, 0) / total if total else None for v in variants],
            "planned_share": [experiment.split.get(v, 0.0) for v in variants],
        }
    )


def _windows_table(experiment: Experiment, results: pd.DataFrame, users: dict[str, int], end) -> pd.DataFrame:
    assigned = sum(users.get(v, 0) for v in experiment.variants)
    rows = []
    for metric in experiment.metrics:
        cutoff = window_closed_by(metric, end)
        part = results[results.metric == metric.name]
        included = int(part.n_control.iloc[0] + part.n_variant.sum()) if len(part) else 0
        rows.append(
            {
                "metric": metric.name,
                "window_days": metric.window_days,
                "assigned_until": None if cutoff is None else cutoff.isoformat() + "Z",
                "users_assigned": assigned,
                "users_included": included,
                "users_window_open": assigned - included,
            }
        )
    return pd.DataFrame(rows)


def analyze_stats(
    experiment: Experiment, suff: SufficientStats, as_of: Any = None, source_info: dict | None = None
) -> ExperimentResult:
    """Build the result from precomputed sufficient statistics (see ``sufficient.experiment_stats``)."""
    users: dict[str, int] = suff.users
    known = {v: users.get(v, 0) for v in experiment.variants}
    unknown = {v: n for v, n in users.items() if v not in experiment.split and n > 0}
    stats = suff.stats
    stats = stats[stats.variant.isin(experiment.variants)]
    srm = srm_check(known, experiment.split, experiment.rules.srm_threshold, unknown)
    days_running = None
    if suff.first_assigned is not None and suff.data_end is not None:
        days_running = max((suff.data_end - suff.first_assigned).total_seconds() / 86400.0, 0.0) or None
    results = readout_table(experiment, stats)
    results["n_open_control"] = [known[experiment.control] - n for n in results.n_control]
    results["n_open_variant"] = [known[v] - n for v, n in zip(results.variant, results.n_variant, strict=True)]
    power = power_table(experiment, stats, sum(known.values()), days_running)
    recommendation = recommend(experiment, srm, known, results, power)
    rules = experiment.rules
    end = suff.data_end
    as_of_ts = naive_utc(as_of) if as_of is not None else end
    first = suff.first_assigned
    return ExperimentResult(
        experiment_id=experiment.id,
        name=experiment.name,
        hypothesis=experiment.hypothesis,
        control=experiment.control,
        srm_status=srm.status,
        srm=srm,
        recommendation=recommendation,
        users=_users_table(experiment, users),
        results=results,
        power=settle_power(power, recommendation),
        windows=_windows_table(experiment, results, known, end),
        excluded_multi_variant_users=int(suff.multi_variant_users),
        excluded_unknown_variant_users=int(sum(unknown.values())),
        unknown_variants=unknown,
        as_of=None if as_of_ts is None else as_of_ts.isoformat() + "Z",
        first_assigned=None if first is None else first.isoformat() + "Z",
        days_running=days_running,
        settings={
            "alpha": rules.alpha,
            "alternative": rules.alternative,
            "correction": rules.correction,
            "decision": rules.decision,
            "sequential_tuning": rules.sequential_tuning,
            "power": rules.power,
            "target_lift": rules.target_lift,
            "min_chance_to_beat": rules.min_chance_to_beat,
            "prior_mean": rules.prior_mean,
            "prior_sd": rules.prior_sd,
            "primary_metric": rules.primary_metric,
            "guardrail_metrics": list(rules.guardrail_metrics),
            "min_sample_per_variant": rules.min_sample_per_variant,
        },
        caps=dict(suff.caps),
        source=source_info or {},
    )


def _resolve(catalog_or_experiment: Any, experiment_id: str | None) -> Experiment:
    if isinstance(catalog_or_experiment, Experiment):
        return catalog_or_experiment
    return experiment_from_catalog(catalog_or_experiment, experiment_id)


TIMELINE_COLUMNS = [
    "as_of",
    "metric",
    "variant",
    "status",
    "n_control",
    "n_variant",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "p_value_adjusted",
    "chance_to_beat",
    "verdict",
]


def cumulative_readout(source: Any, experiment: Experiment, as_of: Any = None, freq: str = "1D") -> pd.DataFrame:
    """The readout as it stood at the end of every day (``freq``) since the first assignment.

    Each day is the full readout at that time (windows still open then are left out, the same
    adjustment and interval), so the chart shows what the report would have said that day.
    """
    exp_source = as_experiment_source(source)
    if not isinstance(exp_source, EventsExperimentSource):  # a per-user table has no times
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    final = exp_source.sufficient_stats(experiment, as_of)
    start, end = final.first_assigned, final.data_end
    if start is None or end is None:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    cuts = [c for c in pd.date_range(start.floor("D") + pd.Timedelta(freq), end, freq=freq) if c < end]
    earlier = exp_source.stats_at_cuts(experiment, cuts) if cuts else None  # one query for every day
    records = []
    for cut in [*cuts, end]:
        stats = final.stats if earlier is None or cut == end else earlier[earlier.as_of == cut].drop(columns="as_of")
        table = readout_table(experiment, stats[stats.variant.isin(experiment.variants)])
        table.insert(0, "as_of", cut)
        records.extend(table[TIMELINE_COLUMNS].to_dict("records"))
    return pd.DataFrame(records, columns=TIMELINE_COLUMNS)


def analyze_experiment(
    source: Any,
    catalog_or_experiment: Any,
    experiment_id: str | None = None,
    as_of: datetime | str | None = None,
    timeline: bool = False,
) -> ExperimentResult:
    """Analyse one experiment.

    ``source``: a library ``Source`` (assignments + events), a ``UserTableSource`` or a per-user
    DataFrame. ``catalog_or_experiment``: a ``Catalog`` (with ``experiment_id``) or an
    ``Experiment``. ``as_of`` cuts assignments and events at that instant (UTC when naive) and
    is the analysis time: metric windows must have ended by then. ``timeline`` adds the daily
    readout (sources with times only).
    """
    experiment = _resolve(catalog_or_experiment, experiment_id)
    exp_source = as_experiment_source(source)

    def compute() -> ExperimentResult:
        suff = exp_source.sufficient_stats(experiment, as_of)
        result = analyze_stats(experiment, suff, as_of, exp_source.describe())
        if timeline:
            result.timeline = cumulative_readout(exp_source, experiment, as_of)
        return result

    cut = naive_utc(as_of)
    if cut is None or getattr(source, "rollups_location", None) is None:
        return compute()  # "now" moves, and only sources with a store keep answers
    return _kept_readout(source, experiment, cut.to_pydatetime(), timeline, compute)


def _kept_readout(
    source: Any, experiment: Experiment, as_of: datetime, timeline: bool, compute: Any
) -> ExperimentResult:
    """The readout kept beside the rollup store (rollups/answers.py) until the data changes.

    Experiments read the raw assignments and events, not the store's tables, so the question
    names their data versions (row count and newest time) too: a new assignment or event
    makes a new question even before the next refresh.
    """
    from ..rollups.answers import catalog_fingerprint, remembered
    from ..rollups.tables import data_version, tables_for

    assignments = source.assignments()
    newest = assignments.aggregate(n=assignments.count(), newest=assignments.assigned_at.max()).execute()
    question = {
        "answer": "experiments.analyze_experiment",
        "experiment": catalog_fingerprint(experiment),
        "as_of": as_of.isoformat(),
        "timeline": timeline,
        "events": data_version(source),
        "assignments": [int(newest["n"].iloc[0]), str(newest["newest"].iloc[0])],
    }
    return remembered(
        tables_for(source, as_of), question, None, compute, ExperimentResult.to_dict, ExperimentResult.from_dict
    )
