"""Multiple-testing adjustment across variants and metrics: Holm-Bonferroni or Benjamini-Hochberg.

Adjusted p-values exactly as statsmodels' ``multipletests`` ('holm', 'fdr_bh'; the tests
compare them), written out because ``multipletests`` runs a full ``gc.collect()`` on every
call (about 90 ms), which the daily timeline would pay dozens of times. None entries (tests
that could not run) are skipped and stay None.
"""

from __future__ import annotations

import numpy as np


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error rate)."""
    m = len(p)
    order = np.argsort(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate)."""
    m = len(p)
    order = np.argsort(p)[::-1]
    stepped = np.minimum.accumulate(p[order] * m / np.arange(m, 0, -1))
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def adjust(p_values: list[float | None], method: str = "holm") -> list[float | None]:
    """Adjust the p-values with ``method`` ('holm', 'bh' or 'none'), keeping None in place."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = list(p_values)
    if not idx or method == "none":
        return out
    values = np.array([p_values[i] for i in idx], dtype=float)
    adjusted = holm(values) if method == "holm" else benjamini_hochberg(values)
    for i, v in zip(idx, adjusted, strict=True):
        out[i] = float(v)
    return out
