"""Voilà dashboards for stakeholders: precomputed views on first paint, live work on demand.

A dashboard notebook is two lines::

    from fawkes_analytics.dashboard import show
    show("overview")

- ``pages``: the dashboards (title, description, areas, controls) and a view's URL state;
- ``store``: where published views live, and finding the one a viewer asked for;
- ``page``: the page in the kernel (ipywidgets): first paint reads a file, light imports only;
- ``render``: compute a view and write its fragments (shared by the refresh and live requests);
- ``precompute``: publish every named range x segment at each refresh;
- ``live``: a view nobody precomputed, computed in the viewer's kernel with stages and cancel.

Importing this package is light: ``show`` and the page load ipywidgets and the standard
library; ``render``, ``precompute`` and ``live`` load the analytics stack when they are used.
"""

from __future__ import annotations

from typing import Any

from .pages import NAMED_RANGES, PAGES, Page, ViewKey

__all__ = ["NAMED_RANGES", "PAGES", "DashboardPage", "Page", "ViewKey", "show"]


def __getattr__(name: str) -> Any:
    if name in ("show", "DashboardPage"):
        from . import page

        return getattr(page, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
