"""Publish every default dashboard view at each refresh: named range x segment, one time zone.

After the rollup store is refreshed (``fawkes-analytics refresh``), ``publish_views`` computes,
for each named range, every area for every user, and usage and feature adoption for each
segment of the catalog (the other areas do not depend on a segment, so they are reused, and
their charts drawn once), in the configured time zone (``FAWKES_ANALYTICS_DASHBOARD_TZ``), and
writes each page's fragment through ``render.write_view``: the same code a live request runs.
A dashboard that switches between these views reads one file. Every range is computed in this
one process, one after the other: the library's per-process caches (the tables derived from
the rollups, for the same end) serve them all, so the later ranges cost a fraction of the
first. (Ranges in a pool of worker processes were measured slower on 2 cores, 113 s against
95 s for 6 ranges x 5 segments: each worker rebuilds those caches.)

Nothing is recomputed when nothing changed: the index records the basis (data as of, the
anchor of the ranges, the catalog, the time zone) and a refresh with the same basis keeps the
published views.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import areas, formats, sources, timerange
from .. import catalog as catalog_module
from ..metrics.segments import parse_rules
from . import render, store
from .pages import NAMED_RANGES, ViewKey

Progress = Callable[[str], None]


def basis_of(source: Any, catalog: Any, tz: str) -> str:
    """What the views depend on: when it is unchanged, the published views still hold."""
    catalog_text = Path(catalog.path).read_bytes() if getattr(catalog, "path", None) else b""
    parts = [
        str(source.data_as_of()),
        str(source.default_as_of()),
        hashlib.sha256(catalog_text).hexdigest(),
        tz,
        ",".join(NAMED_RANGES),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def source_facts(source: Any, origin: str) -> render.ViewFacts:
    return render.ViewFacts(source.data_as_of(), source.describe(), origin, source.is_demo)


def publish_views(
    source: Any = None,
    catalog: Any = None,
    *,
    tz: str | None = None,
    root: Path | None = None,
    ranges: tuple[str, ...] = NAMED_RANGES,
    segments: tuple[str, ...] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path | None:
    """Compute and publish the default views; returns the publication folder (None: unchanged).

    ``ranges`` and ``segments`` (default: every named range, every segment of the catalog)
    narrow the set, for tests.
    """
    source = source or sources.connect()
    catalog = catalog or catalog_module.load()
    tz = tz or store.configured_tz()
    root = Path(root or store.views_root())
    say = progress or (lambda _message: None)
    basis = basis_of(source, catalog, tz)
    current = store.latest(root)
    if current is not None and current.index.get("basis") == basis and not force:
        say(f"dashboard views: unchanged since {current.id}")
        return None
    started = datetime.now(UTC)
    facts = source_facts(source, f"Precomputed {formats.when(started, tz)} from the rollup store")
    work = store.new_publication(root)
    plan = Plan(
        tz=tz,
        anchor=source.default_as_of(),
        segments=tuple(rule.name for rule in parse_rules(catalog) if segments is None or rule.name in segments),
        work=work,
        csv_url=f"../../fawkes/csv/{work.name.removeprefix('.tmp-')}",
        facts=facts,
    )
    try:
        items: dict[str, list[tuple[str, str]]] = {}
        for label in ranges:  # in one process: the library's caches serve every range (see above)
            items = _write_range(source, catalog, plan, label)
            say(f"dashboard views: {label} done ({len(plan.segments) + 1} segments)")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # a failed refresh never replaces good views
        raise
    index: dict[str, Any] = {
        "ranges": list(ranges),
        "segments": list(plan.segments),
        "items": items,
        "data_as_of": facts.data_as_of.isoformat() if facts.data_as_of else None,
        "source": facts.source,
        "demo": facts.demo,
        "basis": basis,
        "generated_at": started.isoformat(),
        "tz": tz,
    }
    index["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    final = store.publish(work, index)
    say(f"dashboard views: published {final.name} in {index['seconds']} s")
    return final


@dataclass(frozen=True)
class Plan:
    """What every range of one publication shares."""

    tz: str
    anchor: Any  # the end the named ranges count back from (the source's default as-of)
    segments: tuple[str, ...]
    work: Path
    csv_url: str
    facts: render.ViewFacts


def _write_range(source: Any, catalog: Any, plan: Plan, label: str) -> dict[str, list[tuple[str, str]]]:
    """One named range: every area for every user once, then usage and feature adoption per
    segment (the other areas reused), each view's pages written; returns the funnels and
    experiments it holds.

    Every area is computed, also those no dashboard page shows (retention): the scheduled
    reports of a named range ask the same questions and read these answers, kept beside the
    rollup store (rollups/answers.py), instead of computing them again."""
    time_range = timerange.resolve(label, tz=plan.tz, as_of=plan.anchor)
    draw = render.ChartMemo()  # a reused result's charts are drawn once for every page and segment
    everyone = render.compute(source, catalog, time_range, [area.name for area in areas.AREAS])
    folder = store.view_folder(ViewKey(range=label))
    pages = render.pages_for(None)
    render.write_view(plan.work / folder, everyone, plan.facts, pages, csv_url=f"{plan.csv_url}/{folder}", draw=draw)
    for segment in plan.segments:
        pages = render.pages_for(segment)
        segment_areas = [a for p in pages for a in p.areas]
        one = render.compute(source, catalog, time_range, segment_areas, segment=segment, reuse=everyone.results)
        folder = store.view_folder(ViewKey(range=label, segment=segment))
        csv_url = f"{plan.csv_url}/{folder}"
        render.write_view(plan.work / folder, one, plan.facts, pages, segment=segment, csv_url=csv_url, draw=draw)
    return {
        area: [(name, getattr(r, "title", None) or r.name) for name, r in everyone.results[area].items()]
        for area in ("funnels", "experiments")
    }
