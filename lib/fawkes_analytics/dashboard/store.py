"""Where the dashboards' views live on disk, and how a page finds the one a viewer asked for.

Each refresh publishes every default view (named range x segment, in the configured time zone)
into a publication folder, then points ``latest`` at it with one atomic symlink swap::

    <views root>/                      FAWKES_ANALYTICS_VIEWS_DIR, default <reports>/dashboards
      latest -> 20261130T120500Z
      20261130T120500Z/
        index.json                     time zone, ranges, segments, items, data as of, source
        7d/_all/overview.html          one fragment per page (and per funnel / experiment)
        7d/_all/funnels~onboarding.html
        7d/_all/csv/usage/top_pages.csv  the tables behind a fragment, written by the safe CSV writer
        7d/_all/overview.json          the results behind the fragments (Overview.to_dict())
        7d/power/usage.html
      live/<hash>/...                  views computed live for a custom request, same layout

Switching a dashboard to a precomputed view reads one fragment file. Light on purpose
(standard library and settings only): dashboard kernels import it on first paint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import settings
from .pages import ALL_USERS, Page, ViewKey

LATEST = "latest"
LIVE = "live"
ALL_FOLDER = "_all"
LIVE_KEEP_SECONDS = 3600


def views_root() -> Path:
    """``FAWKES_ANALYTICS_VIEWS_DIR``, else ``dashboards/`` in the reports folder."""
    return settings.views_dir()


def configured_tz() -> str:
    """The time zone the views are precomputed in: ``FAWKES_ANALYTICS_DASHBOARD_TZ`` (default UTC)."""
    return settings.get("DASHBOARD_TZ") or "UTC"


def view_folder(key: ViewKey) -> str:
    """'7d/_all', '30d/power': where a named range and segment live inside a publication."""
    return f"{key.range}/{key.segment or ALL_FOLDER}"


def fragment_name(page: Page, item: str = "") -> str:
    return f"{page.name}~{item}.html" if item else f"{page.name}.html"


@dataclass(frozen=True)
class Publication:
    """One published set of views: its folder and its index."""

    folder: Path
    index: dict[str, Any]

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def tz(self) -> str:
        return str(self.index.get("tz", "UTC"))

    @property
    def segments(self) -> list[str]:
        return list(self.index.get("segments", []))

    @property
    def ranges(self) -> list[str]:
        return list(self.index.get("ranges", []))

    @property
    def data_as_of(self) -> str | None:
        return self.index.get("data_as_of")

    def items(self, area: str) -> list[tuple[str, str]]:
        """(name, title) of each funnel or experiment the views hold."""
        return [(str(name), str(title)) for name, title in self.index.get("items", {}).get(area, [])]

    def covers(self, key: ViewKey) -> bool:
        """True when this publication holds ``key`` (a named range, a known segment, its zone)."""
        return (
            key.range in self.ranges
            and (key.segment == ALL_USERS or key.segment in self.segments)
            and key.tz in ("", self.tz)
        )

    def fragment(self, key: ViewKey, page: Page) -> Path | None:
        """The fragment file of ``page`` for ``key``, when it was precomputed."""
        if not self.covers(key):
            return None
        path = self.folder / view_folder(key) / fragment_name(page, key.item)
        return path if path.is_file() else None


def latest(root: Path | None = None) -> Publication | None:
    """The latest publication, or None when nothing has been published yet."""
    link = Path(root or views_root()) / LATEST
    try:
        folder = link.resolve(strict=True)
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Publication(folder, index)


def latest_id(root: Path | None = None) -> str | None:
    """The id of the latest publication (one symlink read)."""
    try:
        return os.readlink(Path(root or views_root()) / LATEST)
    except OSError:
        return None


def live_folder(key: ViewKey, page: Page, basis: str, root: Path | None = None) -> Path:
    """Where a live view of ``key`` for ``page`` goes (one folder per request and data basis)."""
    digest = hashlib.sha256(f"{page.name}|{key.query()}|{basis}".encode()).hexdigest()[:20]
    return Path(root or views_root()) / LIVE / digest


def new_publication(root: Path | None = None) -> Path:
    """A fresh, hidden work folder for the next publication."""
    base = Path(root or views_root())
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    work = base / f".tmp-{stamp}"
    work.mkdir()
    return work


def publish(work: Path, index: dict[str, Any], keep: int = 2) -> Path:
    """Write the index, rename the work folder into place, point ``latest`` at it, prune old ones.

    Readers holding an older publication keep reading it: the ``keep`` newest stay on disk.
    """
    (work / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True), encoding="utf-8")
    base = work.parent
    final = base / work.name.removeprefix(".tmp-")
    os.rename(work, final)
    temporary = base / f".latest-{final.name}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(final.name, target_is_directory=True)
    os.replace(temporary, base / LATEST)
    published = sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink() and p.name[0].isdigit())
    for old in published[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    prune_live(base)
    return final


def prune_live(root: Path, keep_seconds: float = LIVE_KEEP_SECONDS) -> None:
    """Remove live views older than ``keep_seconds``."""
    live = root / LIVE
    if not live.is_dir():
        return
    cutoff = time.time() - keep_seconds
    for folder in live.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it stays inside ``root`` (no '..', no symlink escape), else None."""
    base = Path(root).resolve()
    try:
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return path if path.is_file() and path.is_relative_to(base) else None
