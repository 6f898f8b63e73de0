"""The reference for bench_rollups.py: the same work in plain pandas, as a data scientist writes it.

Usage trends (30-minute sessions, bounce rate, visit duration, daily active users), feature
adoption and the ordered onboarding funnel over the whole data span, from the demo DuckDB
file: read the columns into pandas, then groupby / shift / cumsum / merge_asof.
"""

from __future__ import annotations

import duckdb
import pandas as pd

FEATURES = {
    "deploy_application": ["deploy_start"],
    "create_service": ["review_and_create"],
    "view_documentation": ["view_documentation"],
    "run_pipeline": ["run_pipeline"],
    "configure_monitoring": ["configure_monitoring"],
}
ONBOARDING = ["sign_up", "profile_setup", "first_template", "first_deployment"]
WINDOW = pd.Timedelta(days=14)


def usage_adoption_funnel(path: str) -> dict[str, float]:
    con = duckdb.connect(path, read_only=True)
    events = con.sql("SELECT user_id, timestamp, event_name, page FROM events").df()
    con.close()

    # Sessions: a new one after 30 minutes of inactivity (engagement events only keep it alive).
    events = events.sort_values(["user_id", "timestamp"], kind="stable")
    gap = events.groupby("user_id")["timestamp"].diff()
    events["session"] = (gap.isna() | (gap > pd.Timedelta(minutes=30))).cumsum()
    counted = events[events["event_name"] != "engagement"]
    sessions = counted.groupby("session").agg(
        start=("timestamp", "min"),
        end=("timestamp", "max"),
        pageviews=("event_name", lambda names: (names == "pageview").sum()),
        events=("event_name", "size"),
    )
    bounce_rate = 100 * ((sessions["pageviews"] == 1) & (sessions["events"] == 1)).mean()
    duration = (sessions["end"] - sessions["start"]).dt.total_seconds().mean()
    daily_active = events.groupby(events["timestamp"].dt.date)["user_id"].nunique()

    # Adoption: share of active users who used each feature.
    active = events["user_id"].nunique()
    adoption = {
        feature: 100 * events.loc[events["event_name"].isin(names), "user_id"].nunique() / active
        for feature, names in FEATURES.items()
    }

    # Ordered funnel: from each user's first sign-up, each next step after the previous one,
    # all within 14 days of the first step.
    reached = events[events["event_name"] == ONBOARDING[0]].groupby("user_id")["timestamp"].min().rename("t1")
    frame = reached.reset_index()
    counts = [len(frame)]
    previous = "t1"
    for k, step in enumerate(ONBOARDING[1:], start=2):
        hits = events[events["event_name"] == step][["user_id", "timestamp"]].sort_values("timestamp")
        frame = frame.sort_values(previous)
        merged = pd.merge_asof(
            frame.dropna(subset=[previous]),
            hits.rename(columns={"timestamp": f"t{k}"}),
            left_on=previous,
            right_on=f"t{k}",
            by="user_id",
            direction="forward",
            allow_exact_matches=False,
        )
        merged.loc[merged[f"t{k}"] - merged["t1"] > WINDOW, f"t{k}"] = pd.NaT
        frame = merged
        counts.append(int(frame[f"t{k}"].notna().sum()))
        previous = f"t{k}"
    return {
        "sessions": float(len(sessions)),
        "bounce_rate": float(bounce_rate),
        "visit_duration": float(duration),
        "days": float(len(daily_active)),
        "adoption_run_pipeline": float(adoption["run_pipeline"]),
        "funnel_completed": float(counts[-1]),
    }
