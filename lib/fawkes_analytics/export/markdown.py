"""The ``markdown`` output: report.md, the report's headline numbers as a Markdown table.

For a chat message or a wiki page: the title, the range and data freshness, then one row per
KPI, grouped by area, worded exactly as the report's tiles and the email (``formats``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import areas, atomic, formats
from ..kpi import Kpi
from ..templates import render_text


def write_markdown(folder: Path, payload: Mapping[str, Any]) -> list[Path]:
    """Write ``report.md`` into the run folder from its data.json payload."""
    kpis = [Kpi.from_dict(kpi, name) for name, kpi in (payload.get("kpis") or {}).items()]
    groups = [
        (title or "Key numbers", [formats.kpi_view(k) for k in members]) for title, members in areas.grouped(kpis)
    ]
    title = payload.get("title") or "Report"
    text = render_text("export/report.md.j2", title=title, facts=formats.published_facts(payload), groups=groups)
    return [atomic.write_text(folder / "report.md", text)]
