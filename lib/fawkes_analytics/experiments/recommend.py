"""The recommendation (ship / keep running / stop for harm / investigate) from declared rules.

Rules come from the experiment's ``rules`` in ``analytics.yaml`` (see ``config.Rules``) and
are applied in this order, the first that matches deciding:

1. investigate: sample ratio mismatch over all observed variants (a user in a variant that is
   not in the plan is one);
2. keep running: fewer than ``min_sample_per_variant`` users in a planned variant;
3. investigate: a guardrail without a readout in some treatment (no users with a complete
   window, no conversions left, zero variance: a guardrail that collapses to 0 lands here);
4. stop for harm: the primary metric or a guardrail is significantly worse;
5. ship: the primary metric is significantly better (the best such treatment);
6. keep running: anything else, with what the planned sample still needs.

The reason is one sentence that quotes the deciding readout's lift, interval and evidence,
exactly as the results table shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .config import Experiment
from .readout import BETTER, GUARDRAIL, OK, PRIMARY, WORSE
from .srm import SRMResult

SHIP, KEEP_RUNNING, STOP_FOR_HARM, INVESTIGATE = "ship", "keep running", "stop for harm", "investigate"
DECIDED = (SHIP, STOP_FOR_HARM)


@dataclass(frozen=True)
class Recommendation:
    """What to do, for which variant, why (one sentence), the deciding metric and the rules."""

    decision: str
    variant: str | None
    reason: str
    rules: list[str] = field(default_factory=list)
    metric: str | None = None


def evidence_name(decision: str, correction: str) -> str:
    """How the decision readout's evidence is called in reports."""
    adjusted = "" if correction == "none" else f"{'Holm' if correction == 'holm' else 'BH'}-adjusted "
    if decision == "bayesian":
        return "chance to beat control"
    if decision == "sequential":
        return f"{adjusted}always-valid p"
    return f"{adjusted}p"


def interval_name(row: Any, decision: str) -> str:
    level = float(row.interval_level)
    kind = {"bayesian": "credible interval", "sequential": "always-valid interval"}.get(decision, "confidence interval")
    return f"{level:.0%} {kind}"


def format_bound(value: float) -> str:
    """An interval end as the report prints it: '+4.1%', or '+∞' / '−∞' for an open end."""
    if value == float("inf"):
        return "+∞"
    if value == float("-inf"):
        return "−∞"
    return f"{value:+.1%}"


def evidence_text(row: Any, decision: str, correction: str) -> str:
    """'lift +21.3% (95% always-valid interval +4.1% to +38.5%, Holm-adjusted always-valid p = 0.012)'."""
    low, high = float(row.lift_ci_low), float(row.lift_ci_high)
    interval = f"{interval_name(row, decision)} {format_bound(low)} to {format_bound(high)}"
    role = row.role
    name = evidence_name(decision, "none" if role == GUARDRAIL else correction)
    if decision == "bayesian":
        value = f"{name} {float(row.chance_to_beat):.1%}"
    else:
        value = f"{name} = {format_p(float(row.p_value_adjusted))}"
    return f"lift {float(row.lift):+.1%} ({interval}, {value})"


def format_p(value: float | None) -> str:
    """A p-value as the report prints it (the same text in the verdict and the table)."""
    if value is None or value != value:
        return "–"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def describe_rules(experiment: Experiment) -> list[str]:
    """The rules in words, printed next to the recommendation."""
    rules = experiment.rules
    correction = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}[rules.correction]
    guards = ", ".join(rules.guardrail_metrics) or "none"
    if rules.decision == "bayesian":
        better = f"chance to beat control >= {rules.min_chance_to_beat:.0%} (the {2 * rules.min_chance_to_beat - 1:.0%} credible interval above 0)"
        worse = f"chance to beat control <= {1 - rules.min_chance_to_beat:.0%}"
    else:
        name = "always-valid p" if rules.decision == "sequential" else "p"
        better = (
            f"{name} < {rules.alpha:g} ({rules.alternative}, {correction} correction over the non-guardrail "
            "metrics and treatments); the interval shown agrees with it"
        )
        adjusted = "" if rules.correction == "none" else "adjusted "
        worse = (
            f"primary: {adjusted}{name} < {rules.alpha:g}; guardrails: one-sided test for harm, {name} < "
            f"{rules.alpha:g}, not corrected"
        )
    return [
        f"Sample ratio mismatch (chi-square p < {rules.srm_threshold:g} over all observed variants; any user in a "
        "variant that is not in the plan counts) -> investigate.",
        f"Fewer than {rules.min_sample_per_variant:,} users in any variant -> keep running.",
        f"A guardrail ({guards}) without a readout in any variant (no data, zero variance, collapsed to 0) -> investigate.",
        f"Stop for harm: primary metric '{rules.primary_metric}' or a guardrail significantly worse ({worse}).",
        f"Ship: '{rules.primary_metric}' significantly better ({better}).",
        "Otherwise -> keep running until the planned sample "
        f"({rules.power:.0%} power for a {rules.target_lift:.0%} lift).",
    ]


def recommend(
    experiment: Experiment,
    srm: SRMResult,
    users: dict[str, int],
    results: pd.DataFrame,
    power: pd.DataFrame,
) -> Recommendation:
    """Apply the rules in order (see the module docstring)."""
    rules = experiment.rules
    text = describe_rules(experiment)

    def decide(decision: str, reason: str, variant: str | None = None, metric: str | None = None) -> Recommendation:
        return Recommendation(decision, variant, reason, text, metric)

    if srm.flagged:
        return decide(INVESTIGATE, srm.message)
    small = {v: users.get(v, 0) for v in experiment.variants if users.get(v, 0) < rules.min_sample_per_variant}
    if small:
        listed = ", ".join(f"{v} has {n:,}" for v, n in small.items())
        return decide(
            KEEP_RUNNING,
            f"Not enough users yet: {listed} (rule: at least {rules.min_sample_per_variant:,} per variant).",
        )
    broken = results[(results.role == GUARDRAIL) & (results.status != OK)]
    if len(broken):
        first = broken.iloc[0]
        return decide(
            INVESTIGATE,
            f"Guardrail '{first.metric}' cannot be read for '{first.variant}': {first.reason}. "
            "A guardrail with no data or one that collapsed blocks shipping until it is explained.",
            str(first.variant),
            str(first.metric),
        )
    watched = results[results.role.isin([PRIMARY, GUARDRAIL])]
    harmed = watched[watched.verdict == WORSE]
    if len(harmed):
        harm = harmed.lift.where(~harmed.higher_is_better.astype(bool), -harmed.lift)
        first = harmed.assign(harm=harm).sort_values("harm", ascending=False).iloc[0]
        return decide(
            STOP_FOR_HARM,
            f"'{first.variant}' is significantly worse than '{experiment.control}' on '{first.metric}': "
            f"{evidence_text(first, rules.decision, rules.correction)}.",
            str(first.variant),
            str(first.metric),
        )
    primary = results[results.role == PRIMARY]
    winners = primary[primary.verdict == BETTER]
    if len(winners):
        best = winners.sort_values("lift", ascending=not bool(winners.iloc[0].higher_is_better)).iloc[0]
        return decide(
            SHIP,
            f"'{best.variant}' beats '{experiment.control}' on '{rules.primary_metric}': "
            f"{evidence_text(best, rules.decision, rules.correction)}; no guardrail shows harm.",
            str(best.variant),
            rules.primary_metric,
        )
    readable = primary[primary.status == OK]
    if readable.empty:
        reason = primary.iloc[0].reason if len(primary) else "no treatment"
        return decide(
            KEEP_RUNNING, f"No readout on '{rules.primary_metric}' yet: {reason}.", None, rules.primary_metric
        )
    row = readable.iloc[0]
    reason = (
        f"No significant difference on '{rules.primary_metric}' yet"
        + (f" for '{row.variant}'" if len(experiment.treatments) > 1 else "")
        + f": {evidence_text(row, rules.decision, rules.correction)}."
    )
    plan = power[(power.metric == rules.primary_metric) & (power.variant == row.variant)] if len(power) else power
    if len(plan) and pd.notna(plan.iloc[0].total_needed):
        need = plan.iloc[0]
        if pd.notna(need.days_remaining) and need.days_remaining > 0:
            reason += (
                f" {need.power:.0%} power for a {need.target_lift:.0%} lift needs {int(need.total_needed):,} users "
                f"with complete windows: about {need.days_remaining:.0f} more days."
            )
        else:
            reason += (
                f" The planned sample ({int(need.total_needed):,} users for {need.power:.0%} power at a "
                f"{need.target_lift:.0%} lift) is reached: the true lift is probably smaller than {need.target_lift:.0%}."
            )
    return decide(KEEP_RUNNING, reason, None, rules.primary_metric)
