"""The recommendation (ship / keep running / stop for harm / investigate) from declared rules.

Rules come from the experiment's ``rules`` in ``analytics.yaml`` (see ``config.Rules``) and
are returned in words with the decision, so a report prints them next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .config import Experiment
from .srm import SRMResult

SHIP, KEEP_RUNNING, STOP_FOR_HARM, INVESTIGATE = "ship", "keep running", "stop for harm", "investigate"


@dataclass(frozen=True)
class Recommendation:
    """What to do, for which variant, why, and the rules that decided it."""

    decision: str
    variant: str | None
    reason: str
    rules: list[str] = field(default_factory=list)


def _verdict(row: pd.Series, decision: str) -> str:
    """'better', 'worse' or 'inconclusive' for one result row under the decision readout."""
    if row["status"] != "ok":
        return "inconclusive"
    if decision == "bayesian":
        return (
            "better"
            if row["chance_to_beat"] >= row["min_chance"]
            else ("worse" if row["chance_to_beat"] <= 1 - row["min_chance"] else "inconclusive")
        )
    significant = row["seq_significant"] if decision == "sequential" else row["significant"]
    return row["direction"] if significant else "inconclusive"


def verdicts(results: pd.DataFrame, experiment: Experiment) -> pd.Series:
    """Per result row: better / worse / inconclusive under ``rules.decision``."""
    if results.empty:
        return pd.Series(dtype=object)
    frame = results.assign(min_chance=experiment.rules.min_chance_to_beat)
    return frame.apply(_verdict, axis=1, decision=experiment.rules.decision)


def recommend(
    experiment: Experiment, srm: SRMResult, users: dict[str, int], results: pd.DataFrame, power: pd.DataFrame
) -> Recommendation:
    """Apply the rules in order: SRM, minimum sample, harm, ship, otherwise keep running."""
    rules = experiment.rules
    text = rules.describe()
    if srm.flagged:
        return Recommendation(INVESTIGATE, None, srm.message, text)
    small = {v: users.get(v, 0) for v in experiment.variants if users.get(v, 0) < rules.min_sample_per_variant}
    if small:
        listed = ", ".join(f"{v} has {n:,}" for v, n in small.items())
        return Recommendation(
            KEEP_RUNNING,
            None,
            f"Not enough users yet: {listed} (rule: at least {rules.min_sample_per_variant:,} per variant).",
            text,
        )
    verdict = verdicts(results, experiment)
    frame = results.assign(verdict=verdict)
    watched = {rules.primary_metric, *rules.guardrail_metrics}
    harmed = frame[frame.metric.isin(watched) & (frame.verdict == "worse")]
    if len(harmed):
        harm = harmed.lift.where(~harmed.higher_is_better.astype(bool), -harmed.lift)
        harmed = harmed.assign(harm=harm).sort_values("harm", ascending=False)
        first = harmed.iloc[0]
        others = [f"'{r.variant}' on '{r.metric}'" for r in harmed.iloc[1:].itertuples()]
        also = f" Also significantly worse: {', '.join(others)}." if others else ""
        return Recommendation(
            STOP_FOR_HARM,
            str(first.variant),
            f"'{first.variant}' is significantly worse than '{experiment.control}' on '{first.metric}' "
            f"(lift {first.lift:+.2%}, {_evidence(first, rules.decision)}).{also}",
            text,
        )
    primary = frame[frame.metric == rules.primary_metric]
    winners = primary[primary.verdict == "better"]
    if len(winners):
        best = winners.sort_values("lift", ascending=not bool(winners.iloc[0].higher_is_better)).iloc[0]
        return Recommendation(
            SHIP,
            str(best.variant),
            f"'{best.variant}' beats '{experiment.control}' on '{rules.primary_metric}' "
            f"(lift {best.lift:+.2%}, {_evidence(best, rules.decision)}) and no guardrail is significantly worse.",
            text,
        )
    not_ok = primary[primary.status != "ok"]
    if len(not_ok) == len(primary) and len(primary):
        return Recommendation(
            KEEP_RUNNING, None, f"No readout yet on '{rules.primary_metric}': {not_ok.iloc[0].reason}.", text
        )
    reason = f"No significant difference on '{rules.primary_metric}' yet."
    pw = power[power.metric == rules.primary_metric] if len(power) else power
    if len(pw):
        row = pw.iloc[0]
        reason += f" Detectable lift with the current sample: {row.mde_relative:.1%}; detecting {row.target_lift:.0%} needs {int(row.total_needed):,} users"
        reason += f" (about {row.days_remaining:.0f} more days)." if pd.notna(row.days_remaining) else "."
    return Recommendation(KEEP_RUNNING, None, reason, text)


def _evidence(row: pd.Series, decision: str) -> str:
    if decision == "bayesian":
        return f"chance to beat control {row.chance_to_beat:.1%}"
    if decision == "sequential":
        return f"always-valid p = {row.seq_p_value_adjusted:.3g}"
    return f"adjusted p = {row.p_value_adjusted:.3g}"
