"""Safe CSV export: UTF-8 with a header row, neutralised against formula injection.

Spreadsheets execute a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP "CSV injection"). Text cells that start so get a leading
apostrophe, which spreadsheets show as text; numeric columns are left alone, so numbers stay
numbers (a negative number is a number, not a formula).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .. import atomic

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix a text value that a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns are neutralised; numeric columns untouched."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise)
    out.columns = [str(neutralise(str(c))) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as a safe UTF-8 CSV with a header row, atomically."""
    return atomic.write_text(path, safe_frame(frame).to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z"))
