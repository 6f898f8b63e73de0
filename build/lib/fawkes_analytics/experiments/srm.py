"""Sample ratio mismatch: chi-square goodness of fit of users per variant against the split.

A mismatch (p below the threshold, 0.001 by default as in GrowthBook) means assignment or
tracking is broken, so every other number is suspect; reports show this status first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class SRMResult:
    """Status 'ok', 'mismatch' or 'not enough data', with the test and a sentence for reports."""

    status: str
    p_value: float | None
    chi2: float | None
    observed: dict[str, int]
    expected: dict[str, float]
    threshold: float
    message: str

    @property
    def flagged(self) -> bool:
        return self.status == "mismatch"


def srm_check(observed: dict[str, int], split: dict[str, float], threshold: float = 0.001) -> SRMResult:
    """Chi-square goodness of fit of ``observed`` users per variant against ``split`` shares."""
    variants = list(split)
    counts = np.array([observed.get(v, 0) for v in variants], dtype=float)
    total = counts.sum()
    shares = np.array([split[v] for v in variants], dtype=float)
    expected = shares / shares.sum() * total
    exp_map = {v: float(e) for v, e in zip(variants, expected, strict=True)}
    obs_map = {v: int(c) for v, c in zip(variants, counts, strict=True)}
    if total == 0:
        return SRMResult("not enough data", None, None, obs_map, exp_map, threshold, "No users assigned yet.")
    chi2, p = stats.chisquare(counts, expected)
    observed_txt = ", ".join(f"{v} {obs_map[v]:,} ({obs_map[v] / total:.1%}, planned {split[v]:.1%})" for v in variants)
    if p < threshold:
        return SRMResult(
            "mismatch",
            float(p),
            float(chi2),
            obs_map,
            exp_map,
            threshold,
            f"Sample ratio mismatch (chi-square p = {p:.2g} < {threshold:g}): {observed_txt}. "
            "Assignment or tracking is broken; do not trust the results below.",
        )
    return SRMResult(
        "ok",
        float(p),
        float(chi2),
        obs_map,
        exp_map,
        threshold,
        f"No sample ratio mismatch (p = {p:.3g}): {observed_txt}.",
    )
