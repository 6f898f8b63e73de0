"""Materialise an intermediate table for the few queries that read it, then let it go."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ibis.expr.types as ir

from ..rollups.engines import cache


@contextmanager
def materialised(table: ir.Table) -> Iterator[ir.Table]:
    """``table`` computed once in the engine (a temp table on DuckDB, a cached frame on Spark).

    Use it when several small queries read one expensive expression, such as the per-user
    activity that every segment figure comes from; the table is released on exit.
    """
    cached = cache(table)
    try:
        yield cached
    finally:
        cached.release()
