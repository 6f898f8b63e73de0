"""Sample ratio mismatch: chi-square goodness of fit of users per variant against the split.

A mismatch (p below the threshold, 0.001 by default as in GrowthBook) means assignment or
tracking is broken, so every other number is suspect; reports show this status first.

The check runs over every observed variant. A variant that is not in the plan has a planned
share of 0, so a single user in it is impossible under the plan: the check then reports a
mismatch with p = 0 (the chi-square term ``(observed - 0)^2 / 0`` is infinite) and names the
unknown variants and their users. Without unknown variants it is SciPy's ``chisquare`` of
the planned variants (gbstats ``check_srm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OK, MISMATCH, NOT_ENOUGH_DATA = "ok", "mismatch", "not enough data"


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
    unknown: dict[str, int] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return self.status == MISMATCH


def srm_check(
    observed: dict[str, int],
    split: dict[str, float],
    threshold: float = 0.001,
    unknown: dict[str, int] | None = None,
) -> SRMResult:
    """Chi-square goodness of fit of users per variant against ``split`` (unknown variants: share 0)."""
    unknown = {v: int(n) for v, n in (unknown or {}).items() if n > 0}
    variants = list(split)
    counts = np.array([observed.get(v, 0) for v in variants], dtype=float)
    total = counts.sum() + sum(unknown.values())
    shares = np.array([split[v] for v in variants], dtype=float)
    expected = shares / shares.sum() * total
    exp_map = {v: float(e) for v, e in zip(variants, expected, strict=True)} | {v: 0.0 for v in unknown}
    obs_map = {v: int(c) for v, c in zip(variants, counts, strict=True)} | unknown
    if total == 0:
        return SRMResult(NOT_ENOUGH_DATA, None, None, obs_map, exp_map, threshold, "No users assigned yet.")
    observed_txt = ", ".join(
        f"{v} {obs_map[v]:,} ({obs_map[v] / total:.1%}, planned {split.get(v, 0.0):.1%})" for v in obs_map
    )
    if unknown:
        users = sum(unknown.values())
        listed = ", ".join(f"'{v}' {n:,}" for v, n in unknown.items())
        return SRMResult(
            MISMATCH,
            0.0,
            None,
            obs_map,
            exp_map,
            threshold,
            f"Sample ratio mismatch: {users:,} user{'s' if users != 1 else ''} in variants that are not in the plan "
            f"({listed}), which the plan gives a share of 0 (chi-square p = 0): {observed_txt}. "
            "Assignment or tracking is broken; do not trust the results below.",
            unknown,
        )
    from scipy import stats  # SciPy loads with the first check, not with every reader of a result

    chi2, p = stats.chisquare(counts, expected)
    if p < threshold:
        return SRMResult(
            MISMATCH,
            float(p),
            float(chi2),
            obs_map,
            exp_map,
            threshold,
            f"Sample ratio mismatch (chi-square p = {p:.2g} < {threshold:g}): {observed_txt}. "
            "Assignment or tracking is broken; do not trust the results below.",
        )
    return SRMResult(
        OK,
        float(p),
        float(chi2),
        obs_map,
        exp_map,
        threshold,
        f"No sample ratio mismatch (p = {p:.3g}): {observed_txt}.",
    )
