"""Prometheus exposition of the overview: metric families, textfile, Pushgateway, CLI.

The numbers come from ``overview.build_overview`` (the same library calls as the reports);
each area of the registry (``areas.py``) declares its families and maps its result onto
samples, so Grafana can never disagree with a report of the same range and a new metric
needs no change here. ``export_metrics`` is the one entry point and reads like a
recipe: load the refresh state, compute the overview, build a fresh registry, write the
node_exporter textfile atomically, push to the Pushgateway, save the state.

Naming (docs/metrics.md has the full list): a ``_total`` suffix only on counters. The
window counts that the issue named ``*_total`` (page views, feature usage, significant
results) are numbers *over the report window*, which go up and down between refreshes, so
they are gauges named without ``_total``. ``_rate`` families are ratios 0-1 (Prometheus base
unit); ``analytics_bounce_rate_percentage`` is 0-100 as its name says.

``analytics_refresh_errors_total`` is a real counter: its count lives in a small JSON state
file next to the textfile (``<textfile>.state.json``), so it survives between the
5-minute runs. A failed refresh increments it, keeps the last good numbers published (the
previous textfile's families, a Pushgateway ``POST`` that replaces only the refresh
families) with the old ``analytics_last_refresh_timestamp_seconds`` so the staleness alert
fires, and then re-raises so the run is recorded as failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest, push_to_gateway, pushadd_to_gateway
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from .. import areas, atomic, settings
from ..areas import MetricSpec
from ..catalog import Catalog
from ..errors import ExportError, RunError
from ..labels import shorten
from ..results import Result
from ..sources import Source
from ..sources.base import redact_text, redact_url
from ..timerange import TimeRange

TEXTFILE_ENV = "FAWKES_ANALYTICS_METRICS_TEXTFILE"
PUSHGATEWAY_ENV = "FAWKES_ANALYTICS_PUSHGATEWAY_URL"
INSTANCE_ENV = "FAWKES_ANALYTICS_METRICS_INSTANCE"
JOB = "fawkes_analytics"
DEFAULT_TEXTFILE = Path("metrics") / "analytics.prom"


def _spec(area: str, name: str, kind: str, help_: str, labels: tuple[str, ...] = (), unit: str = "") -> MetricSpec:
    return MetricSpec(name, kind, help_, labels, unit, area)


# The refresh-health families; every data family comes from an area of the registry (areas.py).
REFRESH_SPECS: tuple[MetricSpec, ...] = (
    _spec(
        "refresh",
        "analytics_last_refresh_timestamp_seconds",
        "gauge",
        "Unix time when the metrics were last computed successfully.",
        unit="seconds",
    ),
    _spec(
        "refresh",
        "analytics_refresh_duration_seconds",
        "gauge",
        "Seconds the last successful computation took.",
        unit="seconds",
    ),
    _spec(
        "refresh",
        "analytics_refresh_errors_total",
        "counter",
        "Failed refreshes since the state file was created (persisted across runs).",
        unit="errors",
    ),
)
REFRESH_FAMILIES = frozenset(s.name for s in REFRESH_SPECS)


def specs() -> tuple[MetricSpec, ...]:
    """Every family: each area's of the registry (read now, so a new area is exported), then refresh's."""
    return (*(replace(spec, area=area.name) for area in areas.AREAS for spec in area.families), *REFRESH_SPECS)


def spec_named(name: str) -> MetricSpec:
    return {s.name: s for s in specs()}[name]


SPECS = specs()  # the documented families of the built-in areas (docs/metrics.md)


# --- refresh state --------------------------------------------------------------------------
@dataclass
class RefreshState:
    """What must survive between runs: the error count and the last good refresh."""

    errors_total: float = 0.0
    last_success_timestamp: float | None = None
    last_duration_seconds: float | None = None
    last_error: str | None = None

    @classmethod
    def load(cls, path: Path | None) -> RefreshState:
        """Read the state file; a missing file is a fresh state (the counter starts at 0)."""
        if path is None or not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                errors_total=float(raw.get("errors_total", 0.0)),
                last_success_timestamp=raw.get("last_success_timestamp"),
                last_duration_seconds=raw.get("last_duration_seconds"),
                last_error=raw.get("last_error"),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise RunError(
                f"metrics state file {path} is unreadable ({exc}); delete it to reset the error counter"
            ) from exc

    def save(self, path: Path) -> Path:
        """Write the state atomically (temporary file + rename)."""
        return atomic.write_text(path, json.dumps(self.__dict__, indent=2) + "\n")


def state_path_for(textfile: Path) -> Path:
    """Where the refresh state of a textfile lives: ``analytics.prom`` -> ``analytics.prom.state.json``."""
    return textfile.with_name(textfile.name + ".state.json")


def default_textfile(path: str | os.PathLike | None = None) -> Path:
    """The textfile path: ``path`` when given, else ``$FAWKES_ANALYTICS_METRICS_TEXTFILE``, else
    ``metrics/analytics.prom`` under the reports folder (``$FAWKES_ANALYTICS_REPORTS_DIR``)."""
    chosen = Path(path) if path else settings.metrics_textfile()
    return chosen or settings.reports_dir() / DEFAULT_TEXTFILE


def pushgateway_url() -> str | None:
    """The Pushgateway to push to (``$FAWKES_ANALYTICS_PUSHGATEWAY_URL``, or the file ``..._FILE`` when
    the URL carries credentials), or None: then nothing is pushed."""
    return settings.secret("PUSHGATEWAY_URL") or None


# --- metric families from result objects -----------------------------------------------------
def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _Families:
    """Families in registry order; values added by name, NaN/None values skipped (absent, not 0)."""

    def __init__(self) -> None:
        self.families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        self.specs = {spec.name: spec for spec in specs()}
        for spec in self.specs.values():
            cls = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            self.families[spec.name] = cls(spec.name, spec.help, labels=list(spec.labels), unit="")

    def add(self, name: str, value: Any, **labels: Any) -> None:
        number = _finite(value)
        if number is None:
            return
        spec = self.specs[name]
        # Label values are bounded (labels.py): a 1 MB campaign name must not reach Prometheus.
        self.families[name].add_metric([shorten(labels[label]) for label in spec.labels], number)

    def nonempty(self) -> list[Metric]:
        return [family for family in self.families.values() if family.samples]


def exported_overview(source: Source, catalog: Catalog, time_range: TimeRange) -> Any:
    """The overview of the areas that export families (no time spent on the others)."""
    from ..overview import build_overview

    exported = [area.name for area in areas.AREAS if area.samples is not None]
    return build_overview(source, catalog, time_range, only=exported)


def _refresh(out: _Families, state: RefreshState) -> None:
    out.add("analytics_last_refresh_timestamp_seconds", state.last_success_timestamp)
    out.add("analytics_refresh_duration_seconds", state.last_duration_seconds)
    out.add("analytics_refresh_errors_total", state.errors_total)


def overview_families(overview: Any) -> list[Metric]:
    """Every data family of one overview: the samples of each area of the registry."""
    out = _Families()
    for area in areas.AREAS:
        if area.samples is not None and area.name in overview.results:
            for sample in area.samples(overview.results[area.name], overview.time_range):
                out.add(sample.family, sample.value, **sample.labels)
    return out.nonempty()


def refresh_families(state: RefreshState) -> list[Metric]:
    """The refresh-health families (last success, duration, error counter)."""
    out = _Families()
    _refresh(out, state)
    return out.nonempty()


class _StaticCollector:
    """A custom collector over ready-made families (full control of names and types)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def build_registry(families: Iterable[Metric]) -> CollectorRegistry:
    """A fresh registry (no global state) holding ``families``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StaticCollector(families))
    return registry


def exposition(registry: CollectorRegistry) -> str:
    """The Prometheus text format 0.0.4 of a registry."""
    return generate_latest(registry).decode("utf-8")


def previous_data_families(textfile: Path) -> list[Metric]:
    """The data families of an earlier textfile (kept published when a refresh fails)."""
    if not textfile.exists():
        return []
    families = text_string_to_metric_families(textfile.read_text(encoding="utf-8"))
    known = {s.name for s in specs()}
    return [f for f in families if f.name in known and f.name not in REFRESH_FAMILIES and f.type == "gauge"]


# --- publishing ------------------------------------------------------------------------------
def instance_name(source: Source) -> str:
    """A stable, secret-free name of the source for the ``instance`` grouping label:
    ``$FAWKES_ANALYTICS_METRICS_INSTANCE``, else ``<kind>-<host or database file stem>``."""
    explicit = settings.get("METRICS_INSTANCE")
    if explicit:
        return explicit
    parts = urlsplit(str(getattr(source, "url", "")))
    where = parts.hostname or Path(parts.path).stem or "default"
    return re.sub(r"[^A-Za-z0-9_.:-]+", "_", f"{source.kind}-{where}")


def grouping_key(source: Source) -> dict[str, str]:
    """The Pushgateway grouping key: one group per source (the job is ``fawkes_analytics``)."""
    return {"instance": instance_name(source)}


def write_textfile(registry: CollectorRegistry, path: Path) -> Path:
    """Write the exposition for node_exporter's textfile collector, atomically: a temporary
    file beside it (``.<name>.*.tmp``, not matching ``*.prom``) renamed into place, with the
    published file mode (atomic.py)."""
    return atomic.write_bytes(path, generate_latest(registry))


@dataclass(eq=False)
class MetricsExport(Result):
    """What one export did: the exposition, where it went and the refresh state after it."""

    exposition: str
    families: list[str]
    textfile: str | None
    pushgateway: str | None
    grouping_key: dict[str, str]
    refresh_duration_seconds: float | None
    errors_total: float
    last_refresh_timestamp: float | None
    series: int = 0
    table: pd.DataFrame = field(default_factory=pd.DataFrame)


def push(registry: CollectorRegistry, push_url: str, key: dict[str, str], replace: bool, timeout: float = 15) -> None:
    """Push ``registry`` to the Pushgateway; an unreachable or refusing gateway raises ``ExportError``."""
    send = push_to_gateway if replace else pushadd_to_gateway
    try:
        send(push_url, job=JOB, registry=registry, grouping_key=key, timeout=timeout)
    except OSError as exc:  # URLError, HTTPError (an OSError too), refused, timed out, DNS
        reason = getattr(exc, "reason", None) or exc
        raise ExportError(
            f"Pushgateway {redact_url(push_url)} could not be reached or refused the push: {redact_text(str(reason))}; "
            f"check {PUSHGATEWAY_ENV} and that the gateway is running (the textfile, if any, was written)"
        ) from None


def _publish(
    families: list[Metric], textfile: Path | None, push_url: str | None, key: dict[str, str], replace: bool
) -> CollectorRegistry:
    registry = build_registry(families)
    if textfile is not None:
        write_textfile(registry, textfile)
    if push_url:
        push(registry, push_url, key, replace)
    return registry


def export_metrics(
    source: Source,
    catalog: Catalog,
    time_range: TimeRange,
    textfile: str | os.PathLike | None = None,
    push_url: str | None = None,
    state_path: str | os.PathLike | None = None,
    *,
    compute: Callable[[Source, Catalog, TimeRange], Any] | None = None,
    clock: Callable[[], float] = time.time,
) -> MetricsExport:
    """Compute the overview and publish it as metrics (textfile and/or Pushgateway).

    ``textfile``/``push_url`` None: nothing is published and the state is only read (the
    exposition is still returned). ``state_path`` defaults to ``<textfile>.state.json``, or
    beside the default textfile. ``compute`` replaces ``exported_overview`` (tests).
    On a failed computation the error counter is incremented and published with the last
    good numbers, then the error is raised again.
    """
    textfile_path = Path(textfile) if textfile else None
    state_file = Path(state_path) if state_path else state_path_for(textfile_path or default_textfile())
    publishing = textfile_path is not None or bool(push_url)
    state = RefreshState.load(state_file)
    key = grouping_key(source)
    started = time.perf_counter()
    try:
        overview = (compute or exported_overview)(source, catalog, time_range)
        data = overview_families(overview)
    except Exception as exc:
        state.errors_total += 1
        state.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if publishing:
            state.save(state_file)
            kept = previous_data_families(textfile_path) if textfile_path else []
            try:
                _publish(kept + refresh_families(state), textfile_path, push_url, key, replace=False)
            except ExportError as push_error:
                exc.add_note(str(push_error))
        raise
    state.last_duration_seconds = time.perf_counter() - started
    state.last_success_timestamp = clock()
    state.last_error = None
    families = data + refresh_families(state)
    registry = _publish(families, textfile_path, None, key, replace=True)
    if publishing:
        state.save(state_file)
    if push_url:
        push(registry, push_url, key, replace=True)
    return MetricsExport(
        exposition=exposition(registry),
        families=[f.name for f in families],
        textfile=str(textfile_path) if textfile_path else None,
        pushgateway=redact_url(push_url) if push_url else None,
        grouping_key={"job": JOB, **key},
        refresh_duration_seconds=state.last_duration_seconds,
        errors_total=state.errors_total,
        last_refresh_timestamp=state.last_success_timestamp,
        series=sum(len(f.samples) for f in families),
        table=families_table(families),
    )


def families_table(families: Iterable[Metric]) -> pd.DataFrame:
    """One row per exported family: name, type, unit, labels and number of series."""
    rows = [
        {
            "metric": f.name if f.type != "counter" else f"{f.name}_total",
            "type": f.type,
            "unit": spec_named(_spec_name(f)).unit,
            "labels": ", ".join(spec_named(_spec_name(f)).labels),
            "series": len(f.samples),
        }
        for f in families
    ]
    return pd.DataFrame(rows, columns=["metric", "type", "unit", "labels", "series"])


def _spec_name(family: Metric) -> str:
    return family.name if family.name in {s.name for s in specs()} else f"{family.name}_total"


# --- CLI --------------------------------------------------------------------------------------
def _cmd_metrics(args: argparse.Namespace) -> int:
    from .. import catalog, sources, timerange

    source = sources.connect(args.source)
    resolved = timerange.resolve(args.time_range, as_of=source.default_as_of())
    push_url = pushgateway_url() if args.push else None
    if args.push and not push_url:
        print(f"--push needs the Pushgateway URL in ${PUSHGATEWAY_ENV}", file=sys.stderr)
        return 2
    result = export_metrics(source, catalog.load(args.catalog), resolved, textfile=args.textfile, push_url=push_url)
    sys.stdout.write(result.exposition)
    if result.textfile:
        print(f"wrote {result.textfile}", file=sys.stderr)
    if result.pushgateway:
        print(f"pushed to {result.pushgateway} as {result.grouping_key}", file=sys.stderr)
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fawkes-analytics metrics``: print the exposition, optionally write/push it."""
    parser = subparsers.add_parser(
        "metrics",
        help="compute the analytics metrics and print the Prometheus exposition",
        description="Compute the overview metrics and print them in the Prometheus text format.",
    )
    parser.add_argument("--time-range", default="24h", help="report window: 1h, 6h, 24h, 7d, 30d or 90d (default 24h)")
    parser.add_argument(
        "--textfile", default=None, help="also write a node_exporter textfile (atomically) to this .prom path"
    )
    parser.add_argument("--push", action="store_true", help=f"also push to the Pushgateway at ${PUSHGATEWAY_ENV}")
    parser.add_argument(
        "--source", default=None, help="source URL (default: $FAWKES_ANALYTICS_SOURCE or the demo data)"
    )
    parser.add_argument("--catalog", default=None, help="catalog file (default: analytics.yaml)")
    parser.set_defaults(func=_cmd_metrics)
