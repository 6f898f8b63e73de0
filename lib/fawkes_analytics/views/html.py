"""HTML pieces every page is made of: KPI tiles, tables, banners, sections, inline figures.

Reports, dashboards and the overview all build their pages from these, through the Jinja2
templates of ``templates/parts``: one look, one escaping rule (every string from data is
escaped), one rounding rule (``columns.cell`` and ``formats.kpi_view``).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import formats
from ..columns import Column, cell, column_of
from ..kpi import Kpi
from ..templates import Html, render


def tiles(kpis: Iterable[Kpi]) -> Html:
    """KPI tiles: label, value and the change against the previous period, coloured by direction."""
    return render("parts/kpi_tiles.html.j2", kpis=[formats.kpi_view(k) for k in kpis])


def table_columns(
    frame: pd.DataFrame, shown: Sequence[str] = (), labels: Mapping[str, str | Column] | None = None
) -> dict[str, Column]:
    """The columns to show (``shown``, else all) with their labels and formats.

    ``labels`` overrides a column's label (a string) or its label and format (a ``Column``).
    """
    names = [c for c in shown if c in frame.columns] if shown else [str(c) for c in frame.columns]
    out = {}
    for name in names:
        spec = column_of(name, frame[name])
        override = (labels or {}).get(name)
        out[name] = override if isinstance(override, Column) else Column(override, spec.format) if override else spec
    return out


def table(
    frame: pd.DataFrame,
    shown: Sequence[str] = (),
    labels: Mapping[str, str | Column] | None = None,
    *,
    max_rows: int | None = 20,
    tz: str = "UTC",
) -> Html:
    """An escaped table with human column labels, every cell rounded like the KPI tiles.

    Long text is shortened (the CSV keeps it whole); ``max_rows`` None shows every row.
    """
    specs = table_columns(frame, shown, labels)
    data = frame.head(max_rows) if max_rows else frame
    formats_ = [spec.format for spec in specs.values()]
    rows = [
        [cell(value, fmt, tz) for value, fmt in zip(record, formats_, strict=True)]
        for record in data[list(specs)].itertuples(index=False)
    ]
    return render("parts/table.html.j2", columns=list(specs.values()), rows=rows, shown=len(data), total=len(frame))


@dataclass(frozen=True)
class Banner:
    """A coloured line above the content: demo (yellow), warn (red), note (blue), ok, infobox, error."""

    kind: str
    text: str


def banner(kind: str, text: str) -> Html:
    return render("parts/banner.html.j2", banner=Banner(kind, text))


def text(words: str) -> Html:
    """A short grey sentence (a note under a heading, 'no data in this period')."""
    return render("parts/text.html.j2", text=words)


def section(title: str, body: Html | str, level: int = 2) -> Html:
    """A titled section of a dashboard page."""
    return render("dashboard/section.html.j2", title=title, body=Html(str(body)), level=level)


def figure(figure: Any, alt: str, dpi: int = 96) -> Html:
    """A matplotlib figure as an inline PNG (no file, no extra request), then closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(figure)
    return render("parts/figure.html.j2", alt=alt, data=base64.b64encode(buffer.getvalue()).decode("ascii"))


def join(pieces: Iterable[Html | str]) -> Html:
    return Html("".join(str(p) for p in pieces))
