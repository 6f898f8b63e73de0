"""The area registry: one entry per area of the product, iterated by every consumer.

An area (unusual changes, usage, feature adoption, experiments, segments, funnels, retention
and lifecycle, feedback) is a compute function, the result type it returns, its KPIs, the tables and
charts that show it and the Prometheus families it exports. The overview, the dashboards,
the emails, data.json and the Prometheus export all iterate over ``AREAS``; none of them
names an area. Adding a metric means one module (the computation and its result type, with
its KPI specs) and one ``Area`` entry here (docs/extending.md walks through it).

Tables and charts are declared, not drawn: a ``TableSpec`` names a result table and the
columns to show (labels and formats come from ``columns.py``), a ``ChartSpec`` names a kind
of chart and the columns it plots. The views (``views/``) render any spec, for reports,
dashboards and emails alike, so an area never carries presentation code of its own.

This module imports nothing heavy: compute functions import their metric module when they
run, and result types are named by import path, so a dashboard or an email can read the
registry without loading the analytics stack.
"""

from __future__ import annotations

import importlib
import inspect
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import formats
from .columns import Column
from .kpi import POINTS, Kpi, KpiSpec

if TYPE_CHECKING:  # results load pandas: the registry imports it only when a result is rebuilt
    from .results import Result


# --- declarations -------------------------------------------------------------------------
@dataclass(frozen=True)
class TableSpec:
    """A table of a result: the result field (or a dotted path) and the columns to show."""

    name: str
    title: str
    data: str | Callable[[Any], Any] = ""  # a result field (dotted path; default ``name``) or a function
    columns: tuple[str, ...] = ()  # shown columns in this order (default: all)
    labels: Mapping[str, str | Column] = field(default_factory=dict)  # labels (or formats) for this table only
    max_rows: int = 20

    def frame(self, result: Any) -> Any:
        return self.data(result) if callable(self.data) else field_at(result, self.data or self.name)


@dataclass(frozen=True)
class ChartSpec:
    """A chart of a result: its kind, the frame it reads and the columns it plots.

    Kinds: ``lines`` (over time: ``x`` is a bucket start), ``bars`` (horizontal, largest on
    top), ``columns`` (vertical, in frame order), ``funnel``, ``heatmap`` (rows ``x``, one
    column per period ``y``) and ``stacked`` (stacked columns over time; ``below_zero``
    columns are drawn under the axis). ``title`` may name result fields: "{granularity}".
    """

    name: str
    title: str
    kind: str
    data: str | Callable[[Any], Any]  # a result field (dotted path), or a function of the result
    x: str
    y: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # legend labels (default: the columns' labels)
    format: str = ""  # value format (default: the first y column's)
    below_zero: tuple[str, ...] = ()
    xlabel: str = ""
    colour: int = 0  # the first colour of the house palette (plots.PALETTE) to use

    def frame(self, result: Any) -> Any:
        return self.data(result) if callable(self.data) else field_at(result, self.data)

    def title_of(self, result: Any) -> str:
        names = [name for _, name, _, _ in string.Formatter().parse(self.title) if name]
        return self.title.format(**{name: getattr(result, name) for name in names})


@dataclass(frozen=True)
class MetricSpec:
    """One exported Prometheus family: name, type, unit, labels and help text (docs/metrics.md)."""

    name: str
    kind: str  # "gauge" | "counter" (counter names carry _total)
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    area: str = ""


def gauge(name: str, unit: str, help_: str, *labels: str) -> MetricSpec:
    """A gauge family: its name, unit, help text and label names."""
    return MetricSpec(name, "gauge", help_, labels, unit)


@dataclass(frozen=True)
class Sample:
    """One value of a family, with its label values."""

    family: str
    value: Any
    labels: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Area:
    """One area: how to compute it, what it returns and how it is shown and exported.

    ``compute(source, catalog, time_range, **options)`` names the options it accepts.
    An area with an ``item`` ("funnel", "experiment") returns ``{name: result}``, one result
    per item of the catalog.
    """

    name: str
    title: str
    description: str
    result_type: str  # "package.module:Class", imported only when a result is rebuilt
    compute: Callable[..., Any]  # (source, catalog, time_range, **options): its keyword options are the area's
    kpis: Callable[[Any], list[Kpi]] = lambda result: list(result.kpis)
    tables: tuple[TableSpec, ...] = ()
    charts: tuple[ChartSpec, ...] = ()
    families: tuple[MetricSpec, ...] = ()
    samples: Callable[[Any, Any], Iterable[Sample]] | None = None
    item: str = ""  # what one result is about, for areas with one result per catalog item
    summary: TableSpec | None = None  # one table over the whole area (all items), for the overview
    overview_charts: tuple[str, ...] = ()  # the charts the overview shows
    in_overview: bool = True
    overview_kpis: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        """The options ``compute`` accepts: its parameters after source, catalog and time range."""
        return tuple(inspect.signature(self.compute).parameters)[3:]

    def run(self, source: Any, catalog: Any, time_range: Any, **options: Any) -> Any:
        """Compute the area, passing on only the options it accepts (None means 'not set')."""
        accepted = {k: v for k, v in options.items() if k in self.options and v is not None}
        return self.compute(source, catalog, time_range, **accepted)

    def kpis_of(self, result: Any) -> list[Kpi]:
        """The area's KPIs for ``result``, each tagged with the area (emails and pages group by it)."""
        return [replace(kpi, area=self.name) for kpi in self.kpis(result)]

    def result_class(self) -> type[Result]:
        module, _, name = self.result_type.partition(":")
        return getattr(importlib.import_module(module), name)

    def load(self, data: Mapping[str, Any]) -> Any:
        """The area's result rebuilt from its ``to_dict()`` (published JSON)."""
        cls = self.result_class()
        if self.item:
            return {name: cls.from_dict(item) for name, item in data.items()}
        return cls.from_dict(data)

    def dump(self, result: Any) -> Any:
        if self.item:
            return {name: item.to_dict() for name, item in result.items()}
        return result.to_dict()

    def items(self, result: Any) -> Iterator[tuple[str, Any]]:
        """(name, result) of each item, or (the area's name, the result) for a one-result area."""
        if self.item:
            yield from result.items()
        else:
            yield self.name, result

    def table(self, name: str) -> TableSpec:
        """A declared table (``summary`` is the table over all items, when the area has one)."""
        summary = (self.summary,) if self.summary is not None else ()
        return _named((*self.tables, *summary), name, f"tables of area {self.name}")

    def chart(self, name: str) -> ChartSpec:
        return _named(self.charts, name, f"charts of area {self.name}")


def _named(specs: Iterable[Any], name: str, where: str) -> Any:
    for spec in specs:
        if spec.name == name:
            return spec
    raise KeyError(f"no {name!r} among the {where}: {[s.name for s in specs]}")


def field_at(result: Any, path: str) -> Any:
    """``result.a.b`` for the path "a.b"."""
    value = result
    for part in path.split("."):
        value = getattr(value, part)
    return value


# --- usage --------------------------------------------------------------------------------
def _usage(source: Any, catalog: Any, time_range: Any, segment: str | None = None, granularity: str | None = None):
    from .metrics.usage import usage_trends

    return usage_trends(source, time_range, granularity, segment=segment, catalog=catalog)


def _usage_samples(usage: Any, time_range: Any) -> Iterator[Sample]:
    yield Sample("analytics_total_users", usage.total_users)
    yield Sample("analytics_active_users", usage.active_users)
    yield Sample("analytics_page_views", usage.pageviews)
    yield Sample("analytics_unique_visitors", usage.visitors)
    yield Sample("analytics_visits", usage.visits)
    yield Sample("analytics_avg_session_duration_seconds", usage.visit_duration)
    yield Sample("analytics_bounce_rate_percentage", usage.bounce_rate)
    yield Sample("analytics_window_seconds", (time_range.end - time_range.start).total_seconds())


BREAKDOWN = ("visitors", "visits", "bounce_rate", "visit_duration")

# fmt: off
USAGE_FAMILIES = (
    gauge("analytics_total_users", "users", "Distinct users seen up to the end of the window (ever)."),
    gauge("analytics_active_users", "users", "Distinct users with any event in the window."),
    gauge("analytics_page_views", "events", "Pageview events in the window (a window count, hence a gauge)."),
    gauge("analytics_unique_visitors", "users", "Distinct users with a pageview in the window."),
    gauge("analytics_visits", "sessions", "Sessions starting in the window (30-minute inactivity rule)."),
    gauge("analytics_avg_session_duration_seconds", "seconds", "Mean visit duration in the window, bounces count 0."),
    gauge("analytics_bounce_rate_percentage", "percent", "Bounced visits / visits in the window, in percent (0-100)."),
    gauge("analytics_window_seconds", "seconds", "Length of the report window the other analytics_* gauges cover."),
)
# fmt: on


USAGE = Area(
    name="usage",
    title="Usage",
    description="Visitors, visits and pageviews (Plausible's definitions), pages and traffic sources.",
    result_type="fawkes_analytics.metrics.usage:UsageTrends",
    compute=_usage,
    tables=(
        TableSpec("top_pages", "Top pages", columns=("page", "visitors", "pageviews", "time_on_page")),
        TableSpec("entry_pages", "Entry pages", columns=("page", *BREAKDOWN), labels={"page": "Entry page"}),
        TableSpec(
            "exit_pages",
            "Exit pages",
            columns=("page", "visitors", "visits", "exit_rate"),
            labels={"page": "Exit page", "visits": "Exits"},
        ),
        TableSpec("sources", "Traffic sources", columns=("source", *BREAKDOWN)),
        TableSpec("utm_campaigns", "Campaigns", columns=("utm_campaign", *BREAKDOWN)),
    ),
    charts=(
        ChartSpec("active_users", "Active users per {granularity}", "lines", "timeseries", "start", ("active_users",)),
        ChartSpec(
            "traffic",
            "Visitors, visits and pageviews per {granularity}",
            "lines",
            "timeseries",
            "start",
            ("visitors", "visits", "pageviews"),
        ),
        ChartSpec("bounce_rate", "Bounce rate per {granularity}", "lines", "timeseries", "start", ("bounce_rate",)),
    ),
    families=USAGE_FAMILIES,
    samples=_usage_samples,
    overview_kpis=True,
    overview_charts=("traffic",),
)


# --- feature adoption ---------------------------------------------------------------------
def _features(source: Any, catalog: Any, time_range: Any, segment: str | None = None, granularity: str | None = None):
    from .metrics.adoption import feature_adoption

    return feature_adoption(source, catalog, time_range, granularity, segment=segment)


def _adoption_over_time(adoption: Any) -> Any:
    """One column per feature title, one row per bucket: the adoption rates to draw as lines."""
    series = adoption.timeseries
    if series.empty:
        return series
    titles = dict(zip(adoption.features["feature"], adoption.features["title"], strict=True))
    wide = series.pivot_table(index="start", columns="feature", values="adoption_rate")
    return wide.rename(columns=lambda f: titles.get(f, f)).reset_index()


def _adoption_charted(adoption: Any) -> tuple[str, ...]:
    return tuple(adoption.features["title"])


def _ratio(percent: Any) -> Any:
    return None if percent is None else percent / 100.0


def _feature_samples(adoption: Any, _time_range: Any) -> Iterator[Sample]:
    for row in adoption.features.itertuples(index=False):
        labels = {"feature_name": row.feature}
        yield Sample("analytics_feature_adoption_rate", _ratio(row.adoption_rate), labels)
        yield Sample("analytics_feature_usage_events", row.usage_count, labels)
        yield Sample("analytics_feature_unique_users", row.unique_users, labels)


# fmt: off
FEATURES_FAMILIES = (
    gauge("analytics_feature_adoption_rate", "ratio", "Share of active users who used the feature in the window (ratio 0-1).", "feature_name"),
    gauge("analytics_feature_usage_events", "events", "Events of the feature in the window (a window count, hence a gauge).", "feature_name"),
    gauge("analytics_feature_unique_users", "users", "Distinct users of the feature in the window.", "feature_name"),
)
# fmt: on


FEATURES = Area(
    name="features",
    title="Feature adoption",
    description="The share of active users who used each feature of the catalog, and its trend.",
    result_type="fawkes_analytics.metrics.adoption:FeatureAdoption",
    compute=_features,
    tables=(
        TableSpec(
            "features",
            "Usage and trend per feature",
            columns=("title", "adoption_rate", "adoption_rate_change", "unique_users", "usage_count", "trend"),
        ),
    ),
    charts=(
        ChartSpec("adoption", "Feature adoption (% of active users)", "bars", "features", "title", ("adoption_rate",)),
        ChartSpec(
            "adoption_over_time", "Adoption rate over time", "lines", _adoption_over_time, "start", format="percent"
        ),
    ),
    families=FEATURES_FAMILIES,
    samples=_feature_samples,
    overview_charts=("adoption",),
)


# --- experiments --------------------------------------------------------------------------
def _experiments(source: Any, catalog: Any, time_range: Any, ids: list[str] | None = None, as_of: Any = None):
    from .experiments import analyze_experiment

    chosen = ids or catalog.experiment_ids
    return {e: analyze_experiment(source, catalog, e, as_of=as_of or time_range.end) for e in chosen}


def primary_conversion_metric(experiment: Any) -> str | None:
    """The metric behind the conversion families: the primary metric when it is a conversion,
    else the first conversion metric of the readout; None when there is none."""
    results = experiment.results
    if results.empty:
        return None
    conversions = results[results.kind == "conversion"]
    primary = experiment.settings.get("primary_metric")
    if primary in set(conversions.metric):
        return str(primary)
    return str(conversions.metric.iloc[0]) if len(conversions) else None


def variant_conversions(experiment: Any) -> dict[str, tuple[int, float | None]]:
    """Per variant (control included): (converted users, conversion rate) on the primary
    conversion metric. A conversion metric's mean is converted / users, so converted users
    are mean * users (exact up to float rounding)."""
    metric = primary_conversion_metric(experiment)
    if metric is None:
        return {}
    rows = experiment.results[experiment.results.metric == metric]
    out: dict[str, tuple[int, float | None]] = {}
    for row in rows.itertuples(index=False):
        for variant, n, mean in (
            (row.control, row.n_control, row.mean_control),
            (row.variant, row.n_variant, row.mean_variant),
        ):
            rate = None if formats.is_missing(mean) else float(mean)
            if variant not in out and rate is not None and not formats.is_missing(n):
                out[str(variant)] = (int(round(rate * float(n))), rate)
    return out


def _experiments_summary(experiments: Mapping[str, Any]) -> Any:
    """One row per experiment: decision, why, sample ratio, users, days running."""
    import pandas as pd

    rows = [
        {
            "experiment": result.name,
            "decision": result.recommendation.decision,
            "why": result.recommendation.reason,
            "sample_ratio": "MISMATCH" if result.srm.flagged else "ok",
            "users": int(result.users["users"].sum()) if len(result.users) else 0,
            "days_running": result.days_running,
        }
        for result in experiments.values()
    ]
    return pd.DataFrame(rows, columns=["experiment", "decision", "why", "sample_ratio", "users", "days_running"])


def _experiment_samples(experiments: Any, _time_range: Any) -> Iterator[Sample]:
    active = significant = 0
    for experiment_id, experiment in experiments.items():
        users = experiment.users
        active += int(users.users.sum() > 0)
        for row in users.itertuples(index=False):
            yield Sample(
                "analytics_experiment_users", row.users, {"experiment_id": experiment_id, "variant": row.variant}
            )
        for variant, (converted, rate) in variant_conversions(experiment).items():
            labels = {"experiment_id": experiment_id, "variant": variant}
            yield Sample("analytics_experiment_conversions", converted, labels)
            yield Sample("analytics_experiment_conversion_rate", rate, labels)
        if "verdict" in experiment.results:
            significant += int(experiment.results.verdict.isin(["better", "worse"]).sum())
        if experiment.srm.status != "not enough data":
            labels = {"experiment_id": experiment_id}
            yield Sample("analytics_experiment_srm_p_value", experiment.srm.p_value, labels)
            yield Sample("analytics_experiment_srm_detected", int(experiment.srm.flagged), labels)
    yield Sample("analytics_active_experiments", active)
    yield Sample("analytics_significant_results", significant)


# fmt: off
EXPERIMENTS_FAMILIES = (
    gauge("analytics_active_experiments", "experiments", "Catalog experiments with at least one assigned user."),
    gauge("analytics_experiment_users", "users", "Users assigned to the variant (multi-variant users excluded).", "experiment_id", "variant"),
    gauge("analytics_experiment_conversions", "users", "Users of the variant who converted on the primary conversion metric.", "experiment_id", "variant"),
    gauge("analytics_experiment_conversion_rate", "ratio", "Conversions / users of the variant on the primary conversion metric (ratio 0-1).", "experiment_id", "variant"),
    gauge("analytics_significant_results", "results", "Metric-variant results that are significantly better or worse under each experiment's decision readout."),
    gauge("analytics_experiment_srm_p_value", "", "Sample ratio mismatch chi-square p-value (absent when there is not enough data).", "experiment_id"),
    gauge("analytics_experiment_srm_detected", "", "1 when the sample ratio mismatch check flags the experiment, else 0.", "experiment_id"),
)
# fmt: on


EXPERIMENTS = Area(
    name="experiments",
    title="Experiments",
    description="Each experiment's recommendation, sample ratio check and readout (cumulative).",
    result_type="fawkes_analytics.experiments.analysis:ExperimentResult",
    compute=_experiments,
    kpis=lambda experiments: [],  # enrolment is never compared with the previous period
    tables=(
        TableSpec(
            "users",
            "Users per variant",
            columns=("variant", "planned", "users", "share", "planned_share"),
            labels={"share": Column("Share", "ratio")},  # fractions 0-1 here
        ),
        TableSpec(
            "results",
            "Results",
            columns=("metric", "variant", "n_control", "n_variant", "lift", "p_value_adjusted", "verdict"),
        ),
    ),
    families=EXPERIMENTS_FAMILIES,
    samples=_experiment_samples,
    item="experiment",
    summary=TableSpec("summary", "Experiments", _experiments_summary),
)


# --- segments -----------------------------------------------------------------------------
def _segments(source: Any, catalog: Any, time_range: Any, compare: bool = True):
    """Segments compared with the previous period (a second pass over its users: about 0.25 s on
    the demo data, against seconds for the whole overview), so their tiles show a change."""
    from .metrics.segments import user_segments

    return user_segments(source, catalog, time_range, compare=compare)


def _power_curve(segments: Any, window: int = 28) -> Any:
    curve = segments.power_curve
    return curve[curve["window"] == window].sort_values("days")


def _segment_samples(segments: Any, _time_range: Any) -> Iterator[Sample]:
    for row in segments.segments.itertuples(index=False):
        yield Sample("analytics_segment_size", row.users, {"segment_name": row.segment})
        yield Sample("analytics_segment_engagement", row.mean_engagement, {"segment_name": row.segment})


# fmt: off
SEGMENTS_FAMILIES = (
    gauge("analytics_segment_size", "users", "Users in the engagement segment.", "segment_name"),
    gauge("analytics_segment_engagement", "score", "Mean engagement score (0-10) of the segment's users.", "segment_name"),
)
# fmt: on


SEGMENTS = Area(
    name="segments",
    title="User segments",
    description="Every active user in exactly one engagement segment, by the rules of analytics.yaml.",
    result_type="fawkes_analytics.metrics.segments:UserSegments",
    compute=_segments,
    tables=(
        TableSpec(
            "segments",
            "Engagement and activity per segment",
            columns=(
                "segment",
                "users",
                "share",
                "mean_engagement",
                "mean_active_days",
                "mean_events",
                "mean_features_used",
            ),
        ),
    ),
    charts=(
        ChartSpec("segment_shares", "Segment shares (% of users)", "bars", "segments", "segment", ("share",), colour=2),
        ChartSpec(
            "power_curve",
            "Power-user curve: users by days active in the last 28",
            "columns",
            _power_curve,
            "days",
            ("users",),
            xlabel="days active",
            colour=4,
        ),
    ),
    families=SEGMENTS_FAMILIES,
    samples=_segment_samples,
    overview_charts=("segment_shares",),
)


# --- funnels ------------------------------------------------------------------------------
def _funnels(source: Any, catalog: Any, time_range: Any, names: list[str] | None = None, breakdown: str | None = None):
    from .metrics.funnels import funnel_report

    chosen = names or list(catalog.funnels)
    return {n: funnel_report(source, catalog.funnel(n), time_range, breakdown) for n in chosen}


# One KPI per funnel: its overall conversion, compared in percentage points.
FUNNEL_CONVERSION = KpiSpec("funnel_conversion", "Conversion", "%", "percent", change_unit=POINTS)


def funnel_kpis(funnels: Mapping[str, Any]) -> list[Kpi]:
    """Overall conversion of each funnel, change in percentage points."""
    return [
        FUNNEL_CONVERSION.of(
            f.conversion_rate_pct,
            f.previous_conversion_rate_pct,
            change=f.conversion_rate_change_pp,
            name=f"funnel_{f.name}",
            label=f"{f.title} conversion",
        )
        for f in funnels.values()
    ]


def _time_to_convert(funnel: Any) -> Any:
    """The histogram with a readable label per bin: '2 min 00 s – 5 min 00 s'."""
    frame = funnel.time_to_convert
    labels = [
        f"{formats.duration(lo)} – {formats.duration(hi)}"
        for lo, hi in zip(frame["lower_seconds"], frame["upper_seconds"], strict=True)
    ]
    return frame.assign(label=labels)


def _funnels_summary(funnels: Mapping[str, Any]) -> Any:
    """One row per funnel: entered, converted, conversion and its change in points."""
    import pandas as pd

    columns = ["funnel", "entered", "converted", "conversion_rate_pct", "conversion_rate_change_pp"]
    rows = [
        [f.title, f.entered, f.converted, f.conversion_rate_pct, f.conversion_rate_change_pp] for f in funnels.values()
    ]
    return pd.DataFrame(rows, columns=columns)


def _funnel_samples(funnels: Any, _time_range: Any) -> Iterator[Sample]:
    for name, funnel in funnels.items():
        yield Sample("analytics_funnel_entered", funnel.entered, {"funnel_name": name})
        yield Sample("analytics_funnel_conversion_rate", _ratio(funnel.conversion_rate_pct), {"funnel_name": name})
        if not funnel.entered:
            continue  # rates of an empty funnel are undefined: leave the step series absent
        for row in funnel.steps.itertuples(index=False):
            labels = {"funnel_name": name, "step": int(row.step), "step_label": row.label}
            yield Sample("analytics_funnel_step_completion_rate", _ratio(row.conversion_from_start_pct), labels)
            yield Sample("analytics_funnel_drop_off_rate", _ratio(row.drop_off_pct), labels)


# fmt: off
FUNNELS_FAMILIES = (
    gauge("analytics_funnel_conversion_rate", "ratio", "People who reached the last step / people who entered (ratio 0-1).", "funnel_name"),
    gauge("analytics_funnel_entered", "users", "People who entered the funnel (step 1) in the window.", "funnel_name"),
    gauge("analytics_funnel_step_completion_rate", "ratio", "People who reached the step / people who entered (ratio 0-1).", "funnel_name", "step", "step_label"),
    gauge("analytics_funnel_drop_off_rate", "ratio", "People lost since the previous step / people at the previous step (ratio 0-1).", "funnel_name", "step", "step_label"),
)
# fmt: on


FUNNELS = Area(
    name="funnels",
    title="Conversion funnels",
    description="People who went through each funnel's steps in order (PostHog's definitions).",
    result_type="fawkes_analytics.metrics.funnels:FunnelResult",
    compute=_funnels,
    kpis=funnel_kpis,
    tables=(
        TableSpec(
            "steps",
            "Steps",
            columns=(
                "step",
                "label",
                "count",
                "conversion_from_start_pct",
                "conversion_from_previous_pct",
                "drop_off",
                "median_seconds_to_convert",
                "conversion_from_start_change_pp",
            ),
            labels={"conversion_from_start_change_pp": "Change"},
        ),
        TableSpec(
            "breakdown_steps",
            "Steps per breakdown value",
            columns=(
                "breakdown_value",
                "step",
                "label",
                "count",
                "conversion_from_start_pct",
                "conversion_from_previous_pct",
                "median_seconds_to_convert",
            ),
            max_rows=60,
        ),
    ),
    charts=(
        ChartSpec("funnel", "{title} funnel", "funnel", "steps", "label", ("count",)),
        ChartSpec(
            "time_to_convert",
            "{title}: time from first to last step",
            "columns",
            _time_to_convert,
            "label",
            ("people",),
            xlabel="time from the first to the last step",
            colour=1,
        ),
    ),
    families=FUNNELS_FAMILIES,
    samples=_funnel_samples,
    item="funnel",
    summary=TableSpec("summary", "Funnels", _funnels_summary),
    overview_kpis=True,
)


# --- retention and lifecycle --------------------------------------------------------------
def _retention(source: Any, catalog: Any, time_range: Any, period: str | None = None):
    from .metrics.retention import retention_and_lifecycle

    return retention_and_lifecycle(source, time_range, period or retention_period(time_range))


def retention_period(time_range: Any, choice: str = "auto") -> str:
    """The retention/lifecycle period: days for ranges up to 14 days, weeks beyond (or as chosen)."""
    if choice != "auto":
        return choice
    return "day" if time_range.duration.days <= 14 else "week"


RETENTION = Area(
    name="retention",
    title="Retention and lifecycle",
    description="Cohorts by first activity and who comes back; new, returning, resurrecting and dormant users.",
    result_type="fawkes_analytics.metrics.retention:RetentionAndLifecycle",
    compute=_retention,
    kpis=lambda result: [],
    tables=(
        TableSpec(
            "lifecycle",
            "Lifecycle per period",
            data="lifecycle.periods",
            columns=("start", *("new", "returning", "resurrecting", "dormant")),
        ),
    ),
    charts=(
        ChartSpec(
            "retention",
            "Retention: share of each cohort active again (%)",
            "heatmap",
            "retention.matrix_on",
            "cohort_start",
            format="percent",
        ),
        ChartSpec(
            "lifecycle",
            "Lifecycle of users per period",
            "stacked",
            "lifecycle.periods",
            "start",
            ("new", "returning", "resurrecting", "dormant"),
            below_zero=("dormant",),
        ),
    ),
    in_overview=False,
)


# --- feedback -----------------------------------------------------------------------------
def _feedback(source: Any, catalog: Any, time_range: Any, granularity: str | None = None):
    from .metrics.feedback import feedback_summary

    return feedback_summary(source, time_range, granularity)


FEEDBACK = Area(
    name="feedback",
    title="Feedback",
    description="Net promoter score from in-product surveys, over time and by category.",
    result_type="fawkes_analytics.metrics.feedback:FeedbackSummary",
    compute=_feedback,
    tables=(
        TableSpec("nps_by_category", "NPS by category", columns=("category", "responses", "nps")),
        TableSpec("rating_distribution", "Ratings", columns=("score", "responses", "share")),
    ),
    charts=(ChartSpec("nps", "Net promoter score over time", "lines", "nps_timeseries", "start", ("nps",)),),
    overview_kpis=True,
    overview_charts=("nps",),
)


# --- unusual changes ----------------------------------------------------------------------
def _anomalies(source: Any, catalog: Any, time_range: Any, forecast_days: int | None = None):
    """Unusual changes on the range's days and, for ranges of two days or more, 14-day forecasts
    (anomalies.outlook: one read of the daily series from the rollup store, kept per data version)."""
    from .anomalies import outlook

    return outlook(source, catalog, time_range, forecast_days=forecast_days)


def _flag_rows(report: Any) -> Any:
    """One row per flag, strongest first, values worded per KPI ('25,544', '4 min 12 s', '18.0%')."""
    import pandas as pd

    from .anomalies.text import day_label, value_label

    specs = {c.kpi.name: c.kpi for c in report.checks}
    rows = []
    for f in report.flags:
        spec = specs[f.kpi]
        change = f"{f.change:+.0f}%" if f.change_unit == "percent" else f"{f.change:+.1f} pp"
        observed, expected = value_label(spec, f.observed), value_label(spec, f.expected, True)
        rows.append([f.label, day_label(f.day), observed, expected, change, round(f.strength, 1)])
    return pd.DataFrame(rows, columns=["KPI", "Day", "Observed", "Expected", "Change", "Strength (robust z)"])


def _anomaly_samples(report: Any, _time_range: Any) -> Iterator[Sample]:
    """Per KPI, its latest judged day: 1 when flagged, else 0, and the day's robust z."""
    for check in report.checks:
        judged = check.days[check.days["status"].isin(["ok", "flagged"])]
        if judged.empty:
            continue  # not enough history, no data: no verdict, so no series (absent, not 0)
        latest = judged.iloc[-1]
        labels = {"kpi": check.kpi.name}
        yield Sample("analytics_kpi_anomaly", int(latest["status"] == "flagged"), labels)
        yield Sample("analytics_kpi_anomaly_z", latest["z"], labels)


# fmt: off
ANOMALY_FAMILIES = (
    gauge("analytics_kpi_anomaly", "", "1 when the KPI's latest judged day is flagged as an unusual change (docs/anomalies.md), else 0; absent without enough history.", "kpi"),
    gauge("analytics_kpi_anomaly_z", "", "Robust z of the KPI's latest judged day: how far from the expected value, in robust standard deviations.", "kpi"),
)
# fmt: on


ANOMALIES = Area(
    name="anomalies",
    title="Unusual changes",
    description="Days on which a KPI left its weekly cycle and trend, strongest first, and where the KPIs are heading.",
    result_type="fawkes_analytics.anomalies.results:AnomalyReport",
    compute=_anomalies,
    kpis=lambda report: [],  # flags are sentences, not tiles
    tables=(TableSpec("flags", "Unusual changes", _flag_rows),),
    families=ANOMALY_FAMILIES,
    samples=_anomaly_samples,
    summary=TableSpec("summary", "Unusual changes", _flag_rows),  # shown as sentences (views.areas.SUMMARY_VIEWS)
)


# The unusual changes come first: the overview, dashboards and emails lead with them.
AREAS: tuple[Area, ...] = (ANOMALIES, USAGE, FEATURES, EXPERIMENTS, SEGMENTS, FUNNELS, RETENTION, FEEDBACK)
BY_NAME: dict[str, Area] = {area.name: area for area in AREAS}


def area(name: str) -> Area:
    """The area called ``name`` (KeyError naming the known areas otherwise)."""
    if name not in BY_NAME:
        raise KeyError(f"unknown area {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def area_of(result: Any) -> Area:
    """The area whose result type ``result`` is; for ``{name: result}`` of a per-item area, that area."""
    if isinstance(result, Mapping) and result:
        result = next(iter(result.values()))
    cls = type(result)
    for candidate in AREAS:
        if candidate.result_type == f"{cls.__module__}:{cls.__qualname__}":
            return candidate
    raise KeyError(f"no area returns {cls.__qualname__}")


def grouped(kpis: Iterable[Kpi]) -> list[tuple[str | None, list[Kpi]]]:
    """KPIs by area, in registry order, with the area's title; KPIs of no known area come last
    (under "Other", or untitled when no KPI names its area: data.json of older runs)."""
    kpis = list(kpis)
    by_area = [(a.title, [k for k in kpis if k.area == a.name]) for a in AREAS]
    groups: list[tuple[str | None, list[Kpi]]] = [(title, members) for title, members in by_area if members]
    rest = [k for k in kpis if k.area not in BY_NAME]
    if rest:
        groups.append(("Other" if groups else None, rest))
    return groups


def families() -> tuple[MetricSpec, ...]:
    """Every Prometheus family of every area, in registry order."""
    return tuple(spec for a in AREAS for spec in a.families)
