"""Every metric family gives identical results on DuckDB and on Spark (local mode)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fawkes_analytics.catalog import Catalog, Feature
from fawkes_analytics.metrics import (
    clear_cache,
    feature_adoption,
    feedback_summary,
    lifecycle,
    retention,
    usage_trends,
    user_segments,
)

from .conftest import span

# Engagement pings after gaps of 30 minutes or more are orphans (dropped); the others keep their
# session open without counting: both Plausible rules are exercised on both engines, as are
# exit pages and time on page (usage's tables).
NAMES = (
    ["pageview"] * 6 + ["engagement"] * 2 + ["deploy_start", "run_pipeline", "view_documentation", "sign_up", "login"]
)


def parity_data() -> dict[str, pd.DataFrame]:
    """About 900 events of 40 users in March and April 2026 with gaps around 30 minutes."""
    rng = np.random.default_rng(7)
    rows = []
    for u in range(40):
        t = pd.Timestamp("2026-03-10", tz="UTC") + pd.Timedelta(hours=int(rng.integers(0, 500)))
        for _ in range(int(rng.integers(5, 40))):
            t += pd.Timedelta(
                seconds=int(rng.choice([60, 600, 1800, 1801, 7200, 86400], p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1]))
            )
            rows.append(
                {
                    "event_id": f"e{len(rows)}",
                    "timestamp": t,
                    "user_id": f"u{u}",
                    "event_name": str(rng.choice(NAMES)),
                    "page": str(rng.choice(["/", "/docs", "/pricing"])),
                    "source": rng.choice([None, "google", "github"]),
                    "utm_campaign": rng.choice([None, "spring"]),
                }
            )
    feedback = pd.DataFrame(
        {
            "user_id": [f"u{i % 40}" for i in range(60)],
            "timestamp": [pd.Timestamp("2026-03-10", tz="UTC") + pd.Timedelta(hours=11 * i) for i in range(60)],
            "score": rng.integers(0, 11, 60),
            "kind": rng.choice(["nps", "rating"], 60),
            "category": rng.choice([None, "ui", "docs"], 60),
        }
    )
    return {"events": pd.DataFrame(rows), "feedback": feedback}


CATALOG = Catalog(
    "parity.yaml",
    {
        "deploy": Feature("deploy", "Deploy", ("deploy_start",)),
        "pipelines": Feature("pipelines", "Pipelines", ("run_pipeline",)),
    },
    {},
    10.0,
    {},
)
RANGE = span("2026-03-22", "2026-04-05", tz="Europe/Berlin")  # crosses the DST change


def run_all(source) -> dict[str, object]:
    clear_cache()
    return {
        "usage": usage_trends(source, RANGE, "day").to_dict(),
        "adoption": feature_adoption(source, CATALOG, RANGE, "week").to_dict(),
        "segments": user_segments(source, CATALOG, RANGE).to_dict(),
        "retention": retention(source, RANGE, "sign_up", None, "day").to_dict(),
        "lifecycle": lifecycle(source, RANGE, "week").to_dict(),
        "feedback": feedback_summary(source, RANGE, "day").to_dict(),
    }


def normalise(value: object) -> object:
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    return value


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_agree(make_source):
    data = parity_data()
    duck = normalise(run_all(make_source(engine="duckdb", **data)))
    spark = normalise(run_all(make_source(engine="spark", **data)))
    # Sanity: the scenario is not empty, so agreement means something.
    assert duck["usage"]["visits"] > 20 and duck["segments"]["population"] > 10
    assert duck["usage"]["exit_pages"] and duck["usage"]["bounce_rate"] > 0
    assert duck["retention"]["cohorts"] and duck["feedback"]["responses"] > 0
    for family in duck:
        assert spark[family] == duck[family], family
