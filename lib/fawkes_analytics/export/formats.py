"""Export formats beyond the built-in outputs (html, pdf, csv, json), keyed by name.

A run asks for outputs by name (``run_report(..., outputs=("html", "json", "<name>"))``, or a
schedule's ``outputs``); after the notebook ran and the HTML was rendered, each registered
format named there writes its files into the run folder from what the report published
(``data.json``: title, KPIs, tables, results). A failing exporter fails the run, so a half
export is never published. docs/extending.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ParameterError

BUILT_IN = ("html", "pdf", "csv", "json")


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its name and the function that writes its files into a run folder."""

    name: str
    description: str
    write: Callable[[Path, Mapping[str, Any]], list[Path]]  # (run folder, data.json) -> files written


def _markdown(folder: Path, payload: Mapping[str, Any]) -> list[Path]:
    from .markdown import write_markdown

    return write_markdown(folder, payload)


# The export formats a run can ask for besides the built-in outputs: one entry each.
_FORMATS: dict[str, ExportFormat] = {
    "markdown": ExportFormat("markdown", "report.md: the headline numbers as a Markdown table", _markdown),
}


def register(export_format: ExportFormat) -> ExportFormat:
    """Make ``export_format`` available as an output name in this process (its name must be new).

    Formats of the project belong in ``_FORMATS`` above; this is for code that embeds the library.
    """
    if export_format.name in BUILT_IN or export_format.name in _FORMATS:
        raise ParameterError("outputs", f"the output {export_format.name!r} exists already", names())
    _FORMATS[export_format.name] = export_format
    return export_format


def unregister(name: str) -> None:
    _FORMATS.pop(name, None)


def names() -> tuple[str, ...]:
    """Every output name a run accepts: the built-in ones, then the registered formats."""
    return (*BUILT_IN, *_FORMATS)


def write(outputs: Iterable[str], folder: Path, payload: Mapping[str, Any]) -> list[Path]:
    """Let every registered format named in ``outputs`` write its files into ``folder``."""
    written: list[Path] = []
    for name in outputs:
        if name in _FORMATS:
            written += _FORMATS[name].write(folder, payload)
    return written
