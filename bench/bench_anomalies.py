"""Quality of the unusual-change flags and of the forecasts (issue 21), on demo data.

The demo generator writes the same data twice (same seed, fixed end): once clean, once with
known anomalies injected at recorded dates (``demo_inject``): single-day spikes and drops of
25-40% on every KPI family in turn, two days apart, and three level shifts near the end.
Outside the anomalies' days both files hold the same events, so every change between them
is the injection's doing. Then, at the default sensitivity (robust z >= 4):

- precision: the share of flags (on the injected data) that fall on a KPI-day the injection
  changed by at least 10% (10 points for NPS): the injected day itself or a side effect;
- recall: the share of injected anomalies flagged on their (first) day for their KPI; also
  per KPI, next to the KPI's smallest flaggable change (the median over the judged days of
  how far a day would have had to move to be flagged: changes below it cannot be told
  from daily noise at this data volume, whatever the method);
- oracle recall: what a detector that knew each day's true value (the clean series' 29-day
  centred median) and its sampling noise exactly (binomial for rates on the day's people,
  Poisson for counts, per-response for NPS; ``backtest.sampling_floor``) could expect,
  flagging at |z| 2.54, the least evidence that still allows one false alarm per 90 days
  under normal noise (``backtest.oracle_detection``). No one-day detector that keeps to the
  false-alarm target can expect a higher recall; a real one must also estimate the expected
  value from noisy history and needs a higher threshold, as the trade-off lines show;
- threshold trade-off: precision, recall and false alarms at robust z 4 (the default), 3.5
  and 3 (the same verdicts, other thresholds);
- false alarms: flags per KPI per 90 judged days on the clean data;
- forecasts: rolling-origin backtest on the clean data (10 origins a week apart, 14 days
  ahead): MASE of the ETS forecast and of the seasonal-naive forecast, and how often the
  80% interval held the actual value.

Every figure is printed next to its target, with the load average. The data files (and their
rollup stores) stay under ``data/bench/`` for later runs.

Usage: ``.venv/bin/python bench/bench_anomalies.py [--events 10000000] [--days 180] [--seed 7] [--json out.json]``;
``--overview-cost 7d`` instead measures what the unusual changes add to the overview report's
computation on the demo data (``build_overview`` with and without them, alternately, medians).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "bench"
END = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
TARGETS = {"precision": 0.8, "recall": 0.9, "false_alarms_per_90d": 1.0, "coverage": (0.75, 0.85)}
CYCLE = (
    "visitors",
    "bounce_rate",
    "conversion.deployment",
    "adoption.run_pipeline",
    "visit_duration",
    "adoption.view_documentation",
    "conversion.service_creation",
    "pageviews",
    "adoption.deploy_application",
    "conversion.onboarding",
    "visits",
    "adoption.configure_monitoring",
    "adoption.create_service",
    "nps",
)
SIZES = (0.25, 0.30, 0.40)


def schedule(first: date, last: date) -> list:
    """The injected anomalies: one every 2 days through the KPIs, then three level shifts."""
    from fawkes_analytics.demo_inject import Anomaly

    out = []
    day, i = first + timedelta(days=50), 0
    while day <= last - timedelta(days=16):  # the onboarding window (14 days) must pass
        kind = "spike" if i % 2 == 0 else "drop"
        out.append(Anomaly(kind, CYCLE[i % len(CYCLE)], day, SIZES[i % len(SIZES)]))
        day, i = day + timedelta(days=2), i + 1
    out += [
        Anomaly("level_shift", "visit_duration", last - timedelta(days=14), -0.3),
        Anomaly("level_shift", "adoption.run_pipeline", last - timedelta(days=10), 0.3),
        Anomaly("level_shift", "bounce_rate", last - timedelta(days=6), 0.3),
    ]
    return out


def ensure(path: Path, events: int, seed: int, days: int, inject: list) -> None:
    from fawkes_analytics import demo

    meta = path.with_suffix(".inject.json")
    wanted = json.dumps([a.to_dict() for a in inject])
    if path.exists() and meta.exists() and meta.read_text() == wanted:
        return
    started = time.perf_counter()
    demo.generate(path, events=events, seed=seed, days=days, end=END, progress=False, inject=inject)
    meta.write_text(wanted)
    print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def open_source(path: Path):  # noqa: ANN201
    from fawkes_analytics.rollups import refresh_source
    from fawkes_analytics.sources.ibis_source import open_duckdb

    source = open_duckdb(path)
    started = time.perf_counter()
    result = refresh_source(source)
    print(f"rollups of {path.name}: {result.mode} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return source


def judged_flags(series: dict, catalog) -> tuple[dict, dict]:  # noqa: ANN001
    """Per KPI: the verdict table over every day, and the set of flagged days."""
    from fawkes_analytics.anomalies.changes import sensitivity_for
    from fawkes_analytics.anomalies.detect import judge, threshold_of

    verdicts, flagged = {}, {}
    for name, s in series.items():
        table = judge(s, threshold_of(sensitivity_for(catalog, name)))
        verdicts[name] = table
        flagged[name] = set(table.loc[table["status"] == "flagged", "day"])
    return verdicts, flagged


def smallest_change(spec, table, relative: bool = False) -> float:  # noqa: ANN001
    """Median over the judged days of how far a day had to move to be flagged.

    In the KPI's change unit (percent or points), or with ``relative`` in percent of the
    expected value for rates too (the injected sizes are relative); NPS stays in points.
    """
    from fawkes_analytics.anomalies.detect import change_of

    judged = table[table["status"].isin(["ok", "flagged"])]
    if judged.empty:
        return float("nan")
    pairs = zip(judged["upper"], judged["expected"], strict=True)
    if relative and spec.kind == "rate":
        return statistics.median(abs(100 * (u - e) / e) for u, e in pairs if e)
    return statistics.median(abs(change_of(spec, u, e)) for u, e in pairs)


def response_sd(source) -> float:  # noqa: ANN001
    """Standard deviation of one NPS response over the whole clean data (``nps_response_sd``)."""
    from fawkes_analytics import timerange
    from fawkes_analytics.anomalies.backtest import nps_response_sd
    from fawkes_analytics.metrics import feedback_summary

    whole = feedback_summary(source, timerange.resolve(start=END - timedelta(days=400), end=END), "day")
    return nps_response_sd(whole.promoters, whole.detractors, whole.responses)


def floors(series: dict, sd: float) -> dict:  # noqa: ANN001
    """Per KPI, the sampling floor of each day (percent of the value, NPS in points)."""
    from fawkes_analytics.anomalies.backtest import sampling_floor

    out = {}
    for name, s in series.items():
        frame = s.frame.set_index("day")
        typical = frame["value"].rolling(29, center=True, min_periods=8).median()
        out[name] = {
            day: 100 * sampling_floor(s.kpi.kind, typical[day], frame["base"][day], response_sd=sd)
            if s.kpi.kind != "score"
            else sampling_floor(s.kpi.kind, typical[day], frame["base"][day], response_sd=sd)
            for day in frame.index
        }
    return out


def overview_cost(repeats: int, time_range: str) -> None:
    """What the unusual changes add to the overview: ``build_overview`` of every area beside the
    same without the anomalies area, alternately, on the demo data (``make run``'s), medians."""
    from fawkes_analytics import areas, catalog, sources, timerange
    from fawkes_analytics.overview import build_overview

    source = sources.connect(None)
    cat = catalog.load()
    window = timerange.resolve(time_range, as_of=source.default_as_of())
    others = [a.name for a in areas.AREAS if a.in_overview and a is not areas.ANOMALIES]
    build_overview(source, cat, window)  # warm: rollups opened, modules imported
    with_, without = [], []
    for _ in range(repeats):
        for names, times in ((others, without), (None, with_)):
            started = time.perf_counter()
            build_overview(source, cat, window, only=names)
            times.append(time.perf_counter() - started)
    a, b = statistics.median(with_), statistics.median(without)
    print(f"overview {time_range} on {source.describe().get('name', source.kind)}: medians of {repeats}")
    print(f"  every area {a:.1f} s, without unusual changes {b:.1f} s: +{a - b:.1f} s ({a / b:.2f}x)")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load} ({os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--origins", type=int, default=10)
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument(
        "--overview-cost",
        metavar="RANGE",
        help="only measure what the unusual changes add to the overview of RANGE (e.g. 7d) on the demo data",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.overview_cost:
        overview_cost(args.repeats, args.overview_cost)
        return

    from fawkes_analytics import catalog as catalog_module
    from fawkes_analytics.anomalies import all_kpis, daily_series, forecast, unusual_changes
    from fawkes_analytics.anomalies.backtest import (
        InjectedChange,
        backtest_forecast,
        moved_days,
        oracle_detection,
        score_detection,
    )

    started_all = time.perf_counter()
    catalog = catalog_module.load()
    start = END - timedelta(days=args.days)
    first, last = (start + timedelta(days=1)).date(), (END - timedelta(days=1)).date()
    anomalies = schedule(first, last)
    DATA.mkdir(parents=True, exist_ok=True)
    clean_path = DATA / f"anomalies_{args.events}_{args.seed}_clean.duckdb"
    injected_path = DATA / f"anomalies_{args.events}_{args.seed}_injected.duckdb"
    ensure(clean_path, args.events, args.seed, args.days, [])
    ensure(injected_path, args.events, args.seed, args.days, anomalies)
    clean_source, injected_source = open_source(clean_path), open_source(injected_path)

    kpis = all_kpis(catalog)
    timer = time.perf_counter()
    clean = daily_series(clean_source, catalog, first, last, kpis=kpis, as_of=END)
    series_seconds = time.perf_counter() - timer
    injected = daily_series(injected_source, catalog, first, last, kpis=kpis, as_of=END)

    timer = time.perf_counter()
    clean_verdicts, clean_flags = judged_flags(clean, catalog)
    judge_seconds = time.perf_counter() - timer
    injected_verdicts, injected_flags = judged_flags(injected, catalog)

    # Precision and recall on the injected data.
    changes = [InjectedChange(a.metric, a.kind, a.size, tuple(a.days(last))) for a in anomalies]
    moved = moved_days(clean, injected)
    flags = {(k, d) for k, days in injected_flags.items() for d in days}
    score = score_detection(flags, changes, moved)
    limits = {k: smallest_change(clean[k].kpi, clean_verdicts[k]) for k in clean}
    relative_limits = {k: smallest_change(clean[k].kpi, clean_verdicts[k], relative=True) for k in clean}

    def visible(change: InjectedChange) -> bool:
        size = abs(change.size) * 100  # percent, or NPS points
        return size > relative_limits[change.kpi]

    visible_changes = [c for c in changes if visible(c)]
    visible_score = score_detection(flags, visible_changes, moved)
    floor = floors(clean, response_sd(clean_source))

    def oracle(change: InjectedChange) -> float:
        return oracle_detection(abs(change.size) * 100, floor[change.kpi].get(change.first_day, float("nan")))

    ceiling = sum(oracle(c) for c in changes) / len(changes)

    def at_threshold(verdicts: dict, threshold: float) -> dict:
        return {
            k: set(t.loc[t["status"].isin(["ok", "flagged"]) & (t["z"].abs() >= threshold), "day"])
            for k, t in verdicts.items()
        }

    trade_off = []
    for threshold in (4.0, 3.5, 3.0):
        lax = at_threshold(injected_verdicts, threshold)
        lax_score = score_detection({(k, d) for k, days in lax.items() for d in days}, changes, moved)
        lax_clean = at_threshold(clean_verdicts, threshold)
        judged_clean = {k: int(t["status"].isin(["ok", "flagged"]).sum()) for k, t in clean_verdicts.items()}
        worst_fa = max(len(lax_clean[k]) * 90 / n for k, n in judged_clean.items() if n)
        trade_off.append((threshold, lax_score.precision, lax_score.recall, worst_fa))

    # False alarms on the clean data.
    false_alarms = {}
    for name, table in clean_verdicts.items():
        judged = int(table["status"].isin(["ok", "flagged"]).sum())
        false_alarms[name] = (len(clean_flags[name]) * 90 / judged if judged else float("nan"), judged)

    # Forecast backtest on the clean data.
    scores = [backtest_forecast(clean[k.name], origins=args.origins) for k in kpis if k.forecast]

    # What a report pays: the two public calls on the injected data, last 7 days.
    timer = time.perf_counter()
    report = unusual_changes(injected_source, catalog, END, days=7)
    changes_seconds = time.perf_counter() - timer
    timer = time.perf_counter()
    forecast(injected_source, catalog, END)
    forecast_seconds = time.perf_counter() - timer

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nunusual-change flags: {args.events:,} demo events over {args.days} days (seed {args.seed}), ", end="")
    print("sensitivity medium (robust z >= 4)")
    judged_injected = sum(int(t["status"].isin(["ok", "flagged"]).sum()) for t in injected_verdicts.values())
    print(f"  injected anomalies {len(changes)} (sizes 25-40%; NPS 25-40 points), KPI-days judged {judged_injected:,}")
    print(
        f"  precision {score.precision:.2f}   (target >= {TARGETS['precision']})   "
        f"{score.true_flags} of {score.flags} flags on KPI-days the injection changed"
    )
    print(
        f"  recall    {score.recall:.2f}   (target >= {TARGETS['recall']})   "
        f"{score.detected} of {score.injected} anomalies flagged on their day"
    )
    print(
        f"            {visible_score.recall:.2f}   on the {visible_score.injected} anomalies larger than their KPI's "
        "smallest flaggable change"
    )
    print(
        f"            {ceiling:.2f}   expected of an oracle that knew each day's true value and noise, flagging at "
        "|z| 2.54 (the false-alarm target's least evidence): no one-day detector can expect more"
    )
    worst = max(v for v, _ in false_alarms.values())
    mean = statistics.mean(v for v, _ in false_alarms.values())
    print(
        f"  false alarms on clean data: at most {worst:.2f} per KPI per 90 days "
        f"(target <= {TARGETS['false_alarms_per_90d']:.0f}), mean {mean:.2f}"
    )
    print(
        f"\n  {'KPI':<30} {'injected':>8} {'flagged':>8} {'oracle':>7} {'smallest flaggable change':>26} "
        f"{'sampling floor':>15} {'false alarms/90d':>17}"
    )
    for spec in kpis:
        name = spec.name
        mine = [c for c in changes if c.kpi == name]
        hit = sum(1 for c in mine if c.first_day in injected_flags.get(name, set()))
        if spec.kind == "rate":
            limit = f"{limits[name]:.1f} pts ({relative_limits[name]:.0f}%)"
        else:
            limit = f"{limits[name]:.1f}{'%' if spec.change_unit == 'percent' else ' pts'}"
        above = sum(oracle(c) for c in mine)
        typical_floor = (
            statistics.median(v for v in floor[name].values() if v == v) if spec.kind != "duration" else None
        )
        floor_text = "-" if typical_floor is None else f"{typical_floor:.0f}{' pts' if spec.kind == 'score' else '%'}"
        print(
            f"  {name:<30} {len(mine):>8} {hit:>8} {above:>7.1f} {limit:>26} {floor_text:>15} "
            f"{false_alarms[name][0]:>17.2f}"
        )

    print("\n  threshold trade-off (same verdicts):")
    for threshold, p, r, fa in trade_off:
        default = " (default, medium)" if threshold == 4.0 else ""
        print(
            f"    robust z >= {threshold}: precision {p:.2f}, recall {r:.2f}, worst false alarms {fa:.2f}/90 days{default}"
        )
    print(f"\nforecast backtest (clean data, rolling origin: {args.origins} origins a week apart, 14 days ahead)")
    print(f"  {'KPI':<30} {'MASE':>6} {'seasonal naive':>15} {'80% coverage':>13} {'points':>7}")
    for s in scores:
        print(f"  {s.kpi:<30} {s.mase:>6.2f} {s.mase_seasonal_naive:>15.2f} {s.coverage:>13.2f} {s.points:>7}")
    points = sum(s.points for s in scores)
    mase = sum(s.mase * s.points for s in scores) / points
    naive = sum(s.mase_seasonal_naive * s.points for s in scores) / points
    coverage = sum(s.coverage * s.points for s in scores) / points
    low, high = TARGETS["coverage"]
    print(f"  {'all':<30} {mase:>6.2f} {naive:>15.2f} {coverage:>13.2f} {points:>7}")
    print(
        f"  MASE {mase:.2f} vs seasonal naive {naive:.2f} (target: below); coverage {coverage:.2f} (target {low}-{high})"
    )
    print(
        f"\nseconds: daily series of {len(kpis)} KPIs over {args.days} days {series_seconds:.1f}, judging them "
        f"{judge_seconds:.1f}; unusual_changes (last 7 days) {changes_seconds:.1f}, forecast {forecast_seconds:.1f}; "
        f"all {time.perf_counter() - started_all:.0f}"
    )
    print(f"load average {load} ({os.cpu_count()} cores)")
    print(f"strongest flags of the last 7 days: {[f.sentence for f in report.flags[:3]]}")

    if args.json:
        out = {
            "events": args.events,
            "days": args.days,
            "seed": args.seed,
            "precision": score.precision,
            "recall": score.recall,
            "recall_visible": visible_score.recall,
            "recall_oracle": ceiling,
            "threshold_trade_off": trade_off,
            "flags": score.flags,
            "true_flags": score.true_flags,
            "injected": score.injected,
            "detected": score.detected,
            "false_alarms_per_90d": {k: v for k, (v, _) in false_alarms.items()},
            "smallest_flaggable_change": limits,
            "smallest_flaggable_change_relative": relative_limits,
            "forecast": [s.__dict__ for s in scores],
            "forecast_all": {"mase": mase, "mase_seasonal_naive": naive, "coverage": coverage},
            "load_average": os.getloadavg(),
        }
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
