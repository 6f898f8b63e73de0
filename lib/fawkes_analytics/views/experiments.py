"""The experiment report's pieces: the verdict first, then the evidence, then the diagnostics.

The readout and power tables hold finished text (an interval is one cell: "+1.2% to +4.0%"),
worded by the decision rule the experiment uses; ``html.table`` shows them as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..columns import Column
from ..formats import when
from ..templates import Html, render
from ..timerange import TimeRange
from .html import table
from .page import custom_range

if TYPE_CHECKING:  # the statistics (SciPy) load with the first experiment, not with every report
    from ..experiments import ExperimentResult


def experiment_window(result: ExperimentResult, fallback: TimeRange) -> TimeRange:
    """The range the experiment was analysed over: first assignment to the analysis time."""
    if not result.first_assigned or not result.as_of:
        return fallback
    start = pd.Timestamp(result.first_assigned).to_pydatetime()
    end = pd.Timestamp(result.as_of).to_pydatetime()
    return custom_range(start, end, fallback.tz)


def experiment_verdict(result: ExperimentResult) -> Html:
    """The recommendation first, with its one-sentence reason, then the rules that decided it."""
    rec = result.recommendation
    variant = rec.variant if rec.variant and rec.decision in ("ship", "stop for harm") else None
    known = ("ship", "keep running", "stop for harm")
    return render(
        "parts/verdict.html.j2",
        decision=rec.decision,
        style=rec.decision if rec.decision in known else "investigate",
        variant=variant,
        reason=rec.reason,
        rules=rec.rules,
    )


def _evidence_column(result: ExperimentResult) -> str:
    settings = result.settings
    if settings["decision"] == "bayesian":
        return "Chance to beat control"
    name = "always-valid p" if settings["decision"] == "sequential" else "p"
    return f"{'Adjusted ' if settings['correction'] != 'none' else ''}{name}".capitalize()


def _interval_column(result: ExperimentResult) -> str:
    frame = result.results
    level = float(frame.interval_level.iloc[0]) if len(frame) else 1 - result.settings["alpha"]
    kind = {"bayesian": "credible interval", "sequential": "always-valid interval"}.get(
        result.settings["decision"], "confidence interval"
    )
    return f"{level:.0%} {kind}"


def _value(value: float, kind: str) -> str:
    return f"{100 * value:.2f}%" if kind == "conversion" else f"{value:.4g}"


def experiment_table(result: ExperimentResult) -> pd.DataFrame:
    """One row per metric and treatment: the decision readout only (one interval, one evidence)."""
    from ..experiments.recommend import format_bound, format_p

    frame = result.results
    if frame.empty:
        return frame
    evidence, interval = _evidence_column(result), _interval_column(result)
    bayesian = result.settings["decision"] == "bayesian"
    rows = []
    for r in frame.itertuples():
        ok = r.status == "ok"
        guard = " (guardrail: tested for harm, not adjusted)" if r.role == "guardrail" else f" ({r.role})"
        difference = r.abs_diff * 100 if r.kind == "conversion" else r.abs_diff
        unit = " pp" if r.kind == "conversion" else ""
        rows.append(
            {
                "Metric": r.metric + guard,
                "Variant": r.variant,
                "Users (control / variant)": f"{r.n_control:,} / {r.n_variant:,}",
                "Control": _value(r.mean_control, r.kind) if ok else "–",
                "Variant value": _value(r.mean_variant, r.kind) if ok else "–",
                "Difference": f"{difference:+.3g}{unit}" if ok else "–",
                "Lift": f"{100 * r.lift:+.1f}%" if ok else f"{r.status}: {r.reason}",
                interval: f"{format_bound(r.lift_ci_low)} to {format_bound(r.lift_ci_high)}" if ok else "–",
                evidence: (f"{r.chance_to_beat:.1%}" if bayesian else format_p(r.p_value_adjusted)) if ok else "–",
                "Verdict": r.verdict,
            }
        )
    return pd.DataFrame(rows)


def _when(value: str | None, tz: str) -> str:
    return when(value, tz) if value else "–"


def experiment_diagnostics(result: ExperimentResult, tz: str = "UTC") -> Html:
    """Sample ratio, users per variant against the plan, unknown variants, users left out, window.

    Times are in the reporting time zone ``tz``, like the header's.
    """
    windows = [
        {
            "metric": w.metric,
            "days": w.window_days,
            "included": f"{w.users_included:,}",
            "assigned": f"{w.users_assigned:,}",
            "until": _when(w.assigned_until, tz),
            "open": f"{w.users_window_open:,}",
        }
        for w in result.windows.itertuples()
        if w.assigned_until
    ]
    unknown = ", ".join(f"'{v}' {n:,}" for v, n in result.unknown_variants.items())
    return render(
        "parts/diagnostics.html.j2",
        srm_flagged=result.srm.flagged,
        srm_message=result.srm.message,
        first_assigned=_when(result.first_assigned, tz),
        as_of=_when(result.as_of, tz),
        windows=windows,
        unknown_variants=unknown,
        multi_variant_users=f"{result.excluded_multi_variant_users:,}",
        users_table=table(
            result.users,
            ("variant", "planned", "users", "share", "planned_share"),
            {"share": Column("Share", "ratio")},  # fractions 0-1 here
            max_rows=None,
        ),
    )


def power_table(result: ExperimentResult) -> pd.DataFrame:
    """Power of the decision rule now, the detectable lift, and users/days for the target lift."""
    frame = result.power
    if frame.empty:
        return frame
    days = []
    for r in frame.itertuples():
        if r.status in ("decision reached", "investigate first", "planned sample reached"):
            days.append(r.status)
        elif r.status == "not computable":
            days.append(f"not computable: {r.reason}")
        else:
            days.append(f"{r.days_remaining:,.0f}" if pd.notna(r.days_remaining) else "–")
    return pd.DataFrame(
        {
            "Metric": frame["metric"],
            "Variant": frame["variant"],
            "Test (level)": [
                f"{t} at {lvl:.3g}" + (f" ({m} tests)" if m > 1 else "") if pd.notna(lvl) else t
                for t, lvl, m in zip(frame["test"], frame["level"], frame["tests_in_family"], strict=True)
            ],
            "Power now at the target": [
                f"{100 * v:.0f}%" if pd.notna(v) else "–" for v in frame["power_at_target_now"]
            ],
            "Detectable lift now": [f"{100 * v:.1f}%" if pd.notna(v) else "–" for v in frame["mde_relative"]],
            "Target lift": [f"{100 * v:.1f}%" for v in frame["target_lift"]],
            "Users needed": [f"{v:,.0f}" if pd.notna(v) else "–" for v in frame["total_needed"]],
            "Days still needed": days,
        }
    )
