"""The one CSV writer: reports, dashboard downloads and email attachments all go through here.

Two attacks are closed:

- **Formula injection** (OWASP "CSV injection"): spreadsheets run a cell that starts with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula. Text cells (and header
  names) that start so get a leading apostrophe, which spreadsheets show as text; numeric
  columns are left alone, so numbers stay numbers (a negative number is a number, not a
  formula).
- **Row splitting**: every cell that contains the separator, a quote, a carriage return or a
  line feed is quoted (RFC 4180, quotes doubled). A bare carriage return inside a cell
  would otherwise end the row in a spreadsheet and start the next one with the attacker's
  text. Rows end with CRLF, as RFC 4180 and Excel write them.

The full value is always kept: nothing is truncated here (labels are shortened only where
they are shown, see ``labels.py``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from .. import atomic

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


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


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as safe CSV text: a header row, neutralised text, quoted where needed, CRLF rows."""
    # The csv module quotes a cell holding any character of the line terminator, so with CRLF
    # both a lone CR and a lone LF are quoted (with "\n" alone a CR would go out bare).
    return safe_frame(frame).to_csv(
        index=False, date_format=DATE_FORMAT, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n"
    )


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as a safe UTF-8 CSV with a header row, atomically."""
    return atomic.write_text(path, csv_text(frame))
