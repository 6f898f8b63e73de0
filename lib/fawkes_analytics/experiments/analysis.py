"""``analyze_experiment``: every readout of one experiment in one ``ExperimentResult``.

Order of work: sufficient statistics in the engine -> sample ratio check -> per metric and
treatment the frequentist, Bayesian and sequential readouts -> multiple-testing adjustment
across all metric x treatment rows -> power -> recommendation from the declared rules.
Degenerate cells give rows with ``status = 'not enough data'`` and the reason, never NaN
in JSON and never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ..results import Result
from .bayesian import bayesian_test
from .config import Experiment, experiment_from_catalog
from .corrections import adjust
from .frequentist import frequentist_test
from .moments import NotEnoughData, pair_moments
from .power import power_analysis
from .recommend import Recommendation, recommend, verdicts
from .sequential import sequential_test
from .sources import as_experiment_source
from .srm import SRMResult, srm_check
from .sufficient import naive_utc

OK, NOT_ENOUGH = "ok", "not enough data"


@dataclass
class ExperimentResult(Result):
    """One experiment's readout. Show ``srm_status``/``srm.message`` above everything else.

    ``results`` has one row per metric and treatment (control is the reference); ``users``
    the users per variant against the plan; ``power`` the MDE and needed sample per metric
    and treatment; ``timeline`` (when asked) the cumulative daily readout.
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
    excluded_multi_variant_users: int
    excluded_unknown_variant_users: int
    as_of: str | None
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


def _empty_row(metric, variant: str, control: str, n_a: int, n_b: int, reason: str) -> dict[str, Any]:
    return {
        "metric": metric.name,
        "kind": metric.kind,
        "variant": variant,
        "control": control,
        "status": NOT_ENOUGH,
        "reason": reason,
        "n_control": n_a,
        "n_variant": n_b,
        "higher_is_better": metric.higher_is_better,
        "cuped": metric.covariate is not None,
    }


def readout_row(experiment: Experiment, metric, control_row: Any, treatment_row: Any, variant: str) -> dict[str, Any]:
    """All readouts of one metric for one treatment against control (unadjusted p-values)."""
    rules = experiment.rules
    n_a = int(control_row["n"]) if control_row is not None else 0
    n_b = int(treatment_row["n"]) if treatment_row is not None else 0
    if control_row is None or treatment_row is None:
        missing = experiment.control if control_row is None else variant
        return _empty_row(metric, variant, experiment.control, n_a, n_b, f"variant '{missing}' has no users")
    try:
        a, b = pair_moments(metric, control_row, treatment_row, experiment.control, variant)
        freq = frequentist_test(a, b, rules.alpha, rules.alternative)
        bayes = bayesian_test(a, b, rules.alpha, rules.prior_mean, rules.prior_sd, metric.higher_is_better)
        seq = sequential_test(a, b, rules.alpha, rules.sequential_tuning)
    except NotEnoughData as exc:
        return _empty_row(metric, variant, experiment.control, n_a, n_b, str(exc))
    if freq.abs_diff == 0:
        direction = "inconclusive"
    else:
        direction = "better" if (freq.abs_diff > 0) == metric.higher_is_better else "worse"
    return {
        "metric": metric.name,
        "kind": metric.kind,
        "variant": variant,
        "control": experiment.control,
        "status": OK,
        "reason": "",
        "n_control": a.n,
        "n_variant": b.n,
        "mean_control": a.mean,
        "mean_variant": b.mean,
        "abs_diff": freq.abs_diff,
        "abs_ci_low": freq.abs_ci[0],
        "abs_ci_high": freq.abs_ci[1],
        "lift": freq.lift,
        "lift_ci_low": freq.lift_ci[0],
        "lift_ci_high": freq.lift_ci[1],
        "test": "z (unpooled)" if freq.df is None else "welch t",
        "statistic": freq.statistic,
        "df": freq.df,
        "p_value": freq.p_value,
        "direction": direction,
        "chance_to_beat": bayes.chance_to_beat,
        "risk_control": bayes.risk_control,
        "risk_variant": bayes.risk_variant,
        "posterior_mean": bayes.posterior_mean,
        "posterior_sd": bayes.posterior_sd,
        "credible_low": bayes.credible_interval[0],
        "credible_high": bayes.credible_interval[1],
        "seq_abs_ci_low": seq.abs_ci[0],
        "seq_abs_ci_high": seq.abs_ci[1],
        "seq_lift_ci_low": seq.lift_ci[0],
        "seq_lift_ci_high": seq.lift_ci[1],
        "seq_p_value": seq.p_value,
        "higher_is_better": metric.higher_is_better,
        "cuped": metric.covariate is not None,
    }


RESULT_COLUMNS = [
    "metric",
    "kind",
    "variant",
    "control",
    "status",
    "reason",
    "primary",
    "n_control",
    "n_variant",
    "mean_control",
    "mean_variant",
    "abs_diff",
    "abs_ci_low",
    "abs_ci_high",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "test",
    "statistic",
    "df",
    "p_value",
    "p_value_adjusted",
    "significant",
    "direction",
    "chance_to_beat",
    "risk_control",
    "risk_variant",
    "posterior_mean",
    "posterior_sd",
    "credible_low",
    "credible_high",
    "seq_abs_ci_low",
    "seq_abs_ci_high",
    "seq_lift_ci_low",
    "seq_lift_ci_high",
    "seq_p_value",
    "seq_p_value_adjusted",
    "seq_significant",
    "verdict",
    "higher_is_better",
    "cuped",
]


def readout_table(experiment: Experiment, stats: pd.DataFrame) -> pd.DataFrame:
    """Every metric x treatment row, with adjusted p-values, significance and verdicts."""
    rows = []
    for metric in experiment.metrics:
        cells = stats[stats.metric == metric.name].set_index("variant")
        control = cells.loc[experiment.control] if experiment.control in cells.index else None
        for variant in experiment.treatments:
            treatment = cells.loc[variant] if variant in cells.index else None
            rows.append(readout_row(experiment, metric, control, treatment, variant))
    frame = pd.DataFrame(rows)
    for column in RESULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    rules = experiment.rules
    frame["primary"] = frame.metric == rules.primary_metric
    p = [None if (s != OK) else float(v) for s, v in zip(frame.status, frame.p_value, strict=True)]
    sp = [None if (s != OK) else float(v) for s, v in zip(frame.status, frame.seq_p_value, strict=True)]
    frame["p_value_adjusted"] = adjust(p, rules.correction)
    frame["seq_p_value_adjusted"] = adjust(sp, rules.correction)
    frame["significant"] = [v is not None and not pd.isna(v) and v < rules.alpha for v in frame.p_value_adjusted]
    frame["seq_significant"] = [
        v is not None and not pd.isna(v) and v < rules.alpha for v in frame.seq_p_value_adjusted
    ]
    frame["direction"] = frame.direction.fillna("inconclusive")
    frame["verdict"] = verdicts(frame, experiment).to_numpy() if len(frame) else []
    return frame[RESULT_COLUMNS]


def power_table(
    experiment: Experiment, stats: pd.DataFrame, users_total: int, days_running: float | None
) -> pd.DataFrame:
    """MDE now and the users/days needed for the target lift, per metric and treatment."""
    rules = experiment.rules
    rows = []
    for metric in experiment.metrics:
        cells = stats[stats.metric == metric.name].set_index("variant")
        for variant in experiment.treatments:
            if experiment.control not in cells.index or variant not in cells.index:
                continue
            try:
                a, b = pair_moments(
                    metric, cells.loc[experiment.control], cells.loc[variant], experiment.control, variant
                )
                pw = power_analysis(
                    a,
                    b.n,
                    experiment.split[experiment.control],
                    experiment.split[variant],
                    rules.target_lift,
                    rules.alpha,
                    rules.power,
                    rules.alternative,
                    users_total,
                    days_running,
                )
            except NotEnoughData:
                continue
            rows.append(
                {
                    "metric": metric.name,
                    "variant": variant,
                    "mde_relative": pw.mde_relative,
                    "target_lift": pw.target_lift,
                    "control_needed": pw.control_needed,
                    "variant_needed": pw.treatment_needed,
                    "total_needed": pw.total_needed,
                    "days_needed": pw.days_needed,
                    "days_remaining": pw.days_remaining,
                    "alpha": rules.alpha,
                    "power": rules.power,
                }
            )
    columns = [
        "metric",
        "variant",
        "mde_relative",
        "target_lift",
        "control_needed",
        "variant_needed",
        "total_needed",
        "days_needed",
        "days_remaining",
        "alpha",
        "power",
    ]
    return pd.DataFrame(rows, columns=columns)


def _users_table(experiment: Experiment, users: dict[str, int]) -> pd.DataFrame:
    total = sum(users.get(v, 0) for v in experiment.variants)
    return pd.DataFrame(
        {
            "variant": experiment.variants,
            "users": [users.get(v, 0) for v in experiment.variants],
            "share": [users.get(v, 0) / total if total else None for v in experiment.variants],
            "planned_share": [experiment.split[v] for v in experiment.variants],
        }
    )


def analyze_stats(
    experiment: Experiment, suff: dict[str, Any], as_of: Any = None, source_info: dict | None = None
) -> ExperimentResult:
    """Build the result from precomputed sufficient statistics (see ``sufficient.experiment_stats``)."""
    users: dict[str, int] = suff["users"]
    known = {v: users.get(v, 0) for v in experiment.variants}
    unknown = sum(n for v, n in users.items() if v not in experiment.split)
    stats = suff["stats"]
    stats = stats[stats.variant.isin(experiment.variants)]
    srm = srm_check(known, experiment.split, experiment.rules.srm_threshold)
    days_running = None
    if suff.get("first_assigned") is not None and suff.get("data_end") is not None:
        days_running = max((suff["data_end"] - suff["first_assigned"]).total_seconds() / 86400.0, 0.0) or None
    results = readout_table(experiment, stats)
    power = power_table(experiment, stats, sum(known.values()), days_running)
    recommendation = recommend(experiment, srm, known, results, power)
    rules = experiment.rules
    as_of_ts = naive_utc(as_of) if as_of is not None else suff.get("data_end")
    return ExperimentResult(
        experiment_id=experiment.id,
        name=experiment.name,
        hypothesis=experiment.hypothesis,
        control=experiment.control,
        srm_status=srm.status,
        srm=srm,
        recommendation=recommendation,
        users=_users_table(experiment, known),
        results=results,
        power=power,
        excluded_multi_variant_users=int(suff["multi_variant_users"]),
        excluded_unknown_variant_users=int(unknown),
        as_of=None if as_of_ts is None else as_of_ts.isoformat() + "Z",
        days_running=days_running,
        settings={
            "alpha": rules.alpha,
            "alternative": rules.alternative,
            "correction": rules.correction,
            "decision": rules.decision,
            "sequential_tuning": rules.sequential_tuning,
            "power": rules.power,
            "target_lift": rules.target_lift,
            "prior_mean": rules.prior_mean,
            "prior_sd": rules.prior_sd,
            "primary_metric": rules.primary_metric,
            "min_sample_per_variant": rules.min_sample_per_variant,
        },
        caps=dict(suff.get("caps", {})),
        source=source_info or {},
    )


def _resolve(catalog_or_experiment: Any, experiment_id: str | None) -> Experiment:
    if isinstance(catalog_or_experiment, Experiment):
        return catalog_or_experiment
    return experiment_from_catalog(catalog_or_experiment, experiment_id)


def cumulative_readout(source: Any, experiment: Experiment, as_of: Any = None, freq: str = "1D") -> pd.DataFrame:
    """The readout at the end of every day (``freq``) since the first assignment: lift, its fixed and
    always-valid intervals and p-values, with the running minimum of the always-valid p-value."""
    exp_source = as_experiment_source(source)
    if not exp_source.supports_time:
        return pd.DataFrame()
    final = exp_source.sufficient_stats(experiment, as_of)
    start, end = final.get("first_assigned"), final.get("data_end")
    if start is None or end is None:
        return pd.DataFrame()
    cuts = list(pd.date_range(start.floor("D") + pd.Timedelta(freq), end, freq=freq))
    if not cuts or cuts[-1] < end:
        cuts.append(end + pd.Timedelta(microseconds=1))
    rows = []
    for cut in cuts:
        suff = final if cut > end else exp_source.sufficient_stats(experiment, cut.to_pydatetime())
        table = readout_table(experiment, suff["stats"][suff["stats"].variant.isin(experiment.variants)])
        table.insert(0, "as_of", cut)
        rows.extend(
            table[
                [
                    "as_of",
                    "metric",
                    "variant",
                    "status",
                    "n_control",
                    "n_variant",
                    "lift",
                    "lift_ci_low",
                    "lift_ci_high",
                    "p_value",
                    "seq_lift_ci_low",
                    "seq_lift_ci_high",
                    "seq_p_value",
                    "chance_to_beat",
                ]
            ].to_dict("records")
        )
    frame = pd.DataFrame(rows)
    frame["seq_p_value_running_min"] = frame.groupby(["metric", "variant"]).seq_p_value.cummin()
    return frame


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
    ``Experiment``. ``as_of`` cuts assignments and events at that instant (UTC when naive).
    ``timeline`` adds the cumulative daily readout (sources with times only).
    """
    experiment = _resolve(catalog_or_experiment, experiment_id)
    exp_source = as_experiment_source(source)
    suff = exp_source.sufficient_stats(experiment, as_of)
    result = analyze_stats(experiment, suff, as_of, exp_source.describe())
    if timeline:
        result.timeline = cumulative_readout(exp_source, experiment, as_of)
    return result
