"""Render an executed report notebook as a code-free HTML page, and that page as PDF.

The HTML keeps every output (KPI tiles, tables, charts embedded as data URIs, so the file
can be mailed or archived alone) and drops code, prompts, the parameters cells and anything
a cell printed to stderr. A table of contents links the notebook's section headings. The
page is the project's nbconvert template (``templates/nbconvert/fawkes``): Jupyter Lab's
page without scripts from the network, printed on A4 by default
(``FAWKES_ANALYTICS_PDF_PAGE_SIZE``: A3, A4, A5, letter or legal), with page numbers and
headings kept with what follows them (``templates/fawkes.css``).
PDF comes from the same HTML through headless Chromium (Debian's ``chromium`` package).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

from . import settings
from .errors import ConfigError
from .templates import NBCONVERT_TEMPLATES, render

PAGE_SIZE_ENV = "FAWKES_ANALYTICS_PDF_PAGE_SIZE"
PAGE_SIZES = ("A4", "A3", "A5", "letter", "legal")
HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-pdf-header-footer",
)


class DropStderr(Preprocessor):
    """Remove what cells wrote to stderr (warnings, progress bars): readers never need it."""

    def preprocess_cell(self, cell, resources, index):  # noqa: ANN001, ANN201 - nbconvert's signature
        if cell.get("cell_type") == "code":
            cell.outputs = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
        return cell, resources


def heading_anchor(text: str) -> str:
    """The id nbconvert gives a markdown heading (spaces become hyphens)."""
    return text.strip().replace(" ", "-")


def table_of_contents(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(level, text) of the level-2 and level-3 headings of the markdown cells."""
    entries = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            stripped = line.strip()
            for level in (2, 3):
                marker = "#" * level + " "
                if stripped.startswith(marker):
                    entries.append((level, stripped[len(marker) :].strip()))
    return entries


def _toc_cell(entries: list[tuple[int, str]]) -> nbformat.NotebookNode:
    listed = [{"level": level, "text": text, "anchor": heading_anchor(text)} for level, text in entries]
    markup = str(render("parts/toc.html.j2", entries=listed))
    return nbformat.v4.new_code_cell(source="", outputs=[nbformat.v4.new_output("display_data", {"text/html": markup})])


def page_size(configured: str | None = None) -> str:
    """The printed page size: ``configured``, else ``$FAWKES_ANALYTICS_PDF_PAGE_SIZE``, else A4."""
    raw = (configured or settings.get("PDF_PAGE_SIZE") or "A4").strip()
    for size in PAGE_SIZES:
        if raw.lower() == size.lower():
            return size
    raise ConfigError("environment", PAGE_SIZE_ENV, f"{raw!r} is not allowed (allowed: {', '.join(PAGE_SIZES)})")


def render_html(notebook_path: str | Path, html_path: str | Path, title: str, paper: str | None = None) -> Path:
    """Write the code-free HTML report of an executed notebook (printed on ``paper``, default A4)."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    entries = table_of_contents(notebook)
    if entries:
        position = next(
            (
                i + 1
                for i, c in enumerate(notebook.cells)
                if c.cell_type == "code" and "fwk-header" in str(c.get("outputs", ""))
            ),
            0,
        )
        notebook.cells.insert(position, _toc_cell(entries))
    exporter = HTMLExporter(
        template_name="fawkes",
        extra_template_basedirs=[str(NBCONVERT_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=HIDDEN_TAGS), enabled=True)
    exporter.register_preprocessor(DropStderr(), enabled=True)
    resources = {"metadata": {"name": title}, "fawkes": {"page_size": page_size(paper)}}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    html_path = Path(html_path)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_pdf(html_path: str | Path, pdf_path: str | Path, timeout: float = 120) -> Path:
    """Print the HTML report to PDF with headless Chromium."""
    browser = chromium_path()
    if not browser:
        raise RuntimeError("PDF output needs Debian's chromium package (apt-get install chromium)")
    pdf_path = Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory(prefix="fawkes-chromium-") as profile:
        command = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf_path}",
            Path(html_path).resolve().as_uri(),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RuntimeError(f"chromium did not write {pdf_path.name}: {completed.stderr.strip()[-500:]}")
    return pdf_path
