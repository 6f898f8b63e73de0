"""Helpers for the experiment tests: sufficient-statistic rows built from raw per-user arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fawkes_analytics.experiments.config import parse_metric


def stat_row(y, d=None, x=None) -> pd.Series:
    """The nine sums of ``sufficient.py`` computed directly from per-user arrays."""
    y = np.asarray(y, dtype=float)
    d = np.zeros_like(y) if d is None else np.asarray(d, dtype=float)
    x = np.zeros_like(y) if x is None else np.asarray(x, dtype=float)
    return pd.Series(
        {
            "n": len(y),
            "sum_y": y.sum(),
            "sum_y2": (y * y).sum(),
            "sum_d": d.sum(),
            "sum_d2": (d * d).sum(),
            "sum_yd": (y * d).sum(),
            "sum_x": x.sum(),
            "sum_x2": (x * x).sum(),
            "sum_yx": (y * x).sum(),
        }
    )


def metric(kind: str, **extra):
    """A parsed metric of ``kind`` (event 'e'; ratios over event 'e' / event 'f')."""
    raw = {"name": f"m_{kind}", "kind": kind, **extra}
    if kind == "ratio":
        raw.setdefault("numerator", {"event": "e", "property": "v"})
        raw.setdefault("denominator", {"event": "f"})
    else:
        raw.setdefault("event", "e")
        if kind == "sum":
            raw.setdefault("property", "v")
    return parse_metric(raw, "test.yaml", "m")
