"""Keep one optional, slow import out of every process that reads notebooks.

jsonschema (pulled in by nbformat, Papermill and nbconvert) imports ``rfc3987_syntax``
whenever it is installed (jupyter-events installs it), and that module compiles 38 Lark
grammars at import time: 1.3 CPU-seconds in each of a run's processes, about a quarter of a
report run. It only serves the "iri" and "iri-reference" formats, which neither our schemas
nor nbformat's use. Marking it absent (``None`` in ``sys.modules`` makes ``import`` raise
ImportError, which jsonschema expects for optional checkers) keeps every other check.
"""

from __future__ import annotations

import sys

SKIPPED = ("rfc3987_syntax",)


def skip_slow_optional_imports() -> None:
    """Mark the modules of ``SKIPPED`` absent unless something already imported them."""
    for name in SKIPPED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
