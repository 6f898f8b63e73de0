"""Multiple-testing adjustment: Holm-Bonferroni or Benjamini-Hochberg (statsmodels ``multipletests``).

None entries (tests that could not run) stay None and are left out of the family.
"""

from __future__ import annotations

from statsmodels.stats.multitest import multipletests

METHODS = {"holm": "holm", "bh": "fdr_bh"}


def adjust(p_values: list[float | None], method: str = "holm") -> list[float | None]:
    """Adjust the p-values with ``method`` ('holm', 'bh' or 'none'), keeping None in place."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = list(p_values)
    if not idx or method == "none":
        return out
    adjusted = multipletests([p_values[i] for i in idx], method=METHODS[method])[1]
    for i, value in zip(idx, adjusted, strict=True):
        out[i] = float(value)
    return out
