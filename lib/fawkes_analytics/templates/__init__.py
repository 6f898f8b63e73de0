"""Every piece of HTML the project shows comes from a Jinja2 template in this folder.

- ``parts/``: report parts shared by reports and dashboards (header, KPI tiles, tables,
  banners, the experiment verdict and diagnostics, the table of contents);
- ``dashboard/``: dashboard fragments (sections, download and report links);
- ``email/``: the report email, HTML (inline styles: mail clients drop ``<style>``) and text;
- ``nbconvert/fawkes/``: the nbconvert template of the report page (HTML and PDF);
- ``fawkes.css``: the one stylesheet.

Autoescaping is on for every HTML template: page names, experiment names and messages come
from users and never become markup. Only ``Html`` values (markup rendered by these
templates) pass through unescaped. Light on purpose: Jinja2 only, no pandas.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .. import formats
from ..labels import shorten

FOLDER = Path(__file__).parent
NBCONVERT_TEMPLATES = FOLDER / "nbconvert"


class Html:
    """A piece of HTML that Jupyter, Voilà and nbconvert render as rich output."""

    def __init__(self, markup: str) -> None:
        self.markup = str(markup)

    def _repr_html_(self) -> str:
        return self.markup

    def __html__(self) -> str:  # inside another template: already markup, not text
        return self.markup

    def __str__(self) -> str:
        return self.markup

    def __add__(self, other: Html) -> Html:
        return Html(self.markup + str(other))


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment, with the shared formats as filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(FOLDER)),
        autoescape=jinja2.select_autoescape(["html", "html.j2", "css"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters |= {
        "value": formats.value,
        "duration": formats.duration,
        "when": formats.when,
        "shorten": shorten,
    }
    env.globals |= {"tone_colours": formats.TONE_COLOURS}
    return env


def render(name: str, **context: Any) -> Html:
    """Render the template ``name`` (a path under this folder) as ``Html``."""
    return Html(environment().get_template(name).render(**context))


def render_text(name: str, **context: Any) -> str:
    """Render a plain-text template (no escaping: the email's text part)."""
    text_env = environment().overlay(autoescape=False)
    return text_env.get_template(name).render(**context)


@cache
def stylesheet() -> str:
    """The project's CSS (fawkes.css), with the tone colours of ``formats``."""
    return str(environment().get_template("fawkes.css").render())


def style_tag() -> Html:
    """The stylesheet as a ``<style>`` element, for output shown outside the report page."""
    return Html(Markup("<style>{}</style>").format(Markup(stylesheet())))
