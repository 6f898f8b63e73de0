"""One readout per metric and treatment: one estimand, one test, one interval, one measure of evidence.

The estimand is the relative lift ``(B - A) / |A|`` (delta method, ``moments.effect``); the
absolute difference ``B - A`` is reported next to it, and its interval is the lift's interval
in the metric's units (``lift interval x |control mean|``), so the two never disagree.

The test is the one ``rules.decision`` names, and only its evidence is filled in:

- ``frequentist``: Welch t (``inference.FixedHorizonTest``), evidence = adjusted p-value;
- ``sequential``: always-valid (``inference.SequentialTest``), evidence = adjusted always-valid p;
- ``bayesian``: normal posterior (``bayesian.bayesian_test``), evidence = chance to beat control.

The direction tested depends on the metric's role: the primary metric uses
``rules.alternative``; a guardrail is always tested one-sided for harm (``less`` when higher
is better, ``greater`` otherwise), whatever the primary uses; other metrics are two-sided.

Multiple testing (Holm or Benjamini-Hochberg) runs over the non-guardrail metrics x treatments
(GrowthBook adjusts goal and secondary metrics, not guardrails, so a harm is never diluted).
Each interval is then the one that agrees with its adjusted p-value
(``inference.adjusted_interval``): ``p_value_adjusted < alpha`` exactly when the interval
excludes 0, and for the Bayesian readout the chance to beat reaches the threshold exactly
when the credible interval excludes 0.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .bayesian import bayesian_test
from .config import Experiment, Metric, Rules
from .corrections import adjust
from .inference import GREATER, LESS, TWO_SIDED, FixedHorizonTest, SequentialTest, adjusted_interval
from .moments import NotEnoughData, effect, pair_arms

OK = "ok"
PRIMARY, GUARDRAIL, SECONDARY = "primary", "guardrail", "secondary"
BETTER, WORSE, INCONCLUSIVE, NO_READOUT = "better", "worse", "inconclusive", "no readout"

RESULT_COLUMNS = [
    "metric",
    "kind",
    "role",
    "variant",
    "control",
    "status",
    "reason",
    "n_control",
    "n_variant",
    "n_open_control",
    "n_open_variant",
    "mean_control",
    "mean_variant",
    "abs_diff",
    "abs_ci_low",
    "abs_ci_high",
    "lift",
    "lift_se",
    "lift_ci_low",
    "lift_ci_high",
    "interval_level",
    "readout",
    "test",
    "alternative",
    "statistic",
    "df",
    "p_value",
    "p_value_adjusted",
    "chance_to_beat",
    "risk_control",
    "risk_variant",
    "posterior_mean",
    "posterior_sd",
    "significant",
    "direction",
    "verdict",
    "higher_is_better",
    "cuped",
]


def metric_role(rules: Rules, metric: Metric) -> str:
    """'primary', 'guardrail' or 'secondary'."""
    if metric.name == rules.primary_metric:
        return PRIMARY
    return GUARDRAIL if metric.name in rules.guardrail_metrics else SECONDARY


def metric_alternative(rules: Rules, metric: Metric) -> str:
    """The direction tested: the rules' for the primary, harm for guardrails, two-sided otherwise."""
    role = metric_role(rules, metric)
    if role == PRIMARY:
        return rules.alternative
    if role == GUARDRAIL:
        return LESS if metric.higher_is_better else GREATER
    return TWO_SIDED


def decision_test(rules: Rules, alternative: str) -> FixedHorizonTest | SequentialTest | None:
    """The frequentist test of ``rules.decision`` (None for Bayesian decisions)."""
    if rules.decision == "sequential":
        return SequentialTest(rules.alpha, rules.sequential_tuning, alternative)
    if rules.decision == "frequentist":
        return FixedHorizonTest(alternative)
    return None


def family_size(experiment: Experiment, metric: Metric) -> int:
    """Tests in the multiple-testing family of this metric (1 for guardrails or no correction)."""
    rules = experiment.rules
    if rules.correction == "none" or rules.decision == "bayesian" or metric_role(rules, metric) == GUARDRAIL:
        return 1
    goals = [m for m in experiment.metrics if metric_role(rules, m) != GUARDRAIL]
    return len(goals) * len(experiment.treatments)


def _base(metric: Metric, rules: Rules, variant: str, control: str, n_a: int, n_b: int) -> dict[str, Any]:
    alternative = metric_alternative(rules, metric)
    test = decision_test(rules, alternative)
    return {
        "metric": metric.name,
        "kind": metric.kind,
        "role": metric_role(rules, metric),
        "variant": variant,
        "control": control,
        "n_control": n_a,
        "n_variant": n_b,
        "readout": rules.decision,
        "test": test.describe()
        if test
        else f"normal posterior ({'flat' if rules.prior_sd is None else 'normal'} prior)",
        "alternative": alternative if test else TWO_SIDED,
        "interval_level": 1 - rules.alpha if test else 2 * rules.min_chance_to_beat - 1,
        "higher_is_better": metric.higher_is_better,
        "cuped": metric.covariate is not None,
    }


def readout_row(experiment: Experiment, metric: Metric, control_row: Any, treatment_row: Any, variant: str) -> dict:
    """The readout of one metric for one treatment against control (p-values not yet adjusted)."""
    rules = experiment.rules
    n_a = int(control_row["n"]) if control_row is not None else 0
    n_b = int(treatment_row["n"]) if treatment_row is not None else 0
    row = _base(metric, rules, variant, experiment.control, n_a, n_b)
    try:
        a, b = pair_arms(metric, control_row, treatment_row, experiment.control, variant)
        lift = effect(a, b, relative=True)
    except NotEnoughData as exc:
        means = {"mean_control": _plain_mean(metric, control_row), "mean_variant": _plain_mean(metric, treatment_row)}
        return row | means | {"status": exc.status, "reason": str(exc)}
    row |= {
        "status": OK,
        "reason": "",
        "mean_control": a.unadjusted_mean,
        "mean_variant": b.unadjusted_mean,
        "abs_diff": b.mean - a.mean,
        "lift": lift.point,
        "lift_se": lift.se,
        "direction": _direction(lift.point, metric.higher_is_better),
        "tmp_scale": abs(a.unadjusted_mean),
        "tmp_df": lift.df,
    }
    test = decision_test(rules, row["alternative"])
    if test is None:
        bayes = bayesian_test(lift, rules.min_chance_to_beat, rules.prior_mean, rules.prior_sd, metric.higher_is_better)
        return row | {
            "chance_to_beat": bayes.chance_to_beat,
            "risk_control": bayes.risk_control,
            "risk_variant": bayes.risk_variant,
            "posterior_mean": bayes.posterior_mean,
            "posterior_sd": bayes.posterior_sd,
            "lift_ci_low": bayes.credible_interval[0],
            "lift_ci_high": bayes.credible_interval[1],
        }
    z = lift.point / lift.se
    return row | {
        "statistic": z,
        "df": lift.df if isinstance(test, FixedHorizonTest) else None,
        "p_value": float(test.p_value(z, lift.df, n_a + n_b)),
    }


def _plain_mean(metric: Metric, row: Any) -> float | None:
    """The variant's metric value when it has one (shown even when no test is possible)."""
    if row is None or int(row["n"]) == 0:
        return None
    if metric.kind == "ratio":
        return float(row["sum_y"]) / float(row["sum_d"]) if float(row["sum_d"]) else None
    return float(row["sum_y"]) / int(row["n"])


def _direction(point: float, higher_is_better: bool) -> str:
    if point == 0:
        return "flat"
    return BETTER if (point > 0) == higher_is_better else WORSE


def _finish_frequentist(frame: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Adjust p-values over the goal family, then the intervals that agree with them."""
    rules = experiment.rules
    ok = frame.status == OK
    goal = ok & (frame.role != GUARDRAIL)
    adjusted = adjust([float(p) if g else None for g, p in zip(goal, frame.p_value, strict=True)], rules.correction)
    frame["p_value_adjusted"] = [
        a if g else (float(p) if o else None) for a, g, o, p in zip(adjusted, goal, ok, frame.p_value, strict=True)
    ]
    lows: list[float | None] = []
    highs: list[float | None] = []
    for row in frame.itertuples():
        if row.status != OK:
            lows.append(None)
            highs.append(None)
            continue
        test = decision_test(rules, row.alternative)
        low, high = adjusted_interval(
            test,
            row.lift,
            row.lift_se,
            rules.alpha,
            row.p_value,
            row.p_value_adjusted,
            row.tmp_df,
            row.n_control + row.n_variant,
        )
        lows.append(low)
        highs.append(high)
    frame["lift_ci_low"], frame["lift_ci_high"] = lows, highs
    frame["significant"] = [bool(o and p < rules.alpha) for o, p in zip(ok, frame.p_value_adjusted, strict=True)]
    return frame


def _verdict(row: Any) -> str:
    if row.status != OK:
        return NO_READOUT
    return row.direction if row.significant else INCONCLUSIVE


def readout_table(experiment: Experiment, stats: pd.DataFrame) -> pd.DataFrame:
    """Every metric x treatment readout with adjusted evidence, agreeing intervals and verdicts."""
    rows = []
    for metric in experiment.metrics:
        cells = stats[stats.metric == metric.name].set_index("variant")
        control = cells.loc[experiment.control] if experiment.control in cells.index else None
        for variant in experiment.treatments:
            treatment = cells.loc[variant] if variant in cells.index else None
            rows.append(readout_row(experiment, metric, control, treatment, variant))
    frame = pd.DataFrame(rows)
    for column in [*RESULT_COLUMNS, "tmp_scale", "tmp_df"]:
        if column not in frame.columns:
            frame[column] = None
    frame = frame.astype({"lift": float, "lift_se": float, "p_value": float, "tmp_scale": float}, errors="ignore")
    rules = experiment.rules
    if rules.decision == "bayesian":
        chance = frame.chance_to_beat.astype(float)
        frame["significant"] = (frame.status == OK) & (
            (chance >= rules.min_chance_to_beat) | (chance <= 1 - rules.min_chance_to_beat)
        )
    elif len(frame):
        frame = _finish_frequentist(frame, experiment)
    frame["significant"] = frame["significant"].fillna(False).astype(bool)
    frame["direction"] = frame["direction"].fillna("flat")
    frame["verdict"] = [_verdict(r) for r in frame.itertuples()] if len(frame) else []
    scale = frame["tmp_scale"].astype(float)
    frame["abs_ci_low"] = frame["lift_ci_low"].astype(float) * scale
    frame["abs_ci_high"] = frame["lift_ci_high"].astype(float) * scale
    return frame[RESULT_COLUMNS]


def interval_agrees(row: Any, rules: Rules) -> bool:
    """True when the row's decision and its interval say the same (used by tests and reports)."""
    if row.status != OK:
        return True
    low, high = float(row.lift_ci_low), float(row.lift_ci_high)
    excludes_zero = low > 0 or high < 0
    if rules.decision == "bayesian":
        return excludes_zero == bool(row.significant)
    if math.isnan(low) or math.isnan(high):
        return False
    return excludes_zero == (float(row.p_value_adjusted) < rules.alpha)
