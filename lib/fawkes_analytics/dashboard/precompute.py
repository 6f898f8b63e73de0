"""Publish every default dashboard view at each refresh: named range x segment, one time zone.

After the rollup store is refreshed (``fawkes-analytics refresh``), ``publish_views`` computes,
for each named range, every area for every user, and usage and feature adoption for each
segment of the catalog (the other areas do not depend on a segment, so they are reused), in
the configured time zone (``FAWKES_ANALYTICS_DASHBOARD_TZ``), and writes each page's
fragment through ``render.write_view``: the same code a live request runs. A dashboard that
switches between these views reads one file.

Nothing is recomputed when nothing changed: the index records the basis (data as of, the
anchor of the ranges, the catalog, the time zone) and a refresh with the same basis keeps the
published views.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import catalog as catalog_module
from .. import formats, sources, timerange
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
    try:
        index = _write_all(source, catalog, tz, ranges, segments, work, facts, say)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # a failed refresh never replaces good views
        raise
    index |= {"basis": basis, "generated_at": started.isoformat(), "tz": tz}
    index["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    final = store.publish(work, index)
    say(f"dashboard views: published {final.name} in {index['seconds']} s")
    return final


def _write_all(
    source: Any,
    catalog: Any,
    tz: str,
    ranges: tuple[str, ...],
    wanted: tuple[str, ...] | None,
    work: Path,
    facts: render.ViewFacts,
    say: Progress,
) -> dict[str, Any]:
    """Every range x segment into ``work``; returns the index entries describing them."""
    segments = [rule.name for rule in parse_rules(catalog) if wanted is None or rule.name in wanted]
    pub_url = f"../../fawkes/csv/{work.name.removeprefix('.tmp-')}"
    items: dict[str, list[tuple[str, str]]] = {}
    anchor = source.default_as_of()
    for label in ranges:
        time_range = timerange.resolve(label, tz=tz, as_of=anchor)
        everyone = render.compute(source, catalog, time_range, [a for p in render.pages_for(None) for a in p.areas])
        folder = store.view_folder(ViewKey(range=label))
        render.write_view(work / folder, everyone, facts, render.pages_for(None), csv_url=f"{pub_url}/{folder}")
        for area in ("funnels", "experiments"):
            items[area] = [(name, getattr(r, "title", None) or r.name) for name, r in everyone.results[area].items()]
        for segment in segments:
            pages = render.pages_for(segment)
            segment_areas = [a for p in pages for a in p.areas]
            one = render.compute(source, catalog, time_range, segment_areas, segment=segment, reuse=everyone.results)
            folder = store.view_folder(ViewKey(range=label, segment=segment))
            render.write_view(work / folder, one, facts, pages, segment=segment, csv_url=f"{pub_url}/{folder}")
        say(f"dashboard views: {label} done ({len(segments) + 1} segments)")
    return {
        "ranges": list(ranges),
        "segments": segments,
        "items": items,
        "data_as_of": facts.data_as_of.isoformat() if facts.data_as_of else None,
        "source": facts.source,
        "demo": facts.demo,
    }
