"""The first paint of a dashboard, served in the page's HTML before any widget or kernel is up.

Voilà shows a notebook's outputs only once its front end (JavaScript bundles, the widget
manager, the kernel's websocket) is running: seconds after the HTML arrived. The precomputed
view a viewer asked for is a file, so the server puts it straight into the page it sends:
the template (``templates/voila/fawkes``) leaves ``MARKER`` where it belongs, and the page
handler (``server.py``) replaces it with ``first_paint(notebook, query)``: the navigation,
the view's state in words and the fragment the kernel will show. When the kernel's widgets
are on screen the page script (``templates/static/dashboard.js``) removes it, and the
controls take over. The same fragment file, so the numbers are the ones the widgets show.

Light on purpose (standard library, settings and Jinja2): the server calls it per request.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ..templates import Html, render, style_tag
from . import store
from .pages import ALL_USERS, CUSTOM, PAGES, ViewKey

MARKER = "<!--fawkes-first-paint-->"


def navigation(current: str, key: ViewKey, origin: str, *, state: bool = True) -> Html:
    """The bar above every page: home, every dashboard (keeping the view), the view's state.

    ``state`` adds the element the page script reads to put the view in the address bar
    (the widgets' copy only: the first paint leaves the address as the viewer typed it).
    """
    links = [(p.name, p.title, f"./{p.notebook}?{key.for_page(p).query()}") for p in PAGES.values()]
    return render(
        "dashboard/nav.html.j2",
        links=links,
        current=current,
        query=key.query(),
        origin=origin,
        state=state,
        style=style_tag(),
    )


def first_paint(notebook: str, query: str, root: object = None) -> str:
    """The precomputed view ``query`` asks for on the dashboard ``notebook``, as HTML; "" when
    nothing was published for it (a custom range, another time zone): the kernel paints it then."""
    page = PAGES.get(PurePosixPath(notebook or "").stem)
    if page is None:
        return ""
    publication = store.latest(root)  # type: ignore[arg-type]
    if publication is None:
        return ""
    key = ViewKey.from_query(query).for_page(page)
    fragment = publication.fragment(key, page)
    if fragment is None:
        return ""
    state = [("Range", key.range)] if "range" in page.controls and key.range != CUSTOM else []
    if "segment" in page.controls:
        state.append(
            ("Segment", key.segment.replace("_", " ").capitalize() if key.segment != ALL_USERS else "All users")
        )
    state.append(("Time zone", key.tz or publication.tz))
    return str(
        render(
            "dashboard/first_paint.html.j2",
            nav=navigation(page.name, key, "precomputed", state=False),
            state=state,
            body=Html(fragment.read_text(encoding="utf-8")),
        )
    )
