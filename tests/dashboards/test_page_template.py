"""The dashboards' Voilà page template, rendered the way Voilà renders it (its exporter, our
template in front of Voilà's lab template), without a server or a kernel:

- nothing in <head> blocks the first paint (no script without defer or async, no stylesheet
  that blocks rendering), so the precomputed view shows before Voilà's bundles have loaded;
- the compiled templates are shared by the pages (``dashboard/template_cache.py``): the same
  page as Voilà's own uncached exporter renders, without compiling again, and an edited
  template is compiled again.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
import support
from voila.exporter import VoilaExporter
from voila.paths import collect_template_paths

from fawkes_analytics.dashboard import server, template_cache
from fawkes_analytics.dashboard.first_paint import MARKER

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboards" / "overview.ipynb"
KERNEL_ID = "kernel-for-the-template-test"


def template_paths(ours: Path = server.VOILA_TEMPLATES / "fawkes") -> list[str]:
    """The paths the dashboard server gives Voilà (serve.py: ours in front of Voilà's lab)."""
    return [str(ours), *collect_template_paths(["voila", "nbconvert"], "lab", prune=True)]


def render(exporter_class: type, paths: list[str]) -> str:
    """The page as Voilà renders it, with Voilà's two kernel hooks standing in for a kernel:
    a kernel id, and the notebook's cells as they are (not run)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    exporter = exporter_class(template_paths=paths, template_name="lab", base_url="/", theme="light")

    async def kernel_start(_nb: object) -> str:
        return KERNEL_ID

    async def cell_generator(notebook: object, _kernel_id: str):  # noqa: ANN202 - an async generator
        for cell in notebook.cells:  # type: ignore[attr-defined]
            yield cell

    async def run() -> str:
        resources = {"base_url": "/", "theme": "light", "template": "lab", "metadata": {"name": "overview"}}
        context = {
            "frontend": "voila",
            "main_js": "voila.js",
            "kernel_start": kernel_start,
            "cell_generator": cell_generator,
            "progressive_rendering": False,
        }
        parts = [
            html
            async for html, _ in exporter.generate_from_notebook_node(
                nb,
                resources=resources | {"page_config": {}},
                extra_context=context,
                page_config={"fullStaticUrl": "/s"},
            )
        ]
        return "".join(parts)

    return support.run_async(run())


@pytest.fixture(scope="module")
def page() -> str:
    return render(VoilaExporter, template_paths())


def test_nothing_in_the_head_blocks_the_first_paint(page: str) -> None:
    head = page.split("</head>", 1)[0]
    scripts = re.findall(r"<script\b[^>]*\bsrc=[^>]*>", head)
    assert scripts, "Voilà's style script is expected in the head"
    assert all(re.search(r"\s(defer|async)\b", tag) for tag in scripts), scripts
    sheets = re.findall(r"<link\b[^>]*rel=\"stylesheet\"[^>]*>", head)
    assert len(sheets) == 2  # JupyterLab's index.css and the light theme
    assert all('media="print"' in tag and "onload=" in tag for tag in sheets), sheets
    assert "cdn.jsdelivr.net" not in page
    # The first paint's place comes before Voilà's own script, which stays at the end of the body.
    assert page.index(MARKER) < page.index('src="/s/voila.js"') < page.index("fawkes/static/dashboard.js")


def test_the_template_cache_renders_the_same_page_without_compiling_again(page: str) -> None:
    cached = template_cache.cached_exporter_class()
    template_cache.PAGE_TEMPLATES.clear()
    first = render(cached, template_paths())
    compiled = template_cache.PAGE_TEMPLATES.compiled
    assert compiled >= 5  # ours, Voilà's lab page, nbconvert's lab and base pages, their macros
    second = render(cached, template_paths())
    assert template_cache.PAGE_TEMPLATES.compiled == compiled  # every template came from the cache
    assert first == second == page  # and the page is the one Voilà's own exporter renders


def test_an_edited_template_is_compiled_again(tmp_path: Path) -> None:
    ours = tmp_path / "fawkes"
    shutil.copytree(server.VOILA_TEMPLATES / "fawkes", ours)
    cached = template_cache.cached_exporter_class()
    before = render(cached, template_paths(ours))
    compiled = template_cache.PAGE_TEMPLATES.compiled
    index = ours / "index.html.j2"
    index.write_text(
        index.read_text(encoding="utf-8").replace("{%- block footer_js -%}", "{%- block footer_js -%}<!--edited-->")
    )
    after = render(cached, template_paths(ours))
    assert "<!--edited-->" in after and "<!--edited-->" not in before
    assert template_cache.PAGE_TEMPLATES.compiled == compiled + 1  # only the edited template


def test_install_points_voila_at_the_cached_exporter() -> None:
    import voila.notebook_renderer

    template_cache.install()
    template_cache.install()  # twice: still one subclass of Voilà's exporter
    installed = voila.notebook_renderer.VoilaExporter
    assert installed.__name__ == "CachedTemplatesExporter" and installed.__base__ is VoilaExporter
