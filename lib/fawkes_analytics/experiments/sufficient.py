"""Sufficient statistics per variant and metric, computed in the engine with Ibis.

Each metric reduces to per-user values, then to nine sums per variant: ``n``, ``sum_y``,
``sum_y2`` (the metric), ``sum_d``, ``sum_d2``, ``sum_yd`` (a ratio's denominator) and
``sum_x``, ``sum_x2``, ``sum_yx`` (a CUPED covariate). Every readout runs on these small
aggregates whatever the data size; the same expressions run on DuckDB and Spark.

Units are users as assigned (their first assignment time). Users assigned to more than one
variant of the experiment are excluded and counted. With ``as_of`` only assignments and
events before that instant count, so a cumulative readout is the same query at several
``as_of`` times. Metric windows are half-open: ``[assigned_at, assigned_at + window_days)``;
a covariate window is ``[assigned_at - days, assigned_at)``.

In-progress windows are left out (GrowthBook's and Eppo's "exclude in-progress conversions"):
a metric counts only users whose window has ended by the analysis time (``as_of``, else the
end of the data), i.e. users assigned at or before ``analysis_end - window_days``. Counting
the others would mix users who had 14 days to convert with users who had one. The users left
out are the assigned users minus the metric's ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from .config import Experiment, Measure, Metric

STAT_COLUMNS = ("n", "sum_y", "sum_y2", "sum_d", "sum_d2", "sum_yd", "sum_x", "sum_x2", "sum_yx")


def naive_utc(moment: datetime | str | pd.Timestamp | None) -> pd.Timestamp | None:
    """An instant as a naive UTC timestamp (the storage convention); naive input is taken as UTC."""
    if moment is None:
        return None
    ts = pd.Timestamp(moment)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(UTC).tz_localize(None)
    return ts


def assigned_units(assignments: ir.Table, experiment_id: str, as_of: pd.Timestamp | None) -> tuple[ir.Table, ir.Table]:
    """Users of one experiment with a single variant, and a per-variant summary.

    Returns ``(units[user_id, variant, assigned_at], summary[multi, variant, users, first, last])``;
    summary rows with ``multi`` true count users assigned to several variants.
    """
    a = assignments.filter(assignments.experiment_id == experiment_id)
    if as_of is not None:
        a = a.filter(a.assigned_at < ibis.literal(as_of.to_pydatetime()))
    per_user = a.group_by("user_id").aggregate(
        n_variants=a.variant.nunique(), variant=a.variant.min(), assigned_at=a.assigned_at.min()
    )
    units = per_user.filter(per_user.n_variants == 1).select("user_id", "variant", "assigned_at")
    grouped = per_user.mutate(multi=per_user.n_variants > 1)
    summary = grouped.group_by(["multi", "variant"]).aggregate(
        users=grouped.count(), first=grouped.assigned_at.min(), last=grouped.assigned_at.max()
    )
    return units, summary


def property_value(events: ir.Table, prop: str) -> ir.FloatingValue:
    """A numeric top-level property of the JSON ``properties`` text, NULL when absent.

    A regular expression rather than JSON functions: Ibis compiles JSON access to a Python
    UDF on Spark, while ``regexp_extract`` is native on every engine.
    """
    pattern = '"' + prop.replace('"', "") + r'"\s*:\s*"?(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)'
    return events.properties.re_extract(pattern, 1).nullif("").cast("float64")


def measure_per_user(
    events: ir.Table,
    units: ir.Table,
    measure: Measure,
    lo_days: int,
    hi_days: int,
    as_of: pd.Timestamp | None,
) -> ir.Table:
    """Per user: number of ``measure.event`` events (``cnt``) and sum of its property (``total``)
    in ``[assigned_at + lo_days, assigned_at + hi_days)`` and before ``as_of``."""
    ev = events.filter(events.event_name == measure.event)
    if as_of is not None:
        ev = ev.filter(ev.timestamp < ibis.literal(as_of.to_pydatetime()))
    value = property_value(ev, measure.property) if measure.property else ibis.literal(1.0)
    ev = ev.select(ev_user=ev.user_id, ts=ev.timestamp, value=value)
    joined = units.join(ev, units.user_id == ev.ev_user)
    start = joined.assigned_at + ibis.interval(days=lo_days) if lo_days else joined.assigned_at
    end = joined.assigned_at + ibis.interval(days=hi_days) if hi_days else joined.assigned_at
    inside = joined.filter(joined.ts >= start, joined.ts < end)
    return inside.group_by(m_user=inside.user_id).aggregate(cnt=inside.count(), total=inside.value.sum())


def _value(per_user: ir.Table, kind: str, measure: Measure) -> ir.FloatingValue:
    if kind == "conversion":
        return (per_user.cnt.fill_null(0) > 0).cast("float64")
    if measure.property:
        return per_user.total.fill_null(0).cast("float64")
    return per_user.cnt.fill_null(0).cast("float64")


def _attach(units: ir.Table, per_user: ir.Table, name: str, kind: str, measure: Measure) -> ir.Table:
    joined = units.left_join(per_user, units.user_id == per_user.m_user)
    return joined.select(*units.columns, **{name: _value(joined, kind, measure)})


def window_closed_by(metric: Metric, analysis_end: pd.Timestamp | None) -> pd.Timestamp | None:
    """The last assignment time whose ``window_days`` window has ended by ``analysis_end``."""
    if analysis_end is None:
        return None
    return analysis_end - pd.Timedelta(days=metric.window_days)


def per_user_values(
    events: ir.Table,
    units: ir.Table,
    metric: Metric,
    as_of: pd.Timestamp | None,
    analysis_end: pd.Timestamp | None = None,
) -> ir.Table:
    """One row per unit whose window has ended: ``variant``, ``y`` and, when needed, ``d`` and ``x``."""
    cutoff = window_closed_by(metric, analysis_end)
    if cutoff is not None:
        units = units.filter(units.assigned_at <= ibis.literal(cutoff.to_pydatetime()))
    table = units
    value_kind = "sum" if metric.kind == "ratio" else metric.kind
    table = _attach(
        table,
        measure_per_user(events, units, metric.measure, 0, metric.window_days, as_of),
        "y",
        value_kind,
        metric.measure,
    )
    if metric.denominator is not None:
        den = measure_per_user(events, units, metric.denominator, 0, metric.window_days, as_of)
        table = _attach(table, den, "d", "sum", metric.denominator)
    if metric.covariate is not None:
        cov = measure_per_user(events, units, metric.covariate.measure, -metric.covariate.days, 0, as_of)
        table = _attach(table, cov, "x", metric.kind, metric.covariate.measure)
    return table


def cap_values(per_user: ir.Table, percentile: float) -> tuple[ir.Table, float | None]:
    """Winsorise ``y`` at the pooled ``percentile`` of all units (GrowthBook's percentile capping)."""
    cap = per_user.y.quantile(percentile / 100.0).execute()
    if cap is None or pd.isna(cap):
        return per_user, None
    cap = float(cap)
    return per_user.mutate(y=ibis.least(per_user.y, ibis.literal(cap))), cap


def aggregate(per_user: ir.Table, by: tuple[str, ...] = ("variant",)) -> ir.Table:
    """The sufficient statistics per variant (and ``by``); parts the metric lacks (``d``, ``x``) are left out."""
    cols = per_user.columns
    y = per_user.y.cast("float64")
    sums = {"n": per_user.count(), "sum_y": y.sum(), "sum_y2": (y * y).sum()}
    if "d" in cols:
        d = per_user.d.cast("float64")
        sums.update(sum_d=d.sum(), sum_d2=(d * d).sum(), sum_yd=(y * d).sum())
    if "x" in cols:
        x = per_user.x.cast("float64")
        sums.update(sum_x=x.sum(), sum_x2=(x * x).sum(), sum_yx=(y * x).sum())
    return per_user.group_by(list(by)).aggregate(**sums)


def complete(aggregated: ir.Table, metric_name: str, keys: tuple[str, ...] = ()) -> ir.Table:
    """An ``aggregate`` with every statistic column (absent parts 0) and a ``metric`` column."""
    fill = {c: ibis.literal(0.0) for c in STAT_COLUMNS if c not in aggregated.columns}
    full = aggregated.mutate(**fill) if fill else aggregated
    return full.select(
        *keys,
        metric=ibis.literal(metric_name),
        variant=full.variant.cast("string"),
        n=full.n.cast("int64"),
        **{c: full[c].cast("float64") for c in STAT_COLUMNS if c != "n"},
    )


def to_frame(expression: ir.Table, keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """Execute completed aggregates into the small pandas statistics frame."""
    frame = expression.to_pandas()
    for column in STAT_COLUMNS:
        frame[column] = frame[column].fillna(0).astype("int64" if column == "n" else "float64")
    frame["variant"] = frame["variant"].astype(str)
    return frame[[*keys, "metric", "variant", *STAT_COLUMNS]].reset_index(drop=True)


def metric_expression(per_user: ir.Table, metric: Metric) -> tuple[ir.Table, float | None]:
    """The completed aggregate of one metric (capping first if configured; the cap runs one query)."""
    cap = None
    if metric.cap_percentile is not None:
        per_user, cap = cap_values(per_user, metric.cap_percentile)
    return complete(aggregate(per_user), metric.name), cap


@dataclass
class SufficientStats:
    """What an experiment source returns: everything the statistics need, nothing per user.

    ``stats`` has one row per metric and variant (``n`` and the ``sum_*`` moments); ``users``
    counts the users of each variant (those assigned to one variant only);
    ``multi_variant_users`` is how many were assigned to several (left out); ``caps`` holds the
    winsorisation cap of each capped metric; the assignment times and the end of the data the
    metric windows were read to are naive UTC (None for a per-user table).
    """

    stats: pd.DataFrame
    users: dict[str, int]
    multi_variant_users: int
    caps: dict[str, float] = field(default_factory=dict)
    first_assigned: pd.Timestamp | None = None
    last_assigned: pd.Timestamp | None = None
    data_end: pd.Timestamp | None = None


def experiment_stats(
    events: ir.Table,
    assignments: ir.Table,
    experiment: Experiment,
    as_of: pd.Timestamp | None,
    analysis_end: pd.Timestamp | None = None,
) -> SufficientStats:
    """Sufficient statistics of every metric of ``experiment`` from the canonical tables.

    ``analysis_end`` (default ``as_of``) decides whose metric windows have ended. Two queries (plus one per capped metric): the assignment summary, and all metrics at once
    as a union of per-metric aggregates.
    """
    analysis_end = analysis_end if analysis_end is not None else as_of
    units, summary_expr = assigned_units(assignments, experiment.id, as_of)
    summary = summary_expr.to_pandas()
    multi = summary[summary["multi"].astype(bool)]
    summary = summary[~summary["multi"].astype(bool)]
    parts, caps = [], {}
    for metric in experiment.metrics:
        expression, cap = metric_expression(per_user_values(events, units, metric, as_of, analysis_end), metric)
        parts.append(expression)
        if cap is not None:
            caps[metric.name] = cap
    return SufficientStats(
        stats=to_frame(ibis.union(*parts, distinct=False)),
        users={str(v): int(n) for v, n in zip(summary["variant"], summary["users"], strict=True)},
        multi_variant_users=int(multi["users"].sum()) if len(multi) else 0,
        caps=caps,
        first_assigned=naive_utc(summary["first"].min()) if len(summary) else None,
        last_assigned=naive_utc(summary["last"].max()) if len(summary) else None,
        data_end=analysis_end,
    )


# --- the statistics at many instants at once (a daily readout) ------------------------------
def units_over_time(assignments: ir.Table, experiment_id: str, end: pd.Timestamp) -> ir.Table:
    """Every user of one experiment assigned before ``end``, with when they stop being a unit.

    Returns ``[user_id, variant, assigned_at, multi_at]``: the first variant and its time, and
    when a second variant was first assigned (NULL: never). At an instant ``c`` the user is a
    unit of ``assigned_units(..., c)``, with this variant and time, exactly when
    ``assigned_at < c`` and ``multi_at`` is NULL or ``>= c``.
    """
    a = assignments.filter(
        assignments.experiment_id == experiment_id, assignments.assigned_at < ibis.literal(end.to_pydatetime())
    )
    per_variant = a.group_by(["user_id", "variant"]).aggregate(since=a.assigned_at.min())
    order = ibis.row_number().over(group_by=per_variant.user_id, order_by=[per_variant.since, per_variant.variant])
    ranked = per_variant.mutate(order=order)
    first = ranked.filter(ranked.order == 0).select("user_id", "variant", assigned_at=ranked.since)
    second = ranked.filter(ranked.order == 1).select(second_user=ranked.user_id, multi_at=ranked.since)
    joined = first.left_join(second, first.user_id == second.second_user)
    return joined.select("user_id", "variant", "assigned_at", "multi_at")


def stats_at_cuts(
    events: ir.Table, assignments: ir.Table, experiment: Experiment, cuts: list[pd.Timestamp]
) -> pd.DataFrame:
    """``experiment_stats(..., as_of=c).stats`` for every instant ``c`` of ``cuts``, in one query.

    A unit's metric values do not depend on the cut that includes it: it is included only
    once its window has ended (``assigned_at <= c - window_days``), so its window lies before
    the cut. Each unit's values are computed once, up to the last cut, and joined to the cuts
    that include it; capped metrics are capped at each cut's own percentile. Returns the
    statistics frame with an ``as_of`` column first.
    """
    last = max(cuts)
    units = units_over_time(assignments, experiment.id, last)
    at = ibis.memtable(pd.DataFrame({"as_of": pd.to_datetime(pd.Series(cuts))}))
    parts = []
    for metric in experiment.metrics:
        values = per_user_values(events, units, metric, last)
        start_by = at.as_of - ibis.interval(days=metric.window_days)
        included = values.join(
            at,
            [
                values.assigned_at < at.as_of,
                values.assigned_at <= start_by,
                values.multi_at.isnull() | (values.multi_at >= at.as_of),
            ],
        )
        if metric.cap_percentile is not None:
            caps = included.group_by(cap_at="as_of").aggregate(cap=included.y.quantile(metric.cap_percentile / 100.0))
            capped = included.join(caps, included.as_of == caps.cap_at)
            included = capped.mutate(y=ibis.least(capped.y, capped.cap)).drop("cap_at", "cap")
        parts.append(complete(aggregate(included, ("as_of", "variant")), metric.name, ("as_of",)))
    return to_frame(ibis.union(*parts, distinct=False), ("as_of",))
