"""Ready-to-show pieces of each report: readable tables, house-style charts, status boxes.

Notebooks and dashboards call these so they stay a line per cell. Tables here are for
reading (labelled columns, rounded only when rendered); the CSVs keep the result objects'
stable snake_case columns.
"""

from __future__ import annotations

import html

import pandas as pd
from matplotlib.figure import Figure

from . import plots
from .experiments import ExperimentResult
from .metrics import FeatureAdoption, FeedbackSummary, Lifecycle, Retention, UsageTrends, UserSegments
from .metrics.funnels import FunnelResult
from .metrics.kpis import Kpi
from .report import Html
from .timerange import TimeRange

USAGE_SERIES = {"visitors": "Visitors", "visits": "Visits", "pageviews": "Pageviews"}


def _with_local(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """The frame with a ``local`` column: each bucket's start as naive local time, for the x axis."""
    return (
        frame.assign(local=_local(frame, tz)) if len(frame) else frame.assign(local=pd.Series(dtype="datetime64[ns]"))
    )


def _local(frame: pd.DataFrame, tz: str) -> pd.Series:
    return pd.to_datetime(frame["start"], utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def usage_chart(usage: UsageTrends, tz: str = "UTC") -> Figure:
    """Visitors, visits and pageviews per bucket of the range."""
    series = _with_local(usage.timeseries, tz)
    return plots.timeseries(
        series,
        "local",
        list(USAGE_SERIES),
        f"Visitors, visits and pageviews per {usage.granularity}",
        labels=list(USAGE_SERIES.values()),
    )


def active_users_chart(usage: UsageTrends, tz: str = "UTC") -> Figure:
    """Active users per bucket (the daily chart of the usage report)."""
    series = _with_local(usage.timeseries, tz)
    return plots.timeseries(
        series, "local", ["active_users"], f"Active users per {usage.granularity}", labels=["Active users"]
    )


def bounce_chart(usage: UsageTrends, tz: str = "UTC") -> Figure:
    series = _with_local(usage.timeseries, tz)
    return plots.timeseries(
        series, "local", ["bounce_rate"], f"Bounce rate per {usage.granularity}", labels=["Bounce rate"], percent=True
    )


def _labelled(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    present = {c: label for c, label in columns.items() if c in frame.columns}
    return frame[list(present)].rename(columns=present)


BREAKDOWN_COLUMNS = {
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Pageviews",
    "bounce_rate": "Bounce rate %",
    "visit_duration": "Visit duration s",
}


def breakdown_table(frame: pd.DataFrame, key: str, label: str) -> pd.DataFrame:
    """A top pages / entry pages / sources / campaigns table with readable headings."""
    return _labelled(frame, {key: label, **BREAKDOWN_COLUMNS})


def adoption_chart(adoption: FeatureAdoption) -> Figure:
    """Adoption rate per feature (share of active users who used it)."""
    return plots.bars(adoption.features, "title", "adoption_rate", "Feature adoption (% of active users)", percent=True)


def adoption_table(adoption: FeatureAdoption) -> pd.DataFrame:
    return _labelled(
        adoption.features,
        {
            "title": "Feature",
            "adoption_rate": "Adoption %",
            "rate_change_points": "Change pp",
            "unique_users": "Users",
            "usage_count": "Uses",
            "trend": "Trend",
        },
    )


def adoption_trend_chart(adoption: FeatureAdoption, tz: str = "UTC") -> Figure:
    """Adoption rate of every feature over the range, one line each."""
    series = adoption.timeseries
    if series.empty:
        return plots.empty("Adoption over time")
    wide = series.pivot_table(index="start", columns="feature", values="adoption_rate").reset_index()
    wide["local"] = _local(wide, tz)
    features = [c for c in wide.columns if c not in ("start", "local")]
    titles = dict(zip(adoption.features["feature"], adoption.features["title"], strict=True))
    return plots.timeseries(
        wide,
        "local",
        features,
        "Adoption rate over time (%)",
        labels=[titles.get(f, f) for f in features],
        percent=True,
    )


def segments_chart(segments: UserSegments) -> Figure:
    return plots.bars(segments.segments, "segment", "share", "Segment shares (% of users)", percent=True, color=2)


def segments_table(segments: UserSegments) -> pd.DataFrame:
    return _labelled(
        segments.segments,
        {
            "segment": "Segment",
            "users": "Users",
            "share": "Share %",
            "mean_engagement": "Engagement (0-10)",
            "mean_active_days": "Active days",
            "mean_events": "Events per user",
            "mean_features_used": "Features used",
        },
    )


def power_curve_chart(segments: UserSegments, window: int = 28) -> Figure:
    """How many users were active on 1, 2, ... days of the last ``window`` days."""
    curve = segments.power_curve[segments.power_curve["window"] == window].sort_values("days")
    return plots.columns(
        curve,
        "days",
        "users",
        f"Power-user curve: users by days active in the last {window}",
        color=4,
        xlabel="days active",
    )


def funnel_chart(funnel: FunnelResult) -> Figure:
    return plots.funnel(funnel.steps, "label", "count", f"{funnel.title} funnel")


def funnel_table(funnel: FunnelResult) -> pd.DataFrame:
    return _labelled(
        funnel.steps,
        {
            "step": "Step",
            "label": "Name",
            "count": "People",
            "conversion_from_start_pct": "From start %",
            "conversion_from_previous_pct": "From previous %",
            "drop_off": "Dropped",
            "median_seconds_to_convert": "Median s to convert",
            "conversion_from_start_change_pp": "Change pp",
        },
    )


def funnel_breakdown_table(funnel: FunnelResult) -> pd.DataFrame:
    """Steps per breakdown value (first touch), with conversion and median time per value."""
    return _labelled(
        funnel.breakdown_steps,
        {
            "breakdown_value": f"{funnel.title} by {funnel.breakdown}",
            "step": "Step",
            "label": "Name",
            "count": "People",
            "conversion_from_start_pct": "From start %",
            "conversion_from_previous_pct": "From previous %",
            "median_seconds_to_convert": "Median s to convert",
        },
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}" if hours else f"{minutes}:{secs:02d}"


def time_to_convert_chart(funnel: FunnelResult) -> Figure:
    """Histogram of the time from the first to the last step of converted people."""
    frame = funnel.time_to_convert
    title = f"{funnel.title}: time from first to last step"
    if frame.empty:
        return plots.empty(title)
    labelled = frame.assign(
        label=[
            f"{_duration(lo)}-{_duration(hi)}" for lo, hi in zip(frame.lower_seconds, frame.upper_seconds, strict=True)
        ]
    )
    return plots.columns(labelled, "label", "people", title, color=1, xlabel="minutes:seconds (or hours)")


def experiment_status(result: ExperimentResult) -> Html:
    """The sample-ratio check (shown above everything) and the recommendation with its reason."""
    srm_class = "fwk-warn" if result.srm.flagged else "fwk-ok"
    rec = result.recommendation
    rules = "".join(f"<li>{html.escape(rule)}</li>" for rule in rec.rules)
    return Html(
        "<style>.fwk-ok{background:#e3f4ec;border:1px solid #009e73;color:#004d36}</style>"
        f'<div class="fwk-banner {srm_class}">{html.escape(result.srm.message)}</div>'
        f'<div class="fwk-banner fwk-ok" style="background:#eef4fb;border-color:#0072b2;color:#00365c">'
        f"Recommendation: {html.escape(rec.decision.upper())}"
        f"{' (' + html.escape(str(rec.variant)) + ')' if rec.variant else ''}. {html.escape(rec.reason)}</div>"
        f"<details><summary>Decision rules (from analytics.yaml)</summary><ul>{rules}</ul></details>"
    )


def _p(value: float | None) -> str:
    if value is None or pd.isna(value):
        return "–"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def experiment_table(result: ExperimentResult) -> pd.DataFrame:
    """One row per metric and treatment: values, lift with interval, p-values, chance to beat."""
    frame = result.results
    if frame.empty:
        return frame
    rows = []
    for r in frame.itertuples():
        ok = r.status == "ok"
        rows.append(
            {
                "Metric": r.metric + (" (primary)" if r.primary else ""),
                "Variant": r.variant,
                "Users": f"{r.n_control:,} / {r.n_variant:,}",
                "Control": f"{r.mean_control:.4g}" if ok else "–",
                "Variant value": f"{r.mean_variant:.4g}" if ok else "–",
                "Lift (95% interval)": f"{100 * r.lift:+.1f}% ({100 * r.lift_ci_low:+.1f}% to {100 * r.lift_ci_high:+.1f}%)"
                if ok
                else f"not enough data: {r.reason}",
                "p (adjusted)": _p(r.p_value_adjusted) if ok else "–",
                "Always-valid p": _p(r.seq_p_value_adjusted) if ok else "–",
                "Chance to beat": f"{100 * r.chance_to_beat:.1f}%" if ok else "–",
                "Verdict": r.verdict,
            }
        )
    return pd.DataFrame(rows)


def power_table(result: ExperimentResult) -> pd.DataFrame:
    """Detectable lift now, and users and days needed for the target lift."""
    frame = result.power
    if frame.empty:
        return frame
    return pd.DataFrame(
        {
            "Metric": frame["metric"],
            "Variant": frame["variant"],
            "Detectable lift now": [f"{100 * v:.1f}%" if pd.notna(v) else "–" for v in frame["mde_relative"]],
            "Target lift": [f"{100 * v:.1f}%" for v in frame["target_lift"]],
            "Users needed": [f"{v:,.0f}" if pd.notna(v) else "–" for v in frame["total_needed"]],
            "Days still needed": [f"{max(v, 0):,.0f}" if pd.notna(v) else "–" for v in frame["days_remaining"]],
        }
    )


def experiments_summary(experiments: dict[str, ExperimentResult]) -> pd.DataFrame:
    """One row per experiment: SRM status, users, decision (for the overview)."""
    rows = []
    for result in experiments.values():
        rows.append(
            {
                "Experiment": result.name,
                "Users": int(result.users["users"].sum()) if len(result.users) else 0,
                "Days running": round(result.days_running or 0, 1),
                "Sample ratio": "MISMATCH" if result.srm.flagged else "ok",
                "Decision": result.recommendation.decision,
                "Why": result.recommendation.reason,
            }
        )
    return pd.DataFrame(rows)


def funnels_summary(funnels: dict[str, FunnelResult]) -> pd.DataFrame:
    """One row per funnel: entered, converted, conversion and its change (for the overview)."""
    return pd.DataFrame(
        [
            {
                "Funnel": f.title,
                "Entered": f.entered,
                "Converted": f.converted,
                "Conversion %": f.conversion_rate_pct,
                "Change pp": f.conversion_rate_change_pp,
            }
            for f in funnels.values()
        ]
    )


def adoption_kpis(adoption: FeatureAdoption) -> list[Kpi]:
    """One tile per feature: adoption rate, change in percentage points."""
    return [
        Kpi(
            f"adoption_{r.feature}",
            r.title,
            r.adoption_rate,
            r.adoption_rate_previous,
            r.rate_change_points,
            "points",
            "%",
        )
        for r in adoption.features.itertuples()
    ]


def segment_kpis(current: UserSegments, previous: UserSegments) -> list[Kpi]:
    """Users in scope and the size of each segment, against the previous period."""
    before = dict(zip(previous.segments["segment"], previous.segments["users"], strict=True))
    kpis = [Kpi.compare("segment_population", "Users in scope", current.population, previous.population)]
    kpis += [
        Kpi.compare(
            f"segment_{r.segment}",
            f"{str(r.segment).replace('_', ' ').capitalize()} users",
            r.users,
            before.get(r.segment, 0),
        )
        for r in current.segments.itertuples()
    ]
    return kpis


def funnel_kpis(funnels: dict[str, FunnelResult]) -> list[Kpi]:
    """Overall conversion of each funnel, change in percentage points."""
    return [
        Kpi(
            f"funnel_{f.name}",
            f"{f.title} conversion",
            f.conversion_rate_pct,
            f.previous_conversion_rate_pct,
            f.conversion_rate_change_pp,
            "points",
            "%",
        )
        for f in funnels.values()
    ]


def experiment_kpis(current: ExperimentResult, earlier: ExperimentResult) -> list[Kpi]:
    """Users per variant now against the readout at the start of the range."""
    before = dict(zip(earlier.users["variant"], earlier.users["users"], strict=True))
    return [
        Kpi.compare(f"users_{r.variant}", f"Users in {r.variant}", r.users, before.get(r.variant, 0))
        for r in current.users.itertuples()
    ]


def feedback_kpis(feedback: FeedbackSummary) -> list[Kpi]:
    return [
        Kpi("nps", "Net promoter score", feedback.nps, feedback.nps_previous, feedback.nps_change, "points", ""),
        Kpi.compare("nps_responses", "Survey responses", feedback.responses, None),
    ]


def nps_chart(feedback: FeedbackSummary, tz: str = "UTC") -> Figure:
    series = feedback.nps_timeseries
    if series.empty or "nps" not in series.columns:
        return plots.empty("Net promoter score over time")
    series = series.assign(local=lambda f: _local(f, tz))
    return plots.timeseries(series, "local", ["nps"], "Net promoter score over time", labels=["NPS"])


def retention_table(retention: Retention, tz: str = "UTC") -> pd.DataFrame:
    """Cohort retention: the share of each cohort active in period N ('on period N'), in %."""
    frame = retention.matrix_on.copy()
    if frame.empty:
        return frame
    frame["cohort_start"] = _local(frame.rename(columns={"cohort_start": "start"}), tz).dt.strftime("%Y-%m-%d")
    periods = [c for c in frame.columns if c.startswith("period_")]
    renamed = {"cohort_start": "Cohort", "size": "Users"} | {
        c: f"{retention.period.capitalize()} {c.split('_')[1]}" for c in periods
    }
    return frame.rename(columns=renamed)


def lifecycle_chart(lifecycle: Lifecycle, tz: str = "UTC") -> Figure:
    frame = lifecycle.periods
    if frame.empty:
        return plots.empty("Lifecycle")
    columns = [c for c in ("new", "returning", "resurrecting", "dormant") if c in frame.columns]
    x = "start" if "start" in frame.columns else frame.columns[0]
    frame = frame.assign(local=_local(frame, tz)) if x == "start" else frame.assign(local=frame[x])
    return plots.timeseries(
        frame.assign(dormant=-frame["dormant"]) if "dormant" in columns else frame,
        "local",
        columns,
        f"Lifecycle per {lifecycle.period}",
        allow_negative=True,
    )


def retention_period(time_range: TimeRange, choice: str = "auto") -> str:
    """The retention/lifecycle period: days for ranges up to 14 days, weeks beyond (or as chosen)."""
    if choice != "auto":
        return choice
    return "day" if time_range.duration.days <= 14 else "week"
