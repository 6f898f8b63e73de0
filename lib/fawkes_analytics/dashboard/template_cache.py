"""Voilà's page templates compiled once per server process, not once per page view.

Voilà builds a new ``VoilaExporter`` for every page it renders (a viewer's page and every
preheated kernel's), and each exporter makes a new Jinja environment that parses and compiles
the whole template chain again: our ``templates/voila/fawkes``, Voilà's lab page, nbconvert's
lab and base templates and their macros. That is the same work every time, and about a quarter
of the server's busy time in a rush of viewers.

Jinja's own remedy is a bytecode cache shared by the environments (``Environment.bytecode_cache``):
a template is compiled once and later environments load the compiled code (here the code
objects, kept in memory). Each entry is keyed
by the template's name and file and checked against the checksum of its source, so an edited
template is compiled again; the environment's flavour (async or not, extensions) is part of the
key too, since the compiled code depends on it. Each environment still gets its own filters
and globals (some are bound to the exporter of that page): only the compiling is shared.

The patch point is one name: ``install()`` puts ``CachedTemplatesExporter`` where
``voila.notebook_renderer`` looks up ``VoilaExporter`` (Voilà 0.5). ``fawkes_analytics.serve``
calls it when the server starts.
"""

from __future__ import annotations

import threading
from types import CodeType
from typing import Any

import jinja2


class InMemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates (Python code objects) in a dict, for the life of the process.

    The code objects themselves are kept, not their marshalled bytes (Jinja's file and memcached
    caches need bytes): loading one is a dict lookup. A code object is immutable, so the pages
    can share it; each environment still runs it into a template of its own.
    """

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}  # bucket key -> (source checksum, code)
        self._lock = threading.Lock()
        self.compiled = 0  # templates compiled (missed) since the start, for tests and logs

    def get_bucket(self, environment: jinja2.Environment, name: str, filename: str | None, source: str) -> Any:
        flavour = f"{name}|async={environment.is_async}|{','.join(sorted(environment.extensions))}"
        return super().get_bucket(environment, flavour, filename, source)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            entry = self._code.get(bucket.key)
        if entry is not None and entry[0] == bucket.checksum:  # an edited source has another checksum
            bucket.code = entry[1]

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.code is None:
            return
        with self._lock:
            self._code[bucket.key] = (bucket.checksum, bucket.code)
            self.compiled += 1

    def clear(self) -> None:
        with self._lock:
            self._code.clear()


PAGE_TEMPLATES = InMemoryBytecodeCache()


def cached_exporter_class() -> type:
    """``VoilaExporter`` whose Jinja environments share ``PAGE_TEMPLATES``."""
    from voila.exporter import VoilaExporter

    class CachedTemplatesExporter(VoilaExporter):
        @property
        def environment(self) -> jinja2.Environment:
            environment = super().environment  # Voilà's: async, with jinja2.ext.do
            environment.bytecode_cache = PAGE_TEMPLATES
            return environment

    return CachedTemplatesExporter


def install() -> None:
    """Make Voilà's page renderer use ``CachedTemplatesExporter`` (idempotent)."""
    import voila.notebook_renderer

    if not getattr(voila.notebook_renderer.VoilaExporter, "_fawkes_cached", False):
        exporter = cached_exporter_class()
        exporter._fawkes_cached = True  # type: ignore[attr-defined]
        voila.notebook_renderer.VoilaExporter = exporter
