"""Where experiment data comes from: the events store, or a table with one row per user.

Both give the same sufficient statistics (see ``sufficient.py``), so ``analyze_experiment``
treats them alike:

- ``EventsExperimentSource`` wraps a library ``Source``: assignments plus events, metrics
  computed from event windows after assignment, cut at ``as_of``; users whose window has not
  ended by then are left out of that metric.
- ``UserTableSource`` is an already-aggregated table such as Kaggle's Cookie Cats CSV
  (``userid, version, sum_gamerounds, retention_1, retention_7``): metric values are columns
  (``column:`` in the metric, default the metric's name). It has no times, so ``as_of`` and
  CUPED do not apply; a user listed under several variants is excluded and counted.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import ibis
import pandas as pd

from ..errors import ParameterError, SchemaError
from ..sources.base import Source
from .config import Experiment, parse_experiment
from .sufficient import SufficientStats, experiment_stats, metric_expression, naive_utc, stats_at_cuts, to_frame


class EventsExperimentSource:
    """Experiments measured from a source's ``assignments`` and ``events`` tables."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def sufficient_stats(self, experiment: Experiment, as_of: datetime | str | None = None) -> SufficientStats:
        """Sums per metric and variant; metric windows must have ended by ``as_of`` (else the data's end)."""
        analysis_end = naive_utc(as_of) if as_of is not None else naive_utc(self.source.data_as_of())
        return experiment_stats(
            self.source.events(), self.source.assignments(), experiment, naive_utc(as_of), analysis_end
        )

    def describe(self) -> dict[str, Any]:
        return self.source.describe()

    def stats_at_cuts(self, experiment: Experiment, cuts: list[pd.Timestamp]) -> pd.DataFrame:
        """``sufficient_stats(experiment, c).stats`` for every instant of ``cuts`` (naive UTC), with
        an ``as_of`` column: a daily readout in one query instead of one per day."""
        return stats_at_cuts(self.source.events(), self.source.assignments(), experiment, cuts)


class UserTableSource:
    """One row per user: a user id column, a variant column and one column per metric value."""

    def __init__(
        self,
        frame: pd.DataFrame,
        user_column: str = "user_id",
        variant_column: str = "variant",
        where: str = "user table",
    ) -> None:
        for column in (user_column, variant_column):
            if column not in frame.columns:
                raise SchemaError(where, column, f"missing column (has: {list(frame.columns)})")
        self.where = where
        self.user_column = user_column
        self.variant_column = variant_column
        bad = frame[user_column].isna() | frame[variant_column].isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise SchemaError(
                where,
                user_column if frame[user_column].isna().iloc[row] else variant_column,
                "null user or variant",
                f"row {row + 1}: {frame.iloc[row].to_dict()}",
            )
        frame = frame.assign(
            **{variant_column: frame[variant_column].astype(str), user_column: frame[user_column].astype(str)}
        )
        variants_per_user = frame.groupby(user_column)[variant_column].transform("nunique")
        multi = variants_per_user > 1
        self.multi_variant_users = int(frame.loc[multi, user_column].nunique())
        clean = frame.loc[~multi]
        duplicated = clean.duplicated(user_column, keep="first")
        self.duplicates_dropped = int(duplicated.sum())
        self.frame = clean.loc[~duplicated].reset_index(drop=True)

    @classmethod
    def from_csv(
        cls, path: str | os.PathLike, user_column: str = "userid", variant_column: str = "version"
    ) -> UserTableSource:
        """Read a CSV (any line endings; TRUE/FALSE read as booleans) with one row per user."""
        frame = pd.read_csv(path, true_values=["TRUE", "True", "true"], false_values=["FALSE", "False", "false"])
        return cls(frame, user_column, variant_column, where=str(path))

    def _values(self, column: str, kind: str) -> pd.Series:
        if column not in self.frame.columns:
            raise SchemaError(self.where, column, f"missing metric column (has: {list(self.frame.columns)})")
        values = self.frame[column]
        if pd.api.types.is_bool_dtype(values):
            return values.astype("float64")
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise SchemaError(
                self.where, column, "expected numbers or TRUE/FALSE", f"row {row + 1}: {self.frame.iloc[row].to_dict()}"
            )
        if kind == "conversion" and not numbers.dropna().isin([0, 1]).all():
            raise SchemaError(self.where, column, "a conversion metric needs 0/1 or TRUE/FALSE values")
        return numbers.fillna(0.0).astype("float64")

    def sufficient_stats(self, experiment: Experiment, as_of: datetime | str | None = None) -> SufficientStats:
        if as_of is not None:
            raise ParameterError("as_of", "a per-user table has no times, so it cannot be cut at a time")
        frames, caps = [], {}
        for metric in experiment.metrics:
            if metric.covariate is not None and metric.covariate.measure.column is None:
                raise ParameterError("covariate", f"metric {metric.name!r}: a per-user table needs covariate.column")
            data = {
                "variant": self.frame[self.variant_column],
                "y": self._values(metric.measure.column or metric.name, metric.kind),
            }
            if metric.denominator is not None:
                data["d"] = self._values(metric.denominator.column or "", "sum")
            if metric.covariate is not None and metric.covariate.measure.column is not None:
                data["x"] = self._values(metric.covariate.measure.column, metric.kind)
            expression, cap = metric_expression(ibis.memtable(pd.DataFrame(data)), metric)
            frames.append(to_frame(expression))
            if cap is not None:
                caps[metric.name] = cap
        stats = pd.concat(frames, ignore_index=True)
        users = self.frame[self.variant_column].value_counts()
        return SufficientStats(
            stats=stats,
            users={str(k): int(v) for k, v in users.items()},
            multi_variant_users=self.multi_variant_users,
            caps=caps,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.where,
            "kind": "user table",
            "demo": False,
            "data_as_of": None,
            "duplicates_dropped": self.duplicates_dropped,
        }


def user_table_experiment(
    experiment_id: str,
    control: str,
    variants: list[str] | dict[str, float],
    metrics: dict[str, str | dict[str, Any]],
    rules: dict[str, Any] | None = None,
    name: str | None = None,
    hypothesis: str = "",
) -> Experiment:
    """Declare an experiment over a per-user table: ``metrics`` maps column name to kind (or a metric mapping).

    ``variants`` as a list means an equal split. Validated exactly like the catalog.
    """
    split = variants if isinstance(variants, dict) else {v: 1.0 / len(variants) for v in variants}
    metric_list = []
    for metric_name, spec in metrics.items():
        raw = {"kind": spec} if isinstance(spec, str) else dict(spec)
        raw.setdefault("name", metric_name)
        raw.setdefault("column", metric_name)
        metric_list.append(raw)
    raw_experiment = {
        "id": experiment_id,
        "name": name or experiment_id,
        "hypothesis": hypothesis,
        "control": control,
        "split": split,
        "metrics": metric_list,
        "rules": rules or {},
    }
    return parse_experiment(raw_experiment, "user_table_experiment()", f"experiment {experiment_id}")


def as_experiment_source(source: Any) -> EventsExperimentSource | UserTableSource:
    """Wrap a library ``Source`` (or pass an experiment source through)."""
    if isinstance(source, (EventsExperimentSource, UserTableSource)):
        return source
    if isinstance(source, Source):
        return EventsExperimentSource(source)
    if isinstance(source, pd.DataFrame):
        return UserTableSource(source)
    raise ParameterError(
        "source",
        f"cannot read experiments from {type(source).__name__}",
        "a Source, EventsExperimentSource, UserTableSource or per-user DataFrame",
    )
