"""Pictures of what people see, kept as test artifacts (test-artifacts/, git-ignored).

HTML pages are photographed whole by Debian's Chromium through Playwright, in a thread of
their own (a session-wide Playwright of the dashboard tests may hold this thread's loop);
PDF pages are rasterised with PDFium, which also reads each page's size and text.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def screenshot(page: Path, png: Path, width: int = 1200) -> Path:
    """A full-page PNG of the HTML file ``page``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_screenshot, page, png, width).result(timeout=120)
    return png


def _screenshot(page: Path, png: Path, width: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            tab = browser.new_page(viewport={"width": width, "height": 900})
            tab.goto(page.resolve().as_uri())
            tab.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()


@dataclass(frozen=True)
class PdfPage:
    width_pt: float
    height_pt: float
    text: str
    png: Path


TEXT, IMAGE = 1, 3  # PDFium page object types
FOOTER_PT = 60  # the bottom margin holds the page number


def stranded_headings(pdf: Path, headings: set[str]) -> list[tuple[int, str]]:
    """(page, heading) for every heading with nothing (text or picture) under it on its page.

    The contents page (it lists every heading, and ends the page by design) is left out.
    """
    import pypdfium2 as pdfium

    stranded = []
    document = pdfium.PdfDocument(str(pdf))
    try:
        for number, page in enumerate(document, 1):
            text = page.get_textpage()
            if "Contents" in text.get_text_range().splitlines():
                continue
            content = [o.get_bounds() for o in page.get_objects(max_depth=3) if o.type in (TEXT, IMAGE)]
            for heading in headings:
                found = text.search(heading, match_case=True, match_whole_word=True).get_next()
                if found is None:
                    continue
                bottom = min(text.get_charbox(i)[1] for i in range(found[0], found[0] + found[1]))
                if not any(FOOTER_PT < top < bottom - 2 for _, _, _, top in content):
                    stranded.append((number, heading))
    finally:
        document.close()
    return stranded


def pdf_pages(pdf: Path, prefix: Path) -> list[PdfPage]:
    """Each page of ``pdf``: its size in points, its text, and a PNG ``<prefix>-p<N>.png``."""
    import pypdfium2 as pdfium

    prefix.parent.mkdir(parents=True, exist_ok=True)
    pages = []
    document = pdfium.PdfDocument(str(pdf))
    try:
        for number, page in enumerate(document, 1):
            width, height = page.get_size()
            png = prefix.parent / f"{prefix.name}-p{number}.png"
            page.render(scale=1.5).to_pil().save(png)
            pages.append(PdfPage(width, height, page.get_textpage().get_text_range(), png))
    finally:
        document.close()
    return pages
